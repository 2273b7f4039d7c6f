"""The rule-level diff: settings, rules added/removed/changed field by field, order, loosening."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.lifecycle.diff import diff_policies
from bastion.policy.loader import parse_policy_text


def doc(text: str):  # noqa: ANN201
    d, _ = parse_policy_text(textwrap.dedent(text), "p.yaml")
    return d


BASE = """
policy: team
layer: team
defaults: require_approval
rules:
  - id: deny-egress
    match: {capability: network.request, target: {glob: "https://*.evil.example/*"}}
    effect: deny
  - id: approve-deploy
    match: {capability: deploy.run}
    effect: require_approval
    approvers: {roles: [sre], quorum: 2, owner_may_approve: false}
    on_timeout: deny
  - id: allow-reads
    match: {capability: filesystem.read}
    effect: allow
"""


def test_identical_and_aliases_are_no_change() -> None:
    a = doc(BASE)
    b = doc(BASE.replace("effect: require_approval", "effect: ask").replace("defaults: require_approval", "defaults: approval_required"))
    d = diff_policies(a, b, "v1", "v2")
    assert d.empty and not d.may_loosen
    assert "no change" in d.text()


def test_added_removed_changed_with_fields() -> None:
    new = BASE.replace(
        "  - id: allow-reads\n    match: {capability: filesystem.read}\n    effect: allow\n",
        "  - id: alert-writes\n    match: {capability: filesystem.write}\n    effect: alert\n",
    ).replace("target: {glob: \"https://*.evil.example/*\"}", "target: {glob: [\"https://*.evil.example/*\", \"http://*\"]}")
    d = diff_policies(doc(BASE), doc(new), "v1", "v2")
    assert d.ids("added") == ["alert-writes"] and d.ids("removed") == ["allow-reads"] and d.ids("changed") == ["deny-egress"]
    changed = next(r for r in d.rules if r.kind == "changed")
    assert [f.field for f in changed.fields] == ["match.target.glob"]
    assert changed.fields[0].old == "https://*.evil.example/*" and changed.fields[0].new == ["https://*.evil.example/*", "http://*"]
    text = d.text()
    assert "+ rule alert-writes (alert)" in text and "- rule allow-reads (allow)" in text and "~ rule deny-egress (deny)" in text
    assert "match.target.glob:" in text
    data = d.to_dict()
    assert data["summary"] == {"added": 1, "removed": 1, "changed": 1}
    # a deny rule's conditions changed: flagged for review
    assert d.may_loosen and any("deny-egress" in why for why in d.loosening)


def test_settings_changes() -> None:
    d = diff_policies(doc(BASE), doc(BASE.replace("defaults: require_approval", "defaults: allow").replace("layer: team", "layer: agent")), "v1", "v2")
    fields = {f.field: (f.old, f.new) for f in d.settings}
    assert fields == {"defaults": ("require_approval", "allow"), "layer": ("team", "agent")}
    assert any("defaults lowered" in w for w in d.loosening) and any("layer moved down" in w for w in d.loosening)


def test_loosening_of_approval_rules() -> None:
    new = BASE.replace("quorum: 2, owner_may_approve: false", "quorum: 1").replace("on_timeout: deny", "on_timeout: allow")
    d = diff_policies(doc(BASE), doc(new), "v1", "v2")
    reasons = " | ".join(d.loosening)
    assert "fewer approvers" in reasons and "owner may now approve" in reasons and "on_timeout lowered" in reasons


def test_effect_lowered_disabled_removed() -> None:
    lowered = diff_policies(doc(BASE), doc(BASE.replace("effect: deny", "effect: alert")), "v1", "v2")
    assert any("effect lowered from deny to alert" in w for w in lowered.loosening)
    disabled = diff_policies(doc(BASE), doc(BASE.replace("    effect: deny\n", "    effect: deny\n    enabled: false\n")), "v1", "v2")
    assert any("disabled" in w for w in disabled.loosening)
    removed_text = BASE.replace('  - id: deny-egress\n    match: {capability: network.request, target: {glob: "https://*.evil.example/*"}}\n    effect: deny\n', "")
    removed = diff_policies(doc(BASE), doc(removed_text), "v1", "v2")
    assert removed.ids("removed") == ["deny-egress"] and any("deny-egress (deny) removed" in w for w in removed.loosening)


def test_tightening_is_not_flagged() -> None:
    new = BASE + "  - id: deny-rm\n    match: {capability: shell.exec, target: 'rm *'}\n    effect: deny\n"
    d = diff_policies(doc(BASE), doc(new.replace("effect: allow", "effect: log_only")), "v1", "v2")
    assert d.ids("added") == ["deny-rm"] and not d.may_loosen


def test_order_matters_only_under_first_match() -> None:
    swapped = BASE.replace(
        "  - id: deny-egress\n    match: {capability: network.request, target: {glob: \"https://*.evil.example/*\"}}\n    effect: deny\n", ""
    ) + "  - id: deny-egress\n    match: {capability: network.request, target: {glob: \"https://*.evil.example/*\"}}\n    effect: deny\n"
    assert diff_policies(doc(BASE), doc(swapped), "v1", "v2").empty
    fm = BASE.replace("defaults: require_approval", "defaults: require_approval\ncombine: first_match")
    fm_swapped = swapped.replace("defaults: require_approval", "defaults: require_approval\ncombine: first_match")
    d = diff_policies(doc(fm), doc(fm_swapped), "v1", "v2")
    assert d.order_changed and "rule order changed" in d.text() and d.may_loosen


def test_first_version_shows_what_it_sets() -> None:
    d = diff_policies(None, doc(BASE), "(none)", "v1")
    assert d.ids("added") == ["deny-egress", "approve-deploy", "allow-reads"]
    assert {f.field for f in d.settings} == {"policy", "layer", "defaults"}
    assert not d.may_loosen


_EFFECTS = ["allow", "log_only", "alert", "require_approval", "deny"]
_rules = st.dictionaries(st.sampled_from(["r1", "r2", "r3", "r4", "r5"]), st.sampled_from(_EFFECTS), max_size=5)


def _policy(rules: dict[str, str]) -> str:
    lines = ["policy: prop", "rules:"] if rules else ["policy: prop", "rules: []"]
    for rid, eff in rules.items():
        lines.append(f"  - {{id: {rid}, match: {{capability: x.{rid}}}, effect: {eff}}}")
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(_rules, _rules)
def test_diff_properties(a: dict[str, str], b: dict[str, str]) -> None:
    da, db = doc(_policy(a)), doc(_policy(b))
    forward = diff_policies(da, db, "a", "b")
    backward = diff_policies(db, da, "b", "a")
    assert set(forward.ids("added")) == set(b) - set(a) == set(backward.ids("removed"))
    assert set(forward.ids("changed")) == {r for r in set(a) & set(b) if a[r] != b[r]} == set(backward.ids("changed"))
    assert diff_policies(da, da, "a", "a").empty
    lowered = any(_EFFECTS.index(b[r]) < _EFFECTS.index(a[r]) for r in set(a) & set(b))
    strict_removed = any(_EFFECTS.index(a[r]) >= _EFFECTS.index("require_approval") for r in set(a) - set(b))
    assert forward.may_loosen == (lowered or strict_removed)
