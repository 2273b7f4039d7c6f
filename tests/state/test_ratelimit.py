"""Rate limits on rules: exact sliding windows, keys, on_exceed, retry_after."""

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
  - id: tools
    match: {capability: tool.call}
    rate_limit: {max: 3, per: 1m, key: agent}
    effect: allow
  - id: exports
    match: {capability: data.export}
    rate_limit: {max: 2, per: 1h, key: [team, capability], on_exceed: require_approval}
    approvers: [data-steward]
    effect: log_only
  - id: per-host
    match: {capability: network.request}
    rate_limit: {max: 1, per: 10s, key: args.host, on_exceed: alert}
    effect: allow
  - id: deny-secrets
    match: {capability: tool.call, target: read_secret}
    effect: deny
"""


def test_max_per_window_then_on_exceed_with_retry_after(make_engine, clock):
    e = make_engine(POLICY)
    got = []
    for i in range(4):
        got.append(e.decide(act("tool.call", "search")).decision)
        clock.advance(10)
    assert got == [Effect.ALLOW] * 3 + [Effect.DENY]
    d = e.decide(act("tool.call", "search"))  # t0+40: the first hit (t0) leaves at t0+60
    assert d.decision is Effect.DENY and d.extra["retry_after"] == pytest.approx(20.0)
    assert "rate limit of p/tools exceeded: 3 per 1m for agent=a-1; retry in 20.0s" == d.reason
    clock.advance(20)
    assert e.decide(act("tool.call", "search")).decision is Effect.ALLOW


def test_the_key_separates_windows(make_engine):
    e = make_engine(POLICY)
    for _ in range(3):
        e.decide(act("tool.call", "search", agent="a"))
    assert e.decide(act("tool.call", "search", agent="a")).decision is Effect.DENY
    assert e.decide(act("tool.call", "search", agent="b")).decision is Effect.ALLOW
    # the session does not matter with key: agent
    assert e.decide(act("tool.call", "search", agent="a", session="other")).decision is Effect.DENY


def test_composite_keys_and_require_approval_on_exceed(make_engine):
    e = make_engine(POLICY)
    team = {"id": "a", "team": "payments"}
    for _ in range(2):
        d = e.decide({"capability": "data.export", "target": "orders", "agent": team})
        assert d.decision is Effect.LOG_ONLY
    d = e.decide({"capability": "data.export", "target": "orders", "agent": team})
    assert d.decision is Effect.REQUIRE_APPROVAL
    assert d.approver_roles == ["data-steward"] and d.approval["timeout_seconds"] == 4 * 3600
    assert e.decide({"capability": "data.export", "target": "orders", "agent": {"id": "b", "team": "growth"}}).decision is Effect.LOG_ONLY


def test_a_field_key_and_missing_values_share_a_window(make_engine):
    e = make_engine(POLICY)
    assert e.decide(act("network.request", "https://a", args={"host": "a"})).decision is Effect.ALLOW
    assert e.decide(act("network.request", "https://a", args={"host": "a"})).decision is Effect.ALERT
    assert e.decide(act("network.request", "https://b", args={"host": "b"})).decision is Effect.ALLOW
    assert e.decide(act("network.request", "https://c")).decision is Effect.ALLOW
    assert e.decide(act("network.request", "https://d")).decision is Effect.ALERT  # no host: one shared window


def test_denied_actions_do_not_use_the_limit(make_engine):
    e = make_engine(POLICY)
    for _ in range(5):
        assert e.decide(act("tool.call", "read_secret")).decision is Effect.DENY
    for _ in range(3):
        assert e.decide(act("tool.call", "search")).decision is Effect.ALLOW


def test_explain_shows_the_window_without_using_it(make_engine):
    e = make_engine(POLICY)
    e.decide(act("tool.call", "search"))
    for _ in range(5):
        exp = e.explain(act("tool.call", "search"))
        assert exp.decision.decision is Effect.ALLOW
        (note,) = exp.decision.extra["state"]["rate_limits"]
        assert note["count"] == 2 and note["max"] == 3 and not note["exceeded"]  # it would be the 2nd of 3
    e.decide(act("tool.call", "search"))
    e.decide(act("tool.call", "search"))
    exp = e.explain(act("tool.call", "search"))
    assert exp.decision.decision is Effect.DENY and exp.decision.extra["retry_after"] == 60.0


def test_bad_rate_limits_are_load_errors_with_positions():
    bad = "policy: p\nrules:\n  - id: r\n    match: {capability: x}\n    rate_limit: {max: 0, per: 1m, key: agnet}\n    effect: allow\n"
    with pytest.raises(PolicyError) as err:
        Engine.from_texts({"p.yaml": bad})
    text = str(err.value)
    assert "p.yaml:5" in text and "rules[0].rate_limit.max" in text
    bad2 = bad.replace("max: 0", "max: 2")
    with pytest.raises(PolicyError, match=r"rate-limit key 'agnet'.*did you mean") as err:
        Engine.from_texts({"p.yaml": bad2})
    assert err.value.problems[0].field == "rules[0].rate_limit.key[0]"
    with pytest.raises(PolicyError, match="per must be a positive duration"):
        Engine.from_texts({"p.yaml": bad2.replace("per: 1m", "per: 0s").replace("agnet", "agent")})
    with pytest.raises(PolicyError, match="unknown field 'burst'"):
        Engine.from_texts({"p.yaml": bad2.replace("key: agnet", "burst: 3")})
