"""The compiled policy remembers each (capability, target)'s candidate rules: a repeated
target gets exactly the rules a fresh scan finds, and the memo stays bounded."""

from hypothesis import given, settings
from hypothesis import strategies as st

import bastion.compile.compiler as compiler
from bastion.engine import Engine
from bastion.model import Action, Subject

POLICY = """
policy: memo
layer: org
defaults: allow
rules:
  - {id: env, match: {capability: filesystem.read, target: {path: "**/.env*"}}, effect: deny}
  - {id: keys, match: {capability: filesystem.read, target: {glob: ["*.pem", "*id_rsa*"]}}, effect: deny}
  - {id: srv, match: {capability: filesystem.read, target: {path: "/srv/**"}}, effect: log_only}
  - {id: tmp, match: {capability: filesystem.read, target: {prefix: "/tmp/"}}, effect: alert}
  - {id: any-read, match: {capability: filesystem.read, environment: prod}, effect: alert}
"""

_PARTS = st.sampled_from(["/srv/", "/tmp/", "a", ".env", ".pem", "id_rsa", "/", "x.txt", "é", ".local"])


def _compiled():
    return Engine.from_texts({"memo.yaml": POLICY}, check_examples=False)._compiled


def _ids(rules):
    return [r.rule_id for r in rules]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_PARTS, max_size=5).map("".join), min_size=1, max_size=12))
def test_a_remembered_target_gets_the_rules_a_fresh_scan_finds(targets):
    cps = _compiled()
    for target in targets + targets:  # every target twice: the second answer is remembered
        subject = Subject(Action(capability="filesystem.read", target=target))
        assert _ids(cps.candidates(subject)) == _ids(_compiled().candidates(subject)), target


def test_the_memo_is_bounded_and_skips_long_targets(monkeypatch):
    monkeypatch.setattr(compiler, "_SEEN_LIMIT", 5)
    cps = _compiled()
    for i in range(12):
        cps.candidates(Subject(Action(capability="filesystem.read", target=f"/srv/f{i}")))
        assert len(cps._seen) <= 5
    long_target = "/srv/" + "a" * compiler._SEEN_TARGET_MAX
    cps._seen.clear()
    subject = Subject(Action(capability="filesystem.read", target=long_target))
    assert _ids(cps.candidates(subject)) == ["srv", "any-read"] == _ids(_compiled().candidates(subject))
    assert ("filesystem.read", long_target) not in cps._seen
