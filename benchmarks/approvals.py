"""What approvals cost: the approval stage on decisions that need no human, and on those that do.

    python benchmarks/approvals.py [--db sqlite|postgresql://...] [--n 300]

A PostgreSQL URL gets a temporary schema of its own (created, then dropped).

1. `allow` decisions with and without the ApprovalStage (the stage returns at once for
   any effect but require_approval: no digest, no I/O); median and p99 in microseconds,
   and the ratio, measured in the same run.
2. `require_approval` decisions that create a request (one audited transaction on the
   store), that find the action already pending, and the approve-then-use round trip;
   median and p99 in milliseconds. SQLite runs with synchronous=FULL (the store default).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bastion.approvals import ApprovalService, ApprovalStage, People  # noqa: E402
from bastion.engine import Engine  # noqa: E402
from bastion.model import Action  # noqa: E402
from bastion.store import open_store  # noqa: E402

POLICY = """
policy: bench
defaults: allow
rules:
  - {id: ask-shell, match: {capability: shell.exec}, effect: require_approval, approvers: [security-lead]}
  - {id: deny-env, match: {capability: filesystem.read, target: {path: "**/.env"}}, effect: deny}
"""


def stats(samples_ns: list[int], scale: float) -> tuple[float, float]:
    s = sorted(samples_ns)
    return statistics.median(s) / scale, s[min(len(s) - 1, int(len(s) * 0.99))] / scale


def timed(fn, items) -> list[int]:  # noqa: ANN001
    out = []
    gc.disable()
    try:
        for it in items:
            t0 = time.perf_counter_ns()
            fn(it)
            out.append(time.perf_counter_ns() - t0)
    finally:
        gc.enable()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="sqlite", help="sqlite (a temporary file) or a postgresql:// URL")
    ap.add_argument("--n", type=int, default=300, help="require_approval decisions per measurement")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    schema = None
    if args.db == "sqlite":
        url = str(Path(tmp.name) / "bench.db")
    else:
        import os

        import psycopg

        schema = "bench_" + os.urandom(6).hex()
        with psycopg.connect(args.db, autocommit=True) as cx:
            cx.execute(f"CREATE SCHEMA {schema}")
        url = args.db + ("&" if "?" in args.db else "?") + f"options=-csearch_path%3D{schema}"
    store = open_store(url)
    service = ApprovalService(store, People.of({"sam@example.com": ["security-lead"]}))
    plain = Engine.from_texts({"b.yaml": POLICY}, state=None) if "state" in Engine.__init__.__code__.co_varnames else Engine.from_texts({"b.yaml": POLICY})
    staged = Engine.from_texts({"b.yaml": POLICY}, stages=[ApprovalStage(service)], **({"state": None} if "state" in Engine.__init__.__code__.co_varnames else {}))

    reads = [Action(capability="filesystem.read", target=f"src/mod{i % 50}/file{i}.py") for i in range(5000)]
    for e in (plain, staged):
        for a in reads[:500]:
            e.decide(a)
    rows = []
    base = timed(plain.decide, reads * 3)
    with_stage = timed(staged.decide, reads * 3)
    b50, b99 = stats(base, 1e3)
    s50, s99 = stats(with_stage, 1e3)
    rows.append(("allow, no stage", f"{b50:.2f} µs", f"{b99:.2f} µs", "1.00x"))
    rows.append(("allow, approval stage", f"{s50:.2f} µs", f"{s99:.2f} µs", f"{s50 / b50:.2f}x"))

    shells = [Action(capability="shell.exec", target=f"make target-{i}", agent={"id": "coder-1"}, session={"id": "s-1"}) for i in range(args.n)]
    create = timed(staged.decide, shells)
    pending = timed(staged.decide, shells)
    ids = [staged.decide(a).extra["approval_id"] for a in shells[: args.n // 3]]
    approve = timed(lambda i: service.approve(i, "sam@example.com", "bench"), ids)
    use = timed(staged.decide, shells[: args.n // 3])
    for label, samples in (("require_approval, new request", create), ("require_approval, already pending", pending),
                           ("approve (vote + grant + records)", approve), ("approved action, grant used", use)):
        m, p = stats(samples, 1e6)
        rows.append((label, f"{m:.2f} ms", f"{p:.2f} ms", ""))
    print(f"store: {store.url} ({store.dialect})")
    print(f"{'case':<36} {'median':>12} {'p99':>12} {'ratio':>7}")
    for r in rows:
        print(f"{r[0]:<36} {r[1]:>12} {r[2]:>12} {r[3]:>7}")
    assert store.verify().ok
    staged.close()
    plain.close()
    store.close()
    tmp.cleanup()
    if schema is not None:
        import psycopg

        with psycopg.connect(args.db, autocommit=True) as cx:
            cx.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
