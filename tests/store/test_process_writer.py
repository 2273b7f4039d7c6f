"""ProcessAuditWriter: the async writer in a child process writes exactly what the
in-process writer writes, drains on close, and fails closed when the child cannot keep up
or is gone. On SQLite and (marked postgres) PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from bastion.engine import Engine
from bastion.model import Action
from bastion.secrets import Redactor
from bastion.store import AuditUnavailable, AuditWriter, PublicKeyRing, Signer, StoreError, open_store
from bastion.store.process_writer import ProcessAuditWriter

KEY = bytes(range(32))
AWS = "AKIA" + "QYLPMN5HHHFPZAM2"  # split: the repository's own scanners stay quiet
ROOT = Path(__file__).resolve().parents[2]


def _actions(n: int) -> list[Action]:
    out = []
    for i in range(n):
        data: dict[str, Any] = {
            "capability": ("filesystem.read", "http.request", "shell.exec")[i % 3],
            "target": (f"src/mod_{i}.py", f"https://api.example.com/v1/items/{i}", f"git log -n {i}")[i % 3],
            "agent": {"id": f"agent-{i % 4}"},
            "session": {"id": f"s-{i % 7}"},
        }
        if i % 10 == 3:
            data["args"] = {"headers": {"X-Key": AWS}, "n": i, "ratio": i / 7}
        if i % 10 == 7:  # what orjson cannot carry: integers beyond 64 bits, a lone surrogate
            data["args"] = {"big": 2**70 + i, "low": -(2**63) - 1, "odd": "half a pair: \ud800"}
        if i % 10 == 5:
            data["id"] = f"call_{i}"  # caller-chosen: an idempotency key with idempotency="action_id"
        out.append(Action.from_dict(data))
    return out


def _decided(n: int) -> tuple[list[Action], list[Any]]:
    """n actions and the decisions builtin:coding-agent makes on them (no audit attached)."""
    actions = _actions(n)
    engine = Engine.from_paths(["builtin:coding-agent"])
    try:
        return actions, [engine.decide(a) for a in actions]
    finally:
        engine.close()


def _wait(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_records_are_byte_for_byte_those_of_the_in_process_writer(store_url: str, tmp_path: Path) -> None:
    actions, decisions = _decided(300)

    here = open_store(str(tmp_path / "thread.db"))
    thread = AuditWriter(here, "async", redactor=Redactor(key=KEY), idempotency="action_id")
    proc = ProcessAuditWriter(store_url, redaction_key=KEY, idempotency="action_id")
    for d, a in zip(decisions, actions):
        thread.record(d, a)
        proc.record(d, a)
    thread.close()
    proc.close()
    assert proc.stats["committed"] == len(actions) and proc.stats["lost"] == 0

    there = open_store(store_url)
    try:
        mine = [(r.body, r.hash, r.idem_key) for r in here.query()]
        theirs = [(r.body, r.hash, r.idem_key) for r in there.query()]
        assert len(theirs) == len(actions)
        assert theirs == mine  # same bodies, same chain, same keys
        assert there.verify().ok
        assert any("[REDACTED:aws_access_key:" in body for body, _, _ in theirs)
        assert not any(AWS in body for body, _, _ in theirs)
        assert sum(key is not None for _, _, key in theirs) == 30
    finally:
        there.close()
        here.close()
    if not store_url.startswith("postgres"):
        assert AWS.encode() not in Path(store_url).read_bytes()


def test_an_engine_records_through_it_and_close_drains(store_url: str) -> None:
    writer = ProcessAuditWriter(store_url, batch_size=64)
    engine = Engine.from_paths(["builtin:coding-agent"], audit=writer)
    for a in _actions(1500):
        engine.decide(a)
    engine.close()  # closes the writer: drains the child's queue
    assert writer.stats["recorded"] == 1500
    st = open_store(store_url)
    try:
        assert st.count() == 1500
        assert st.verify().ok
    finally:
        st.close()
    assert writer._proc.poll() == 0  # the child exited on its own


def test_flush_waits_for_every_record(tmp_path: Path) -> None:
    url = str(tmp_path / "audit.db")
    writer = ProcessAuditWriter(url, flush_interval=5.0)  # only flush() hurries it
    engine = Engine.from_paths(["builtin:coding-agent"], audit=writer)
    st = open_store(url)
    try:
        for round_ in (1, 2):
            for a in _actions(120):
                engine.decide(a)
            writer.flush()
            assert st.count() == 120 * round_
    finally:
        st.close()
        engine.close()


def test_a_dead_child_fails_closed(tmp_path: Path) -> None:
    url = str(tmp_path / "audit.db")
    alerts: list[str] = []
    writer = ProcessAuditWriter(url, on_alert=alerts.append)
    engine = Engine.from_paths(["builtin:coding-agent"], audit=writer)
    for a in _actions(50):
        engine.decide(a)
    writer.flush()
    os.kill(writer.pid, signal.SIGKILL)
    _wait(lambda: writer.stats["store_error"] is not None)
    decision = engine.decide({"capability": "filesystem.read", "target": "README.md"})
    assert decision.decision.label == "deny"
    assert "audit" in decision.reason
    assert any("exited" in a for a in alerts)
    with pytest.raises(AuditUnavailable):
        writer.record(decision, {"capability": "filesystem.read", "target": "README.md"})
    engine._audit = None  # the writer is closed below
    engine.close()
    writer.close()  # nothing was in flight at the kill: nothing lost
    st = open_store(url)
    try:
        assert st.count() == 50 and st.verify().ok
    finally:
        st.close()


def test_a_full_queue_denies(tmp_path: Path) -> None:
    actions, decisions = _decided(12)
    writer = ProcessAuditWriter(str(tmp_path / "audit.db"), queue_size=10, flush_interval=0.01)
    os.kill(writer.pid, signal.SIGSTOP)  # the child falls behind
    try:
        for d, a in zip(decisions[:10], actions[:10]):
            writer.record(d, a)
        with pytest.raises(AuditUnavailable, match="queue full"):
            writer.record(decisions[10], actions[10])
    finally:
        os.kill(writer.pid, signal.SIGCONT)
    writer.flush(timeout=30)
    writer.record(decisions[10], actions[10])  # room again
    writer.close()
    assert writer.stats["committed"] == 11


def test_drop_and_alert_puts_the_drops_on_record(tmp_path: Path) -> None:
    url = str(tmp_path / "audit.db")
    actions, decisions = _decided(15)
    alerts: list[str] = []
    writer = ProcessAuditWriter(url, queue_size=10, on_failure="drop_and_alert", on_alert=alerts.append)
    os.kill(writer.pid, signal.SIGSTOP)
    try:
        for d, a in zip(decisions, actions):
            writer.record(d, a)  # the last 5 are dropped, not refused
    finally:
        os.kill(writer.pid, signal.SIGCONT)
    writer.close()
    assert writer.stats["dropped"] == 5
    assert any("dropped" in a for a in alerts)
    st = open_store(url)
    try:
        notices = [r.record for r in st.query(kinds=("audit.dropped",))]
        assert sum(n["payload"]["count"] for n in notices) == 5
        assert st.count(kinds=("decision",)) == 10
        assert st.verify().ok
    finally:
        st.close()


def test_an_unrecordable_decision_leaves_a_notice(tmp_path: Path) -> None:
    url = str(tmp_path / "audit.db")
    engine = Engine.from_paths(["builtin:coding-agent"])
    action = Action.from_dict({"capability": "filesystem.read", "target": "README.md"})
    decision = engine.decide(action)
    engine.close()
    decision.extra["odd"] = object()  # not JSON
    writer = ProcessAuditWriter(url)
    writer.record(decision, action)
    writer.flush()
    assert writer.stats["unrecordable"] == 1
    writer.close()
    st = open_store(url)
    try:
        (notice,) = [r.record for r in st.query(kinds=("audit.unrecordable",))]
        assert notice["payload"]["decision_id"] == decision.decision_id
        assert st.verify().ok
    finally:
        st.close()


def test_a_bad_store_is_reported_at_construction() -> None:
    with pytest.raises(StoreError, match="unsupported store URL scheme"):
        ProcessAuditWriter("ftp://example.com/audit")


def test_signed_checkpoints(tmp_path: Path) -> None:
    url = str(tmp_path / "audit.db")
    signer = Signer.generate()
    writer = ProcessAuditWriter(url, signer=signer, checkpoint_every=100, batch_size=50)
    engine = Engine.from_paths(["builtin:coding-agent"], audit=writer)
    for a in _actions(250):
        engine.decide(a)
    engine.close()
    st = open_store(url)
    try:
        result = st.verify(PublicKeyRing([signer.public_key]))
        assert result.ok and result.signed_checkpoints >= 2
    finally:
        st.close()


def test_a_killed_parent_leaves_what_it_handed_over(tmp_path: Path) -> None:
    url = str(tmp_path / "audit.db")
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT / "tests" / "store")!r})
        from bastion.engine import Engine
        from bastion.store.process_writer import ProcessAuditWriter
        from test_process_writer import _actions
        writer = ProcessAuditWriter({url!r})
        engine = Engine.from_paths(["builtin:coding-agent"], audit=writer)
        for a in _actions(400):
            engine.decide(a)
        writer.flush()
        print(writer.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == -signal.SIGKILL, out.stderr
    child = int(out.stdout.split()[0])

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        return False

    _wait(gone, 30)
    st = open_store(url)
    try:
        assert st.count() == 400  # flushed before the kill: all of it
        assert st.verify().ok
    finally:
        st.close()


def test_a_store_outage_in_the_child_makes_the_parent_deny_until_it_is_back(tmp_path: Path) -> None:
    import sqlite3

    url = str(tmp_path / "audit.db")
    actions, decisions = _decided(40)
    writer = ProcessAuditWriter(url, store_options={"busy_timeout": 0.2}, flush_interval=0.01)
    for d, a in zip(decisions[:10], actions[:10]):
        writer.record(d, a)
    writer.flush()
    blocker = sqlite3.connect(url, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the store is unavailable to the child
    try:
        for d, a in zip(decisions[10:20], actions[10:20]):
            writer.record(d, a)  # accepted before the outage is known: they wait in the child
        _wait(lambda: writer.stats["store_error"] is not None)
        with pytest.raises(AuditUnavailable, match="unavailable"):
            writer.record(decisions[20], actions[20])
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    _wait(lambda: writer.stats["store_error"] is None)
    for d, a in zip(decisions[21:], actions[21:]):
        writer.record(d, a)
    writer.close()
    st = open_store(url)
    try:
        assert st.count() == 39  # all but the one refused during the outage
        assert st.verify().ok
    finally:
        st.close()
