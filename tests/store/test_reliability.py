"""Reliability: several processes on one log, SIGKILL mid-write, a PostgreSQL that drops connections.

Invariants: every decision acknowledged in sync mode is in the log, nothing is lost or
duplicated in async mode after a clean close, and the chain always verifies.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bastion.store import AuditUnavailable, AuditWriter, open_store

WORKER = str(Path(__file__).with_name("audit_worker.py"))


def _spawn(url: str, mode: str, count: int, tag: str, events: bool = False) -> subprocess.Popen[str]:
    args = [sys.executable, WORKER, url, mode, str(count), tag] + (["events"] if events else [])
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _decision_ids(store: Any) -> list[str]:
    return [r.record["decision"]["decision_id"] for r in store.query(kinds=("decision",))]


def test_several_processes_share_one_chain(store_url: str) -> None:
    """Processes (async and sync writers, plus direct events) append to the same chain."""
    procs = [_spawn(store_url, mode, 150, f"p{i}", events=True) for i, mode in enumerate(["async", "sync", "async"])]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert out.rstrip().endswith("done")
    with open_store(store_url) as store:
        ids = _decision_ids(store)
        assert sorted(ids) == sorted(f"p{i}-{j}" for i in range(3) for j in range(150))
        assert store.count(kinds=("policy.change",)) == 18
        result = store.verify()
        assert result.ok and result.checked == 468
        # records from different processes really did interleave in one chain
        agents = [r.agent for r in store.query(kinds=("decision",))]
        switches = sum(1 for x, y in zip(agents, agents[1:]) if x != y)
        assert switches >= 2


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_acknowledged_record(store_url: str) -> None:
    """Kill writers with SIGKILL at random moments, several rounds; then check every ack."""
    seed = int(os.environ.get("BASTION_TEST_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    acked: list[str] = []
    for round_ in range(4):
        procs = [_spawn(store_url, "sync", 100_000, f"r{round_}w{k}") for k in range(2)]
        target = rng.randint(5, 300)
        seen = 0
        first = procs[0]
        assert first.stdout is not None
        while seen < target:
            line = first.stdout.readline()
            if not line:
                break
            acked.append(line.strip())
            seen += 1
        time.sleep(rng.random() * 0.05)
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            out, _ = p.communicate(timeout=60)
            assert p.returncode == -signal.SIGKILL
            acked.extend(x for x in out.split("\n")[:-1] if x.strip())  # complete lines only
    with open_store(store_url) as store:
        stored = set(_decision_ids(store))
        missing = [a for a in acked if a not in stored]
        assert not missing, f"seed {seed}: acknowledged but missing: {missing[:5]}"
        result = store.verify()
        assert result.ok, f"seed {seed}: {result.why}"
        assert result.checked >= len(acked)


@pytest.mark.postgres
def test_postgres_connections_terminated_mid_write(pg_url: str, redactor: Any, make_action: Any, make_decision: Any) -> None:
    """pg_terminate_backend on every store connection, repeatedly, while 4 threads write in sync mode."""
    import psycopg

    app = "bastion_victim_" + uuid.uuid4().hex[:8]
    url = f"{pg_url}&application_name={quote(app)}"
    store = open_store(url)
    store.redactor = redactor
    writer = AuditWriter(store, "sync", redactor=redactor, sync_timeout=30.0, retry_max_delay=0.05)
    acked: list[str] = []
    refused = 0
    lock = threading.Lock()
    stop = threading.Event()

    def caller(t: int) -> None:
        nonlocal refused
        i = 0
        while not stop.is_set():
            a = make_action(i)
            d = make_decision(a, i, decision_id=f"t{t}-{i}")
            try:
                writer.record(d, a)
            except AuditUnavailable:
                with lock:
                    refused += 1
                time.sleep(0.005)
            else:
                with lock:
                    acked.append(d.decision_id)
            i += 1

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    killed = 0
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for _ in range(25):
            time.sleep(0.03)
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
                (app,),
            ).fetchall()
            killed += sum(1 for (ok,) in rows if ok)
    # the outage is over: writes must resume
    with lock:
        before = len(acked)
    deadline = time.monotonic() + 30
    while True:
        with lock:
            if len(acked) >= before + 50:
                break
        assert time.monotonic() < deadline, "writes did not resume after the outage"
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    writer.close()
    assert killed > 0
    stored = set(_decision_ids(store))
    assert not [a for a in acked if a not in stored]
    result = store.verify()
    assert result.ok, result.why
    store.close()
