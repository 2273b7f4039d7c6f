"""Budgets: usage per session, agent or team, fed by llm.call actions and record_usage."""

from __future__ import annotations

import pytest

from bastion.engine import Engine
from bastion.errors import PolicyError
from bastion.model import Effect

from .conftest import act

POLICY = """
policy: p
defaults: allow
rules:
  - id: compute-notice
    match: {capability: llm.call}
    budget: {cost_usd: 5}
    effect: log_only
    severity: medium
    reason: Above $5 of compute in this session
  - id: no-tool-calls-after-200
    match: {capability: tool.call}
    budget: {tool_calls: 200, per: agent}
    effect: deny
  - id: team-tokens
    match: {capability: llm.call}
    budget: {tokens: 10000, per: team}
    effect: require_approval
  - id: session-age
    match: {capability: [filesystem.write, shell.exec]}
    budget: {time: 2h}
    effect: deny
    reason: Sessions may change things for two hours
"""


def llm(cost=0.0, tokens=None, session="s-1", team=None):
    a = act("llm.call", "gpt", session=session, args={"cost_usd": cost} | ({"tokens": tokens} if tokens is not None else {}))
    if team:
        a["agent"]["team"] = team
    return a


def test_cost_budget_applies_the_rules_effect_once_crossed(make_engine):
    e = make_engine(POLICY)
    for _ in range(4):
        d = e.decide(llm(1.2))
        assert d.decision is Effect.ALLOW and d.obligations == {}
    d = e.decide(llm(1.2))  # 4.8 + 1.2 = 6.0 > 5
    assert d.decision is Effect.LOG_ONLY and d.severity.label == "medium"
    assert d.reason == "Above $5 of compute in this session (because session cost_usd $6 is above the budget of $5)"
    assert d.extra["state"]["budgets"] == [{"rule": "p/compute-notice", "per": "session", "meter": "cost_usd", "used": 6.0, "limit": 5.0}]
    assert e.decide(llm(0.0, session="s-2")).decision is Effect.ALLOW  # per session


def test_record_usage_feeds_budgets(make_engine):
    e = make_engine(POLICY)
    e.record_usage(session="s-1", cost_usd=4.99)
    assert e.decide(llm(0.0)).decision is Effect.ALLOW
    e.record_usage(session="s-1", cost_usd=0.02)
    assert e.decide(llm(0.0)).decision is Effect.LOG_ONLY
    with pytest.raises(ValueError, match="finite, non-negative"):
        e.record_usage(session="s-1", cost_usd=-5)
    with pytest.raises(ValueError, match="unknown usage meter"):
        e.record_usage(session="s-1", dollars=1)
    with pytest.raises(ValueError, match="needs a session"):
        e.record_usage(cost_usd=1)


def test_no_tool_calls_after_200_per_agent(make_engine):
    e = make_engine(POLICY)
    for i in range(200):
        assert e.decide(act("tool.call", "search", session=f"s-{i % 7}")).decision is Effect.ALLOW, i
    d = e.decide(act("tool.call", "search", session="fresh"))
    assert d.decision is Effect.DENY and "agent tool_calls 201 is above the budget of 200" in d.reason
    assert e.decide(act("tool.call", "search", agent="other")).decision is Effect.ALLOW


def test_denied_calls_use_no_budget(make_engine):
    e = make_engine(POLICY)
    e.record_usage(agent="a-1", tool_calls=200)
    for _ in range(3):
        assert e.decide(act("tool.call", "x")).decision is Effect.DENY
    used = e.state.backend.get_usage(["agent:a-1"])["agent:a-1"]
    assert used["tool_calls"] == 200


def test_team_tokens_and_input_output_tokens(make_engine):
    e = make_engine(POLICY)
    a = llm(0.0, team="payments")
    a["args"] = {"input_tokens": 6000, "output_tokens": 3000}
    assert e.decide(a).decision is Effect.ALLOW
    d = e.decide(llm(0.0, tokens=1001, team="payments", session="s-9"))
    assert d.decision is Effect.REQUIRE_APPROVAL and "team tokens 10001 is above the budget of 10000" in d.reason
    assert e.decide(llm(0.0, tokens=1001, team="growth")).decision is Effect.ALLOW


def test_bad_usage_values_are_ignored_not_subtracted(make_engine):
    e = make_engine(POLICY)
    e.record_usage(session="s-1", cost_usd=4.5)
    for bad in (-100, "9", float("nan"), True):
        e.decide(act("llm.call", "m", args={"cost_usd": bad}))
    assert e.decide(llm(0.6)).decision is Effect.LOG_ONLY


def test_time_budget_is_the_session_age(make_engine, clock):
    e = make_engine(POLICY)
    assert e.decide(act("shell.exec", "ls")).decision is Effect.ALLOW
    clock.advance(2 * 3600)
    assert e.decide(act("filesystem.write", "a")).decision is Effect.ALLOW  # exactly 2h is not above
    clock.advance(1)
    d = e.decide(act("filesystem.write", "a"))
    assert d.decision is Effect.DENY and "session time 2h is above" not in d.reason and "above the budget of 2h" in d.reason
    assert e.decide(act("filesystem.write", "a", session="new")).decision is Effect.ALLOW


def test_a_child_sessions_usage_counts_for_its_parent(make_engine):
    e = make_engine(POLICY)
    e.decide(llm(1.0, session="root"))
    kid = llm(3.0, session="kid")
    kid["session"]["parent_id"] = "root"
    assert e.decide(kid).decision is Effect.ALLOW  # kid 3, root 1 + 3
    kid["args"]["cost_usd"] = 1.5
    d = e.decide(kid)  # kid 4.5 is within budget, but its parent would be at 5.5
    assert d.decision is Effect.LOG_ONLY and "as for its parent session root" in d.reason
    usage = e.state.backend.get_usage(["session:kid", "session:root"])
    assert usage["session:kid"]["cost_usd"] == pytest.approx(4.5) and usage["session:root"]["cost_usd"] == pytest.approx(5.5)
    assert e.decide(llm(0.0, session="root")).decision is Effect.LOG_ONLY


def test_bad_budgets_are_load_errors():
    base = "policy: p\nrules:\n  - id: r\n    match: {capability: x}\n    budget: BUDGET\n    effect: deny\n"
    for budget, msg in [
        ("{per: session}", "a budget needs at least one limit"),
        ("{time: 1h, per: agent}", "a time budget is the age of a session"),
        ("{cost_usd: -1}", "greater than or equal to 0"),
        ("{dollars: 5}", "unknown field 'dollars'"),
        ("{cost_usd: 5, per: org}", "per"),
    ]:
        with pytest.raises(PolicyError, match=msg):
            Engine.from_texts({"p.yaml": base.replace("BUDGET", budget)})
