"""The stateful parts of the policy language: validation with positions, inheritance."""

from __future__ import annotations

import pytest

from bastion.engine import Engine
from bastion.errors import PolicyError


def load(text: str, **more: str) -> Engine:
    return Engine.from_texts({"p.yaml": text, **more})


@pytest.mark.parametrize(
    "block, field, message",
    [
        ("escalation: {window: 10m}", "escalation", "needs denials or alerts thresholds"),
        ("escalation: {denials: {allow: 3}}", "escalation.denials", "must raise an alert or restrict more"),
        ("escalation: {denials: {terminate: 0}}", "escalation.denials", "positive integer"),
        ("escalation: {denials: {explode: 3}}", "escalation.denials", "unknown effect 'explode'"),
        ("escalation: {window: 0s, denials: {alert: 1}}", "escalation.window", "positive duration"),
        ("escalation: {denails: {alert: 1}}", "escalation.denails", "unknown field"),
        ("sub_agents: {max_depth: -1}", "sub_agents.max_depth", "greater than or equal to 0"),
        ("plans: {max_steps: 3, on_exceed: maybe}", "plans.on_exceed", "unknown effect"),
    ],
)
def test_policy_level_settings_are_validated_with_positions(block, field, message):
    with pytest.raises(PolicyError) as err:
        load(f"policy: p\n{block}\nrules: []\n")
    p = err.value.problems[0]
    assert message in p.message and p.field == field and p.line == 2, (p.field, p.message)


def test_effect_aliases_and_durations():
    e = load("policy: p\nescalation: {window: 1h, denials: {warn: 2, sigkill: 4}}\nplans: {max_writes: 1, on_exceed: ask}\nrules: []\n")
    doc = e.policies.loaded[0].doc
    assert doc.escalation.denials == {"alert": 2, "terminate": 4} and doc.escalation.window == 3600
    assert doc.plans.on_exceed.label == "require_approval"


def test_settings_are_inherited_through_extends_unless_set():
    parent = "policy: base\nescalation: {window: 5m, denials: {terminate: 2}}\nsub_agents: {max_depth: 1}\nplans: {max_steps: 3}\nrules: []\n"
    child = "policy: child\nextends: [base]\nsub_agents: {max_depth: 4}\nrules: []\n"
    e = Engine.from_texts({"base.yaml": parent, "child.yaml": child})
    docs = {lp.id: lp.doc for lp in e.policies.loaded}
    assert docs["child"].escalation.window == 300 and docs["child"].plans.max_steps == 3
    assert docs["child"].sub_agents.max_depth == 4  # its own setting wins
    s = e.state.settings(e)
    assert s.max_depth == 1 and s.max_depth_policy == "base"  # the smallest depth of any policy


def test_rules_can_be_added_at_run_time_with_state(clock):
    e = Engine.from_texts({"p.yaml": "policy: p\ndefaults: allow\nrules: []\n"}, clock=clock)
    e.add_rule("p", {"id": "rl", "match": {"capability": "x"}, "rate_limit": {"max": 1, "per": "1m"}, "effect": "allow"})
    a = {"capability": "x", "session": {"id": "s"}}
    assert [e.decide(a).decision.label for _ in range(2)] == ["allow", "deny"]
    e.remove_rule("p", "rl")
    assert e.decide(a).decision.label == "allow"


def test_session_did_in_unless_and_a_list_of_unless_blocks():
    e = load(
        "policy: p\ndefaults: allow\nrules:\n  - id: r\n    match: {capability: x}\n    unless:\n"
        "      - {session.did: {capability: y}}\n      - {session.did: {action: {capability: z}, within: 1m}}\n    effect: deny\n"
    )
    rs = e.policies.rule("p", "r").state
    assert rs.did == () and len(rs.unless_did) == 2 and len(e.state.settings(e).trackers) == 2


EXAMPLES = """
policy: p
defaults: allow
rules:
  - id: egress-after-env
    match:
      capability: network.request
      session.did: {action: {capability: filesystem.read, target: {path: "**/.env"}}, within: 1h}
    effect: deny
    examples:
      match:
        - action: {capability: network.request, target: "https://x.example"}
          history: [{capability: shell.exec, target: "cat /repo/.env"}]
        - action: {capability: network.request, target: "https://x.example"}
          history: [{action: {capability: filesystem.read, target: /repo/.env}, ago: 59m}]
      no_match:
        - {capability: network.request, target: "https://x.example"}
        - action: {capability: network.request, target: "https://x.example"}
          history: [{action: {capability: filesystem.read, target: /repo/.env}, ago: 2h}]
  - id: compute
    match: {capability: llm.call}
    budget: {cost_usd: 5}
    effect: log_only
    examples:
      match:
        - {action: {capability: llm.call, target: m, args: {cost_usd: 1}}, usage: {cost_usd: 4.5}}
      no_match:
        - {action: {capability: llm.call, target: m, args: {cost_usd: 1}}, usage: {cost_usd: 3}}
"""


def test_examples_of_stateful_rules_with_history_and_usage():
    load(EXAMPLES)  # every example holds, or loading would fail
    broken = EXAMPLES.replace("ago: 59m", "ago: 61m")
    with pytest.raises(PolicyError, match="example should match this rule but does not") as err:
        load(broken)
    assert err.value.problems[0].field == "rules[0].examples.match[1]"
    with pytest.raises(PolicyError, match="unknown meter 'dollars'"):
        load(EXAMPLES.replace("usage: {cost_usd: 4.5}", "usage: {dollars: 4.5}"))


def test_did_you_mean_for_the_new_fields():
    with pytest.raises(PolicyError, match="unknown field 'maxx' \\(did you mean 'max'\\?\\)"):
        load("policy: p\nrules:\n  - {id: r, match: {capability: x}, rate_limit: {maxx: 1, per: 1m}, effect: allow}\n")
    with pytest.raises(PolicyError, match="did you mean 'cost_usd'"):
        load("policy: p\nrules:\n  - {id: r, match: {capability: x}, budget: {cost_usdd: 1}, effect: deny}\n")
    with pytest.raises(PolicyError, match="did you mean 'max_depth'"):
        load("policy: p\nsub_agents: {max_dept: 2}\nrules: []\n")
