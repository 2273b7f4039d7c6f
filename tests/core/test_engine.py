"""Combining, layers, defaults, run-time changes, hooks, reload and fail-closed behaviour."""

import threading
import time

import pytest

from bastion import Action, ActionError, Effect
from bastion.engine import Engine
from bastion.errors import PolicyError


def engine(**texts):
    return Engine.from_texts({f"{k}.yaml": v for k, v in texts.items()})


def test_most_restrictive_wins_and_obligations_accumulate():
    e = engine(
        p="""
        policy: p
        rules:
          - {id: allow-all, match: {capability: "*"}, effect: allow}
          - {id: alert-net, match: {capability: network.request}, effect: alert}
          - {id: redact-net, match: {capability: network.request}, effect: redact, severity: high}
          - {id: deny-evil, match: {capability: network.request, target: "*evil*"}, effect: deny}
        """.replace("\n        ", "\n")
    )
    d = e.decide({"capability": "network.request", "target": "https://evil.example"})
    assert d.decision is Effect.DENY
    assert {r.rule for r in d.rules} == {"allow-all", "alert-net", "redact-net", "deny-evil"}
    assert d.obligations["alert"] == ["p/alert-net"] and d.obligations["redact"] is True
    assert d.obligations["log_severity"] == "high"
    d2 = e.decide({"capability": "network.request", "target": "https://ok.example"})
    assert d2.decision is Effect.REDACT


def test_first_match_policy_is_ordered():
    e = engine(
        fw="""
        policy: fw
        combine: first_match
        rules:
          - {id: allow-docs, match: {capability: filesystem.write, target: {path: "docs/**"}}, effect: allow}
          - {id: deny-writes, match: {capability: filesystem.write}, effect: deny}
        """.replace("\n        ", "\n")
    )
    assert e.decide({"capability": "filesystem.write", "target": "docs/a.md"}).decision is Effect.ALLOW
    d = e.decide({"capability": "filesystem.write", "target": "src/a.py"})
    assert d.decision is Effect.DENY and [r.rule for r in d.rules] == ["deny-writes"]


SYSTEM = """
policy: sys
layer: system
rules:
  - {id: deny-prod-writes, match: {capability: filesystem.write, environment: production}, effect: deny}
  - {id: approve-shell, match: {capability: shell.exec}, effect: require_approval, overridable: true}
"""
TEAM = """
policy: team
layer: team
rules:
  - {id: allow-prod-writes, match: {capability: filesystem.write}, effect: allow}
  - {id: allow-shell, match: {capability: shell.exec}, effect: allow}
"""


def test_lower_layer_cannot_loosen_but_can_replace_overridable_defaults():
    e = Engine.from_texts({"s.yaml": SYSTEM, "t.yaml": TEAM})
    d = e.decide({"capability": "filesystem.write", "target": "x", "environment": "production"})
    assert d.decision is Effect.DENY
    assert [o.rule.rule for o in d.overridden] == ["allow-prod-writes"]
    assert "cannot loosen" in d.overridden[0].why
    d = e.decide({"capability": "shell.exec", "target": "ls"})
    assert d.decision is Effect.ALLOW
    assert [o.rule.rule for o in d.overridden] == ["approve-shell"] and "overridable" in d.overridden[0].why
    # without the team layer the overridable rule applies
    assert Engine.from_texts({"s.yaml": SYSTEM}).decide({"capability": "shell.exec"}).decision is Effect.REQUIRE_APPROVAL


def test_layer_order_does_not_depend_on_load_order():
    a = Engine.from_texts({"t.yaml": TEAM, "s.yaml": SYSTEM})
    b = Engine.from_texts({"s.yaml": SYSTEM, "t.yaml": TEAM})
    act = {"capability": "filesystem.write", "target": "x", "environment": "production"}
    assert a.decide(act).decision == b.decide(act).decision == Effect.DENY


def test_defaults_most_specific_layer_and_builtin_deny():
    org = "policy: org\nlayer: org\ndefaults: alert\nrules: []\n"
    agent = "policy: ag\nlayer: agent\ndefaults: log_only\nrules: []\n"
    none = "policy: none\nrules: []\n"
    assert Engine.from_texts({"o.yaml": org, "a.yaml": agent}).decide({"capability": "x"}).decision is Effect.LOG_ONLY
    assert Engine.from_texts({"o.yaml": org}).decide({"capability": "x"}).decision is Effect.ALERT
    d = Engine.from_texts({"n.yaml": none}).decide({"capability": "x"})
    assert d.decision is Effect.DENY and d.default and "no policy declares a default" in d.reason


def test_unless_expires_enabled():
    e = engine(
        p="""
        policy: p
        defaults: allow
        rules:
          - id: r
            match: {capability: filesystem.read, target: {path: "*.env"}}
            unless: [{target: {path: "test/**"}}, {agent.role: auditor}]
            effect: deny
          - {id: old, match: {capability: x}, effect: deny, expires: 2020-01-01}
          - {id: disabled, match: {capability: y}, effect: deny, enabled: false}
        """.replace("\n        ", "\n")
    )
    assert e.decide({"capability": "filesystem.read", "target": "a/prod.env"}).decision is Effect.DENY
    assert e.decide({"capability": "filesystem.read", "target": "test/fixtures/a.env"}).decision is Effect.ALLOW
    assert e.decide({"capability": "filesystem.read", "target": "a/prod.env", "agent": {"role": "auditor"}}).decision is Effect.ALLOW
    assert e.decide({"capability": "x"}).decision is Effect.ALLOW
    assert e.decide({"capability": "y"}).decision is Effect.ALLOW


def test_identity_context_and_args_fields():
    e = engine(
        p="""
        policy: p
        defaults: allow
        rules:
          - id: r
            match:
              capability: data.export
              agent.team: [payments, billing]
              agent.tags: phi-cleared
              resource.classification: {in: [pii, phi]}
              risk.tier: high
              args.rows: "> 10000"
              context.ticket.priority: {gte: 2}
            effect: require_approval
            approvers: {roles: [security-lead], quorum: 2}
            timeout: 30m
            on_timeout: deny
        """.replace("\n        ", "\n")
    )
    act = {
        "capability": "data.export",
        "agent": {"team": "payments", "tags": ["x", "phi-cleared"]},
        "resource": {"classification": "pii"},
        "risk": {"tier": "high"},
        "args": {"rows": 20000},
        "context": {"ticket": {"priority": 3}},
    }
    d = e.decide(act)
    assert d.decision is Effect.REQUIRE_APPROVAL
    assert d.approver_roles == ["security-lead"]
    assert d.approval == {"timeout_seconds": 1800.0, "on_timeout": "deny", "quorum": 2}
    act["args"] = {"rows": 10}
    assert e.decide(act).decision is Effect.ALLOW


def test_risk_score_formula():
    e = engine(p="policy: p\nrules:\n  - {id: r, match: {capability: x}, effect: deny, severity: high}\n")
    d = e.decide({"capability": "x", "environment": "production", "resource": {"classification": "pii"}, "risk": {"tier": "high", "signals": ["a", "b", "c", "d"]}})
    assert d.risk_score == min(100, 60 + 15 + 15 + 10 + 15)
    assert e.decide({"capability": "x"}).risk_score == 60


def test_malformed_action_raises_precise_error_never_allows():
    e = engine(p="policy: p\ndefaults: allow\nrules: []\n")
    with pytest.raises(ActionError, match="tagret"):
        e.decide({"capability": "x", "tagret": "y"})


def test_internal_error_fails_closed():
    class Broken:
        def analyze(self, action):
            raise RuntimeError("boom")

    e = Engine.from_texts({"p.yaml": "policy: p\ndefaults: allow\nrules: []\n"}, analyzer=Broken(), check_examples=False)
    d = e.decide({"capability": "x"})
    assert d.decision is Effect.DENY and "boom" in d.reason and d.error


def test_runtime_rule_changes_and_subscribers():
    e = engine(p="policy: p\ndefaults: allow\nrules: []\n")
    events = []
    e.subscribe(events.append)
    e.add_rule("p", {"id": "no-x", "match": {"capability": "x"}, "effect": "deny"})
    assert e.decide({"capability": "x"}).decision is Effect.DENY
    e.disable_rule("p", "no-x")
    assert e.decide({"capability": "x"}).decision is Effect.ALLOW
    e.enable_rule("p", "no-x")
    assert e.decide({"capability": "x"}).decision is Effect.DENY
    e.remove_rule("p", "no-x")
    assert e.decide({"capability": "x"}).decision is Effect.ALLOW
    assert [ev.kind for ev in events] == ["rule_added", "rule_disabled", "rule_enabled", "rule_removed"]
    with pytest.raises(PolicyError):
        e.add_rule("p", {"id": "bad", "effect": "nope"})
    with pytest.raises(PolicyError):
        e.add_rule("p", {"id": "bad-glob", "match": {"target": {"glob": "[x"}}, "effect": "deny"})
    assert e.decide({"capability": "x"}).decision is Effect.ALLOW  # a failed add changed nothing
    with pytest.raises(KeyError):
        e.disable_rule("p", "missing")


def test_violation_hook():
    e = engine(p="policy: p\ndefaults: allow\nrules:\n  - {id: r, match: {capability: x}, effect: deny}\n")
    seen = []
    e.on_violation(lambda d, a: seen.append((d.decision, a.capability)), min_effect="alert")
    e.on_violation(lambda d, a: 1 / 0)  # a failing hook never changes a decision
    e.decide({"capability": "x"})
    e.decide({"capability": "y"})
    assert seen == [(Effect.DENY, "x")]


def test_decide_many_and_threads():
    e = engine(p="policy: p\ndefaults: allow\nrules:\n  - {id: r, match: {capability: x}, effect: deny}\n")
    assert [d.decision for d in e.decide_many([{"capability": "x"}, {"capability": "y"}])] == [Effect.DENY, Effect.ALLOW]
    errors = []

    def worker():
        for i in range(300):
            cap = "x" if i % 2 else "y"
            if e.decide(Action(capability=cap)).decision is not (Effect.DENY if cap == "x" else Effect.ALLOW):
                errors.append(i)

    def mutator():
        for i in range(30):
            e.add_rule("p", {"id": f"z{i}", "match": {"capability": f"z{i}"}, "effect": "deny"})

    threads = [threading.Thread(target=worker) for _ in range(4)] + [threading.Thread(target=mutator)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(e.policies.rules) == 31


def test_capability_globs_and_many_rules_use_the_index():
    rules = "\n".join(f"  - {{id: r{i}, match: {{capability: filesystem.read, target: {{path: '/srv/d{i}/**'}}}}, effect: {'deny' if i % 2 else 'allow'}}}" for i in range(500))
    e = Engine.from_texts({"b.yaml": f"policy: b\ndefaults: alert\nrules:\n{rules}\n  - {{id: any-fs, match: {{capability: 'filesystem.*'}}, effect: log_only}}\n"})
    d = e.decide({"capability": "filesystem.read", "target": "/srv/d7/x"})
    assert d.decision is Effect.DENY and {r.rule for r in d.rules} == {"r7", "any-fs"}
    assert e.decide({"capability": "filesystem.read", "target": "/srv/d8/x"}).decision is Effect.LOG_ONLY
    assert e.decide({"capability": "filesystem.write", "target": "/srv/d7/x"}).decision is Effect.LOG_ONLY
    assert e.decide({"capability": "shell.exec"}).decision is Effect.ALERT


def test_hot_reload_keeps_last_good_policy(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("policy: p\ndefaults: allow\nrules:\n  - {id: r, match: {capability: x}, effect: deny}\n")
    e = Engine.from_paths([tmp_path])
    events = []
    e.subscribe(events.append)
    e.watch(debounce_ms=50)
    try:
        time.sleep(0.3)
        p.write_text("policy: p\ndefaults: allow\nrules:\n  - {id: r, match: {capability: x}, effect: alert}\n")
        _wait(lambda: any(ev.kind == "reloaded" for ev in events))
        assert e.decide({"capability": "x"}).decision is Effect.ALERT
        p.write_text("policy: p\nrules:\n  - {id: r, match: {capability: x}, effect: allw}\n")  # broken edit
        _wait(lambda: any(ev.kind == "reload_failed" for ev in events))
        failed = next(ev for ev in events if ev.kind == "reload_failed")
        assert failed.error.problems[0].field == "rules[0].effect"
        assert e.decide({"capability": "x"}).decision is Effect.ALERT  # last good policy still active
    finally:
        e.close()


def _wait(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_stages_decide_before_and_tighten_after():
    class Terminated:
        def before(self, engine, action, now):
            if action.session.id == "dead":
                return engine.new_decision(action, now, Effect.TERMINATE, "session terminated earlier")

    class Escalate:
        def after(self, engine, decision, action, now):
            if decision.decision is Effect.DENY:
                decision.decision = Effect.TERMINATE
                decision.reason += " (escalated)"
            return decision

    e = Engine.from_texts({"p.yaml": "policy: p\ndefaults: allow\nrules:\n  - {id: r, match: {capability: x}, effect: deny}\n"}, stages=[Terminated(), Escalate()])
    assert e.decide({"capability": "y", "session": {"id": "dead"}}).decision is Effect.TERMINATE
    d = e.decide({"capability": "x"})
    assert d.decision is Effect.TERMINATE and d.reason.endswith("(escalated)")
    assert e.decide({"capability": "y"}).decision is Effect.ALLOW
    with pytest.raises(TypeError):
        e.add_stage(object())


def test_state_stage_is_skipped_only_when_it_cannot_matter():
    plain = Engine.from_texts({"p.yaml": "policy: p\ndefaults: allow\nrules:\n  - {id: r, match: {capability: x}, effect: deny}\n"})
    assert plain.policies.state_inert
    terminating = Engine.from_texts({"p.yaml": "policy: p\ndefaults: allow\nrules:\n  - {id: r, match: {capability: x}, effect: terminate}\n"})
    assert not terminating.policies.state_inert
    # a terminate decision still ends the session for every later action
    assert terminating.decide({"capability": "x", "session": {"id": "s1"}}).decision is Effect.TERMINATE
    d = terminating.decide({"capability": "y", "session": {"id": "s1"}})
    assert d.decision is Effect.TERMINATE
    assert terminating.decide({"capability": "y", "session": {"id": "s2"}}).decision is Effect.ALLOW
    # a session terminated by an operator on the memory backend is honoured by an inert engine too
    plain.state.terminate_session("s9", "operator stop", now=0.0)
    assert plain.decide({"capability": "y", "session": {"id": "s9"}}).decision is Effect.TERMINATE
