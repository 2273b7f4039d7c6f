"""AuditWriter: group commit, sync/async durability, fail-closed and drop-and-alert behaviour."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from bastion.model import Action
from bastion.store import AuditUnavailable, AuditWriter, StoreUnavailable


class Gate:
    """Wraps a real store; `append` can be held back (gate) or made to fail (down)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.open = threading.Event()
        self.open.set()
        self.down = False
        self.entered = threading.Event()
        self.fail_after_commit = 0  # commit, then pretend the connection died this many times
        self.appends = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def append(self, records: Any) -> Any:
        self.entered.set()
        self.open.wait(30)
        if self.down:
            raise StoreUnavailable("test: store is down")
        result = self._store.append(records)
        self.appends += 1
        if self.fail_after_commit:
            self.fail_after_commit -= 1
            raise StoreUnavailable("test: connection lost around COMMIT", planned=(result.last_seq, result.last_hash))
        return result


def wait_for(pred: Any, what: str, timeout: float = 20.0) -> None:
    """Liveness, not timing: fail only if `pred` never holds within a generous bound."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


def _decisions(make_action: Any, make_decision: Any, n: int) -> list[tuple[Any, Action]]:
    out = []
    for i in range(n):
        a = make_action(i)
        out.append((make_decision(a, i), a))
    return out


def test_async_records_flush_on_their_own_and_on_close(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    w = AuditWriter(store, "async", redactor=redactor, flush_interval=0.02)
    for d, a in _decisions(make_action, make_decision, 10):
        w.record(d, a)
    wait_for(lambda: store.count() == 10, "records flushed within the interval, without flush()")
    for d, a in _decisions(make_action, make_decision, 990):
        w.record(d, a)
    w.close()
    assert store.count() == 1000
    assert w.stats["batches"] < 1000  # grouped, not one commit per record
    assert store.verify().ok
    with pytest.raises(AuditUnavailable, match="closed"):
        w.record(*_decisions(make_action, make_decision, 1)[0])


def test_flush_waits_for_everything_recorded(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    with AuditWriter(store, "async", redactor=redactor, flush_interval=60.0) as w:
        for d, a in _decisions(make_action, make_decision, 50):
            w.record(d, a)
        w.flush()
        assert store.count() == 50


def test_sync_record_is_committed_when_it_returns(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    with AuditWriter(store, "sync", redactor=redactor) as w:
        for i, (d, a) in enumerate(_decisions(make_action, make_decision, 20), 1):
            w.record(d, a)
            assert store.count() == i
            assert next(store.query(descending=True, limit=1)).record["decision"]["decision_id"] == d.decision_id


def test_sync_callers_share_commits(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    gate = Gate(store)
    gate.open.clear()
    w = AuditWriter(gate, "sync", redactor=redactor)  # type: ignore[arg-type]
    items = _decisions(make_action, make_decision, 9)
    threads = [threading.Thread(target=w.record, args=item) for item in items]
    threads[0].start()
    gate.entered.wait(10)  # the first record is in flight; the others queue behind it
    for t in threads[1:]:
        t.start()
    wait_for(lambda: w.stats["queued"] == 8, "8 callers queued")
    gate.open.set()
    for t in threads:
        t.join()
    w.close()
    assert store.count() == 9 and gate.appends == 2


def test_sync_callers_in_rounds_behind_a_slow_commit(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    """Four callers, four sync records each, the first commit held back: the writer then
    gathers the callers each commit released (its cohort) before committing again, and
    wakes each caller on its own lock. Every record lands, once, in a chain that verifies."""
    gate = Gate(store)
    gate.open.clear()
    w = AuditWriter(gate, "sync", redactor=redactor)  # type: ignore[arg-type]
    items = _decisions(make_action, make_decision, 16)
    rounds = [items[i::4] for i in range(4)]

    def caller(mine: list[Any]) -> None:
        for d, a in mine:
            w.record(d, a)

    threads = [threading.Thread(target=caller, args=(r,)) for r in rounds]
    threads[0].start()
    gate.entered.wait(10)  # the first record is in flight
    for t in threads[1:]:
        t.start()
    wait_for(lambda: w.stats["queued"] == 3, "the other callers queued")
    gate.open.set()
    for t in threads:
        t.join()
    w.close()
    stored = [r.record["decision"]["decision_id"] for r in store.query()]
    assert sorted(stored) == sorted(d.decision_id for d, _ in items)
    assert store.verify().ok and w.stats["committed"] == 16


def test_a_dead_writer_releases_sync_callers(store: Any, make_action: Any, make_decision: Any) -> None:
    class Boom(BaseException):
        pass

    class Exploding:
        def redact_action(self, action: Any) -> Any:
            raise Boom()

        def redact_value(self, value: Any) -> Any:
            raise Boom()

    w = AuditWriter(store, "sync", redactor=Exploding())
    (d, a), = _decisions(make_action, make_decision, 1)
    with pytest.raises(AuditUnavailable, match="writer thread failed"):
        w.record(d, a)  # released with the reason, long before sync_timeout
    with pytest.raises(AuditUnavailable, match="stopped"):
        w.record(d, a)
    w.close()  # the caller was told: nothing acknowledged was lost
    assert w.stats["lost"] == 0
    # async: the caller has gone, so a record in flight when the writer dies is counted lost
    w = AuditWriter(store, "async", redactor=Exploding())
    w.record(d, a)
    wait_for(lambda: w.stats["store_error"] is not None, "the writer died")
    with pytest.raises(AuditUnavailable, match="1 audit records could not be written"):
        w.close()


def test_queue_full_fails_closed(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    gate = Gate(store)
    gate.open.clear()
    w = AuditWriter(gate, "async", redactor=redactor, queue_size=5, flush_interval=0.001)  # type: ignore[arg-type]
    items = _decisions(make_action, make_decision, 7)
    w.record(*items[0])
    gate.entered.wait(10)
    for item in items[1:6]:
        w.record(*item)
    with pytest.raises(AuditUnavailable, match="queue full"):
        w.record(*items[6])
    gate.open.set()
    w.close()
    assert store.count() == 6 and w.stats["dropped"] == 0


def test_queue_full_drop_and_alert_records_the_gap(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    gate = Gate(store)
    gate.open.clear()
    alerts: list[str] = []
    w = AuditWriter(gate, "async", redactor=redactor, queue_size=3, flush_interval=0.001, on_failure="drop_and_alert", on_alert=alerts.append)  # type: ignore[arg-type]
    items = _decisions(make_action, make_decision, 8)
    w.record(*items[0])
    gate.entered.wait(10)
    for item in items[1:]:
        w.record(*item)  # never raises in this mode
    assert w.stats["dropped"] == 4 and len(alerts) == 4 and "queue full" in alerts[0]
    gate.open.set()
    w.close()
    assert store.count(kinds=("decision",)) == 4
    (notice,) = list(store.query(kinds=("audit.dropped",)))
    assert notice.record["payload"] == {"count": 4, "total": 4}
    assert store.verify().ok


def test_notices_are_written_even_when_no_record_follows(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    gate = Gate(store)
    gate.open.clear()
    w = AuditWriter(gate, "async", redactor=redactor, queue_size=1, flush_interval=0.001, on_failure="drop_and_alert")  # type: ignore[arg-type]
    items = _decisions(make_action, make_decision, 3)
    w.record(*items[0])
    gate.entered.wait(10)
    w.record(*items[1])  # queued
    w.record(*items[2])  # dropped: the queue holds one
    gate.open.set()
    wait_for(lambda: store.count(kinds=("audit.dropped",)) == 1, "the drop notice was written without waiting for another record")
    w.close()
    assert store.count(kinds=("decision",)) == 2


def test_store_down_async_denies_then_resumes(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    gate = Gate(store)
    gate.down = True
    w = AuditWriter(gate, "async", redactor=redactor, flush_interval=0.001, retry_max_delay=0.01)  # type: ignore[arg-type]
    items = _decisions(make_action, make_decision, 4)
    w.record(*items[0])  # accepted: nobody knows yet that the store is down
    wait_for(lambda: w.stats["store_error"] is not None, "the writer noticed the outage")
    with pytest.raises(AuditUnavailable, match="store unavailable"):
        w.record(*items[1])
    gate.down = False
    wait_for(lambda: w.stats["store_error"] is None, "the writer recovered")
    w.record(*items[2])
    w.close()
    ids = [r.record["decision"]["decision_id"] for r in store.query()]
    assert ids == [items[0][0].decision_id, items[2][0].decision_id]


def test_store_down_sync_denies_and_notes_late_commits(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    gate = Gate(store)
    gate.down = True
    w = AuditWriter(gate, "sync", redactor=redactor, sync_timeout=0.2, retry_max_delay=0.01)  # type: ignore[arg-type]
    items = _decisions(make_action, make_decision, 3)
    with pytest.raises(AuditUnavailable, match="not committed within"):
        w.record(*items[0])
    with pytest.raises(AuditUnavailable, match="store unavailable"):
        w.record(*items[1])  # known outage: refused at once
    gate.down = False
    wait_for(lambda: w.stats["store_error"] is None, "the writer recovered")
    w.record(*items[2])
    w.close()
    kinds = [r.kind for r in store.query()]
    # the late record first; the notice goes in as soon as the store is back (on its own,
    # or with the next record if that one is already waiting)
    assert kinds[0] == "decision" and sorted(kinds[1:]) == ["audit.late", "decision"]
    late = next(store.query(kinds=("audit.late",)))
    assert late.record["payload"]["decision_ids"] == [items[0][0].decision_id]


def test_drop_and_alert_sync_lets_decisions_stand(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    gate = Gate(store)
    gate.down = True
    alerts: list[str] = []
    w = AuditWriter(gate, "sync", redactor=redactor, sync_timeout=0.1, on_failure="drop_and_alert", on_alert=alerts.append, retry_max_delay=0.01)  # type: ignore[arg-type]
    items = _decisions(make_action, make_decision, 3)
    w.record(*items[0])  # no exception: the caller proceeds; its record is in flight
    assert w.stats["dropped"] == 0 and "in flight" in alerts[-1]
    wait_for(lambda: w.stats["store_error"] is not None, "the writer noticed the outage")
    w.record(*items[1])  # a known outage: dropped at once, not after sync_timeout
    assert w.stats["dropped"] == 1 and "store unavailable" in alerts[-1]
    gate.down = False
    wait_for(lambda: w.stats["store_error"] is None, "the writer recovered")
    w.record(*items[2])
    w.close()
    ids = [r.record["decision"]["decision_id"] for r in store.query(kinds=("decision",))]
    assert ids == [items[0][0].decision_id, items[2][0].decision_id]
    (notice,) = list(store.query(kinds=("audit.dropped",)))
    assert notice.record["payload"]["total"] == 1


def test_unknown_commit_outcome_is_not_written_twice(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    gate = Gate(store)
    gate.fail_after_commit = 1
    w = AuditWriter(gate, "sync", redactor=redactor, retry_max_delay=0.01)  # type: ignore[arg-type]
    for item in _decisions(make_action, make_decision, 5):
        w.record(*item)
    w.close()
    assert store.count() == 5 and store.verify().ok


def test_unrecordable_decision(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    bad = Action.model_construct(**{**make_action(1).__dict__, "args": {"blob": object()}})
    d = make_decision(bad, 1)
    with AuditWriter(store, "sync", redactor=redactor) as w:
        with pytest.raises(AuditUnavailable, match="cannot be recorded"):
            w.record(d, bad)
    with AuditWriter(store, "async", redactor=redactor) as w:
        w.record(d, bad)  # the caller has gone; the failure itself goes on record
    notices = list(store.query())  # one from each writer: the failure itself is on record
    assert [n.kind for n in notices] == ["audit.unrecordable"] * 2
    for notice in notices:
        assert notice.record["payload"]["decision_id"] == d.decision_id
        assert notice.record["payload"]["error"] == "PydanticSerializationError"  # the type only: never the content


def test_decision_is_snapshotted_when_recorded(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    a = make_action(1)
    d = make_decision(a, 1)
    with AuditWriter(store, "async", redactor=redactor, flush_interval=60.0) as w:
        w.record(d, a)
        d.reason = "changed afterwards"
        d.extra["approval_id"] = "forged"
    rec = next(store.query())
    assert rec.record["decision"]["reason"] == "rule 1 says so" and "approval_id" not in rec.record["decision"]


def test_bad_settings_are_refused(store: Any, redactor: Any) -> None:
    for kw in ({"durability": "eventually"}, {"on_failure": "ignore"}, {"queue_size": 0}, {"flush_interval": 0}, {"checkpoint_every": 10}):
        with pytest.raises(ValueError):
            AuditWriter(store, redactor=redactor, **kw)


def test_sqlite_locked_by_another_process_then_released(tmp_path: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    """A real outage on SQLite: someone holds the write lock; writes wait, then resume."""
    import sqlite3

    from bastion.store import open_store

    path = str(tmp_path / "locked.db")
    store = open_store(path, busy_timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    w = AuditWriter(store, "async", redactor=redactor, flush_interval=0.001, retry_max_delay=0.02)
    items = _decisions(make_action, make_decision, 3)
    w.record(*items[0])
    wait_for(lambda: w.stats["store_error"] is not None, "the writer hit the lock")
    assert "locked" in w.stats["store_error"]
    with pytest.raises(AuditUnavailable):
        w.record(*items[1])
    blocker.execute("ROLLBACK")
    blocker.close()
    wait_for(lambda: w.stats["store_error"] is None, "writes resumed")
    w.record(*items[2])
    w.close()
    assert store.count() == 2 and store.verify().ok
    store.close()
