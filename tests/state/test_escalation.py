"""Escalation: the Nth denial in a window alerts, the Mth terminates (injectable clock)."""

from __future__ import annotations

from bastion.model import Effect

from .conftest import act

POLICY = """
policy: p
defaults: allow
escalation: {window: 10m, denials: {alert: 3, terminate: 5}, alerts: {require_approval: 2}}
rules:
  - {id: deny-delete, match: {capability: filesystem.delete}, effect: deny}
  - {id: alert-net, match: {capability: network.request}, effect: alert}
"""


def test_denials_alert_then_terminate(make_engine, clock):
    e = make_engine(POLICY)
    got = []
    for i in range(5):
        d = e.decide(act("filesystem.delete", f"f{i}"))
        got.append((d.decision, "escalation:p:denials" in d.obligations.get("alert", [])))
        clock.advance(60)
    assert got == [(Effect.DENY, False), (Effect.DENY, False), (Effect.DENY, True), (Effect.DENY, True), (Effect.TERMINATE, True)]
    d = e.decide(act("filesystem.read", "x"))
    assert d.decision is Effect.TERMINATE and "5 denials within 10m in session s-1" in d.reason


def test_denials_outside_the_window_do_not_count(make_engine, clock):
    e = make_engine(POLICY)
    for i in range(8):
        d = e.decide(act("filesystem.delete", f"f{i}"))
        assert d.decision is Effect.DENY, i
        clock.advance(151)  # at most 4 denials in any 10 minutes (0, 151, 302, 453; 604 drops 0)
    note = d.extra["state"]["escalation"][0]
    assert note["count"] == 4 and note["reached"] == ["alert"]
    assert e.state.backend.count_events("esc:denials:s-1", clock() - 151, [600.0]) == [4]
    exp = e.explain(act("filesystem.delete", "x"))  # explain shows the count this one would make
    assert exp.decision.extra["state"]["escalation"][0]["count"] == 4


def test_a_denial_below_every_threshold_reports_nothing(make_engine):
    e = make_engine(POLICY)
    d = e.decide(act("filesystem.delete", "x"))
    assert d.decision is Effect.DENY and "state" not in d.extra


def test_alerts_escalate_too(make_engine):
    e = make_engine(POLICY)
    assert e.decide(act("network.request", "https://a")).decision is Effect.ALERT
    d = e.decide(act("network.request", "https://b"))
    assert d.decision is Effect.REQUIRE_APPROVAL and "2 alerts within 10m" in d.reason
    assert d.approval["on_timeout"] == "deny"


def test_counts_are_per_session(make_engine):
    e = make_engine(POLICY)
    for i in range(4):
        e.decide(act("filesystem.delete", "x", session="a"))
        e.decide(act("filesystem.delete", "x", session="b"))
    assert e.decide(act("filesystem.delete", "x", session="a")).decision is Effect.TERMINATE
    assert e.decide(act("filesystem.read", "x", session="b")).decision is Effect.ALLOW


def test_reopen_starts_the_counts_afresh(make_engine, clock):
    e = make_engine(POLICY)
    for _ in range(5):
        e.decide(act("filesystem.delete", "x"))
    e.state.reopen_session("s-1", now=clock())
    assert e.decide(act("filesystem.delete", "x")).decision is Effect.DENY
    d = e.decide(act("filesystem.delete", "x"))
    assert d.decision is Effect.DENY and e.state.backend.count_events("esc:denials:s-1", clock(), [600.0]) == [2]


def test_builtin_policies_escalate(backend, clock):
    from bastion.engine import Engine

    e = Engine.from_paths(["builtin:coding-agent"], clock=clock, state=backend)
    esc = e.policies.loaded[0].doc.escalation
    assert esc is not None and esc.denials == {"alert": 3, "terminate": 5} and esc.window == 600
    decisions = [e.decide(act("filesystem.read", "/repo/.env")).decision for _ in range(5)]
    assert decisions == [Effect.DENY] * 4 + [Effect.TERMINATE]


def test_escalation_is_inherited_through_extends(make_engine):
    from bastion.engine import Engine

    child = "policy: mine\nextends: [builtin:coding-agent]\n"
    e = Engine.from_texts({"mine.yaml": child}, state="memory")
    assert e.policies.loaded[0].doc.escalation is not None
