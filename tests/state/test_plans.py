"""Plans: every step evaluated without side effects; the most restrictive step decides."""

from __future__ import annotations

from bastion.model import Effect

from .conftest import act

POLICY = """
policy: p
defaults: allow
plans: {max_steps: 5, max_writes: 2, on_exceed: require_approval}
rules:
  - {id: deny-rm-rf, match: {capability: shell.exec, target: "rm -rf *"}, effect: deny, reason: No rm -rf}
  - {id: approve-push, match: {capability: shell.exec, target: "git push*"}, effect: require_approval}
  - id: tools
    match: {capability: tool.call}
    rate_limit: {max: 2, per: 1m, key: session}
    effect: allow
  - id: no-egress-after-env
    match: {capability: network.request, session.did: {capability: filesystem.read, target: {path: "**/.env"}}}
    effect: deny
  - {id: kill, match: {capability: shell.exec, target: "curl * | sh"}, effect: terminate}
"""


def plan(*steps, session="s-1"):
    return act("plan.submit", "plan-1", session=session, args={"steps": list(steps)})


def step(capability, target=None, **kw):
    out = {"capability": capability, **kw}
    if target is not None:
        out["target"] = target
    return out


def test_the_most_restrictive_step_decides_and_every_step_is_listed(make_engine):
    e = make_engine(POLICY)
    d = e.decide(plan(step("filesystem.read", "a"), step("shell.exec", "git push origin main"), step("shell.exec", "ls")))
    assert d.decision is Effect.REQUIRE_APPROVAL
    assert d.reason.startswith("step 2 of the plan (shell.exec git push origin main): require_approval by rule p/approve-push")
    steps = d.extra["plan"]["steps"]
    assert [s["decision"] for s in steps] == ["allow", "require_approval", "allow"]
    assert steps[1]["rules"] == ["p/approve-push"] and d.extra["plan"]["count"] == 3
    d = e.decide(plan(step("filesystem.read", "a"), step("shell.exec", "rm -rf /")))
    assert d.decision is Effect.DENY and "No rm -rf" in d.reason


def test_plan_constraints(make_engine):
    e = make_engine(POLICY)
    many = [step("filesystem.read", f"f{i}") for i in range(6)]
    d = e.decide(plan(*many))
    assert d.decision is Effect.REQUIRE_APPROVAL and d.reason == "the plan has 6 steps, more than 5 (plans of p)"
    writes = [step("filesystem.write", "a"), step("shell.exec", "rm build/x.o"), step("filesystem.read", "b"), step("database.query", "DELETE FROM t WHERE id = 1")]
    d = e.decide(plan(*writes))
    assert d.decision is Effect.REQUIRE_APPROVAL and "3 write steps, more than 2" in d.reason
    assert [s["write"] for s in d.extra["plan"]["steps"]] == [True, True, False, True]
    assert e.decide(plan(*writes[:3])).decision is Effect.ALLOW


def test_evaluating_a_plan_changes_no_state(make_engine, backend):
    e = make_engine(POLICY)
    steps = [step("tool.call", "search")] * 2 + [step("filesystem.read", "/repo/.env"), step("llm.call", "m", args={"cost_usd": 3})]
    for _ in range(3):
        assert e.decide(plan(*steps)).decision is Effect.ALLOW
    # no rate-limit hits, no marks, no usage from the steps (only the plan.submit actions themselves)
    assert e.decide(act("tool.call", "search")).decision is Effect.ALLOW
    assert e.decide(act("network.request", "https://x")).decision is Effect.ALLOW
    usage = backend.get_usage(["session:s-1"])["session:s-1"]
    assert usage.get("cost_usd", 0) == 0 and usage.get("llm_calls", 0) == 0


def test_earlier_steps_count_for_later_ones(make_engine):
    e = make_engine(POLICY)
    d = e.decide(plan(step("tool.call", "a"), step("tool.call", "b"), step("tool.call", "c")))
    assert [s["decision"] for s in d.extra["plan"]["steps"]] == ["allow", "allow", "deny"]
    d = e.decide(plan(step("shell.exec", "cat /repo/.env"), step("network.request", "https://x")))
    assert d.decision is Effect.DENY and "an earlier step of this plan" in d.reason


def test_steps_act_as_the_plans_agent_and_session(make_engine):
    e = make_engine(POLICY + """
  - {id: interns, match: {capability: filesystem.write, agent.role: intern}, effect: deny}
""")
    a = plan(step("filesystem.write", "x", agent={"id": "root", "role": "admin"}, session={"id": "other"}))
    a["agent"] = {"id": "i", "role": "intern"}
    assert e.decide(a).decision is Effect.DENY


def test_malformed_plans_fail_closed(make_engine):
    e = make_engine(POLICY)
    assert e.decide(act("plan.submit", "p", args={"steps": "rm -rf /"})).decision is Effect.DENY
    d = e.decide(plan(step("filesystem.read", "a"), {"capabilty": "x"}))
    assert d.decision is Effect.DENY and "invalid step" in d.reason
    d = e.decide(plan(step("plan.submit", "inner", args={"steps": []})))
    assert d.decision is Effect.DENY and "cannot itself be a plan" in d.reason


def test_a_terminating_step_terminates_the_session(make_engine):
    e = make_engine(POLICY)
    d = e.decide(plan(step("shell.exec", "curl x | sh")))
    assert d.decision is Effect.TERMINATE
    assert e.decide(act("filesystem.read", "a")).decision is Effect.TERMINATE


def test_explain_of_a_plan_lists_the_steps(make_engine):
    e = make_engine(POLICY)
    exp = e.explain(plan(step("filesystem.read", "a"), step("shell.exec", "rm -rf /")))
    assert exp.decision.decision is Effect.DENY and len(exp.decision.extra["plan"]["steps"]) == 2
