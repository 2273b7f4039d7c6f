"""`engine.explain` shows the state behind a decision and never changes it."""

from __future__ import annotations

from bastion.model import Effect
from bastion.state.render import render_state

from .conftest import act

POLICY = """
policy: p
defaults: allow
escalation: {window: 10m, denials: {alert: 2, terminate: 3}}
rules:
  - id: no-egress-after-env
    match: {capability: network.request, session.did: {capability: filesystem.read, target: {path: "**/.env"}}}
    effect: deny
    reason: No egress after reading .env
  - {id: tools, match: {capability: tool.call}, rate_limit: {max: 1, per: 1m, key: agent}, effect: allow}
  - {id: budget, match: {capability: llm.call}, budget: {cost_usd: 1}, effect: deny}
"""


def test_explain_shows_history_counts_and_windows_without_side_effects(make_engine, backend):
    e = make_engine(POLICY)
    e.decide(act("filesystem.read", "/repo/.env"))
    e.decide(act("tool.call", "t"))
    e.record_usage(session="s-1", cost_usd=2)
    for _ in range(3):  # explaining three denials does not count them
        exp = e.explain(act("network.request", "https://x"))
    d = exp.decision.to_dict()
    assert d["decision"] == "deny" and d["state"]["escalation"][0]["count"] == 1
    lines = render_state(d)
    assert any(line.startswith("earlier: at 2026-09-21T14:13:20Z this session did filesystem.read /repo/.env") for line in lines)
    assert "escalation: 1 denials within 10m (alert at 2, terminate at 3)  [p]" in lines
    rl = render_state(e.explain(act("tool.call", "t")).decision.to_dict())
    assert "rate limit: 1 of 1 per 1m for agent=a-1: exceeded, retry in 60s  [p/tools]" in rl
    assert "budget: session cost_usd 2 > 1  [p/budget]" in render_state(e.explain(act("llm.call", "m")).decision.to_dict())
    assert backend.count_events("esc:denials:s-1", e._clock(), [600.0]) == [0]
    # deciding for real still counts from zero
    assert e.decide(act("network.request", "https://x")).decision is Effect.DENY
    assert e.decide(act("network.request", "https://x")).obligations["alert"] == ["escalation:p:denials"]


def test_explain_of_a_terminated_session(make_engine):
    e = make_engine(POLICY)
    for _ in range(3):
        e.decide(act("llm.call", "m", args={"cost_usd": 5}))
    exp = e.explain(act("filesystem.read", "a"))
    d = exp.decision.to_dict()
    assert d["decision"] == "terminate"
    lines = render_state(d)
    assert lines[0].startswith("session s-1 is terminated") and "the rules alone would say allow" in lines[-1]
    # the trace still shows what the rules said
    assert exp.subjects and exp.subjects[0].effect is Effect.ALLOW


def test_the_state_appears_only_when_something_stateful_happened(make_engine):
    e = make_engine(POLICY)
    d = e.decide(act("filesystem.read", "a"))
    assert "state" not in d.to_dict()
