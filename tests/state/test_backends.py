"""The backend contract, run against every backend: the same operations, the same answers."""

from __future__ import annotations

import pytest

from bastion.state import open_state
from bastion.state.backend import StateError
from bastion.state.records import MARKS_KEPT, Grant, SessionRecord, WindowCheck

from .conftest import T0


def test_sessions_create_is_first_writer_wins(backend):
    a = SessionRecord("s-1", depth=0, agent={"id": "a"}, started_at=T0)
    assert backend.get_session("s-1") is None
    assert backend.create_session(a) == a
    again = backend.create_session(SessionRecord("s-1", depth=3, started_at=T0 + 5))
    assert again == a  # the stored record, not the new one
    assert backend.get_sessions(["nope", "s-1"]) == [None, a]


def test_terminate_keeps_the_first_reason_and_reopen(backend):
    backend.create_session(SessionRecord("s-1", started_at=T0))
    t = backend.terminate("s-1", "first", T0 + 1, {"decision_id": "d-1"})
    assert t.terminated and t.reason == "first" and t.terminated_at == T0 + 1 and t.terminated_by == {"decision_id": "d-1"}
    again = backend.terminate("s-1", "second", T0 + 2, {"decision_id": "d-2"})
    assert again.reason == "first" and again.terminated_at == T0 + 1
    r = backend.reopen("s-1", T0 + 3, "sam")
    assert r is not None and not r.terminated and r.reopened_by == "sam" and r.reason == "first"
    assert backend.get_session("s-1").status == "active"
    assert backend.reopen("unknown", T0, None) is None


def test_terminate_an_unknown_session_creates_it(backend):
    rec = backend.terminate("ghost", "operator", T0, {"actor": "op"}, template=SessionRecord("ghost", depth=2, started_at=T0))
    assert rec.terminated and rec.depth == 2
    assert backend.get_session("ghost").terminated


def test_list_sessions_and_children(backend):
    backend.create_session(SessionRecord("root", started_at=T0))
    backend.create_session(SessionRecord("c1", parent_id="root", ancestors=("root",), depth=1, started_at=T0 + 1))
    backend.create_session(SessionRecord("c2", parent_id="root", ancestors=("root",), depth=1, started_at=T0 + 2))
    backend.terminate("c1", "bad", T0 + 3, {})
    assert [r.id for r in backend.list_sessions()] == ["c2", "c1", "root"]  # newest first
    assert [r.id for r in backend.list_sessions(status="terminated")] == ["c1"]
    assert [r.id for r in backend.list_sessions(status="active")] == ["c2", "root"]
    assert [r.id for r in backend.list_sessions(limit=1)] == ["c2"]
    assert sorted(backend.children("root")) == ["c1", "c2"]
    assert backend.children("c2") == []


def test_hit_is_a_sliding_window_with_retry(backend):
    chk = WindowCheck("k", 3, 60.0)
    admitted = [backend.hit([chk], T0 + i).admitted for i in range(3)]
    assert admitted == [True, True, True]
    r = backend.hit([chk], T0 + 10)
    assert not r.admitted and r.counts == [3] and r.retry_at == [T0 + 60]  # the oldest hit leaves at T0+60
    assert not backend.hit([chk], T0 + 59.999).admitted
    r = backend.hit([chk], T0 + 60)  # (now - 60, now]: the hit at T0 has left
    assert r.admitted and r.counts == [2]
    assert not backend.hit([chk], T0 + 60.5).admitted  # T0+1, T0+2, T0+60


def test_hit_is_all_or_nothing(backend):
    a, b = WindowCheck("a", 5, 60.0), WindowCheck("b", 1, 60.0)
    assert backend.hit([a, b], T0).admitted
    r = backend.hit([a, b], T0 + 1)
    assert not r.admitted and r.retry_at[0] is None and r.retry_at[1] == T0 + 60
    # `a` recorded nothing for the rejected hit: it still holds one
    assert backend.hit([a], T0 + 2, commit=False).counts == [1]


def test_hit_without_commit_records_nothing(backend):
    chk = WindowCheck("k", 1, 60.0)
    for _ in range(3):
        assert backend.hit([chk], T0, commit=False).admitted
    assert backend.hit([chk], T0).admitted
    assert not backend.hit([chk], T0, commit=False).admitted


def test_events_count_per_window(backend):
    for i in range(4):
        backend.add_event("e", T0 + i * 100, [60.0, 300.0], 3600.0)
    assert backend.count_events("e", T0 + 300, [60.0, 300.0, 1000.0]) == [1, 3, 4]
    assert backend.add_event("e", T0 + 301, [60.0], 3600.0) == [2]
    backend.clear(["e"])
    assert backend.count_events("e", T0 + 301, [1000.0]) == [0]


def test_usage_adds_up_exactly(backend):
    backend.add_usage(["session:s", "agent:a"], {"cost_usd": 0.1, "tokens": 1000})
    backend.add_usage(["session:s"], {"cost_usd": 0.2})
    u = backend.get_usage(["session:s", "agent:a", "team:x"])
    assert u["session:s"]["cost_usd"] == pytest.approx(0.3, abs=1e-9)
    assert u["session:s"]["tokens"] == 1000 and u["agent:a"] == {"cost_usd": pytest.approx(0.1), "tokens": 1000}
    assert u["team:x"] == {}


def test_marks_newest_first_and_bounded(backend):
    for i in range(MARKS_KEPT + 5):
        backend.add_marks("s", {"t1": f"read {i}"}, T0 + i)
    backend.add_marks("s", {"t2": "other"}, T0)
    m = backend.get_marks("s", ["t1", "t2", "t3"])
    assert len(m["t1"]) == MARKS_KEPT and m["t1"][0].detail == f"read {MARKS_KEPT + 4}" and m["t1"][0].ts == T0 + MARKS_KEPT + 4
    assert [x.detail for x in m["t2"]] == ["other"] and "t3" not in m
    assert set(backend.get_marks("s", None)) == {"t1", "t2"}
    assert backend.get_marks("other", ["t1"]) == {}


def test_grants(backend):
    g = Grant("child", "s-1", 1, ("filesystem.read", {"capability": "tool.call", "target": "search"}), T0, "c-1")
    backend.put_grant(g)
    assert backend.get_grant("child") == g
    assert backend.get_grant("nobody") is None


def test_times_are_exact(backend):
    t = T0 + 0.123456
    backend.create_session(SessionRecord("s", started_at=t))
    assert backend.get_session("s").started_at == t
    backend.add_marks("s", {"t": "x"}, t)
    assert backend.get_marks("s", ["t"])["t"][0].ts == t


def test_bad_specs_are_clear_errors(tmp_path):
    with pytest.raises(StateError, match="unsupported state URL scheme"):
        open_state("mongodb://x")
    with pytest.raises(StateError, match="empty state spec"):
        open_state("  ")
    with pytest.raises(StateError, match="memory"):
        open_state(42)


@pytest.mark.redis
def test_unreachable_redis_is_a_clear_error():
    with pytest.raises(StateError, match="cannot reach Redis at redis://:\\*\\*\\*@127.0.0.1:1"):
        open_state("redis://:hunter2@127.0.0.1:1/0", timeout=0.5)


def test_sqlite_state_persists_across_restarts(tmp_path):
    path = str(tmp_path / "s.db")
    b = open_state(path)
    b.create_session(SessionRecord("s", started_at=T0))
    b.terminate("s", "why", T0, {})
    b.hit([WindowCheck("k", 1, 60.0)], T0)
    b.close()
    b = open_state(path)
    try:
        assert b.get_session("s").terminated
        assert not b.hit([WindowCheck("k", 1, 60.0)], T0 + 1).admitted
    finally:
        b.close()
