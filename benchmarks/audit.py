"""Decisions per second with the audit log on, next to the same workload with it off.

    python benchmarks/audit.py [--workload mixed,tools,corpus] [--decisions 30000] [--sync-decisions 8000]
                               [--repeat 3] [--pg URL] [--no-pg] [--verify-records 1000000]
                               [--sqlite-synchronous full|normal] [--json OUT] [--src DIR]

Workloads (--workload, default `mixed,tools`, each reported in its own table):

* `mixed`  file reads and writes, deletes, HTTP requests and MCP-style tool calls under
           an agent platform's policy (PLATFORM_POLICY below: path rules, an egress
           allow-list, read-only tools autonomous). Decisions take microseconds (no shell
           parsing): this is the workload of "deciding stays in microseconds".
* `tools`  MCP-style tool calls under builtin:coding-agent (its secret and shell checks
           make each decision cost about three times a `mixed` one).
* `corpus` shell commands, SQL and file paths from shared/corpora (dcg, dippy,
           postgres_mcp) under builtin:coding-agent: decisions include shell and SQL analysis.

Every scenario runs in this one
process, on this machine, in one run, so the ratios compare like with like:

* `off`        the engine alone (1 caller; 8 callers for the sync comparison)
* `proc`       ProcessAuditWriter: async, records built and committed in a child process
               (the second core), 1 caller, the project's Redactor; end to end like `async`
* `async`      AuditWriter(durability="async"), 1 caller; the clock stops when close()
               has drained the queue, so the figure is end to end (every record committed)
* `sync`       AuditWriter(durability="sync"), 8 caller threads; each decide() returns
               only once its record is committed (group commit shares the commits)
* `decide=pre` the same, with decisions made before the clock starts: the audit path
               alone (record + build + commit), whatever the engine's speed

each on SQLite (a file under a temp dir, WAL, synchronous=FULL unless --sqlite-synchronous
normal) and PostgreSQL, each
with the project's Redactor (`redactor=real`, what runs in production) and with a
pass-through redactor (`redactor=none`: the store pipeline alone, to show where time goes).
Per-decision latency (caller side: decide + record) is reported as median and p99, and
the CPU time each decision costs (this process, plus the writer's child for `proc`), with
the throughput two fully busy cores could reach at that cost.
The garbage collector stays on, as in production (the engine alone leaves it nothing to
do; the audit path's cost includes the collections its queue and batches cause).

Then `verify` on a chain of --verify-records records (SQLite and PostgreSQL): the time
`store.verify()` takes to walk it (hash, link, and column checks for every record).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def _source_root() -> Path:
    """`--src DIR`: run the same scenarios against another source tree, for before/after
    comparisons (e.g. `git archive REV src | tar -x -C /tmp/before`, then `--src
    /tmp/before/src`). Read before anything imports bastion."""
    if "--src" in sys.argv[:-1]:
        return Path(sys.argv[sys.argv.index("--src") + 1]).resolve()
    return ROOT / "src"


SRC = _source_root()
sys.path.insert(0, str(SRC))

from bastion.engine import Engine  # noqa: E402
from bastion.model import Action  # noqa: E402
from bastion.store import AuditWriter, open_store  # noqa: E402

try:  # absent from older trees (--src)
    from bastion.store.process_writer import ProcessAuditWriter  # noqa: E402
except ImportError:  # pragma: no cover
    ProcessAuditWriter = None  # type: ignore[assignment,misc]
from bastion.store.records import RecordBuilder  # noqa: E402

CORPORA = next((p for p in (ROOT.parent / "shared" / "corpora", Path("/work/shared/corpora")) if p.exists()), None)


class PassThrough:
    """Redacts nothing: isolates the store pipeline's own cost. Never use outside benchmarks."""

    def redact_action(self, action: Any) -> tuple[Any, list[Any]]:
        return action, []

    def redact_value(self, value: Any) -> tuple[Any, list[Any]]:
        return value, []


# --------------------------------------------------------------------------- workload


WORKLOADS = ("mixed", "tools", "corpus")
_WORKLOAD = ["mixed"]
_SQLITE_SYNC = ["full"]

#: hosts the `mixed` workload's policy trusts
KNOWN_HOSTS = ["https://api.github.com/", "https://pypi.org/", "https://registry.npmjs.org/", "https://docs.python.org/"]

#: The `mixed` workload's policy: what a platform running agents over a workspace might
#: write (file access by path, an egress allow-list, read-only tools autonomous).
PLATFORM_POLICY = """
policy: bench:agent-platform
version: "1.0.0"
description: File, network and tool-call rules of an agent platform (benchmarks/audit.py).
layer: org
extends: [builtin:secret-files]
defaults: deny
rules:
  - id: read-workspace
    match: {capability: filesystem.read, target: {path: "/srv/app/**"}}
    effect: allow
    reason: Reads in the workspace are autonomous
  - id: write-source
    match: {capability: filesystem.write, target: {path: "/srv/app/src/**"}}
    effect: alert
    reason: Writes to the source tree notify the team
  - id: delete-needs-approval
    match: {capability: filesystem.delete}
    effect: require_approval
    approvers: [team-lead]
    reason: Deletes need approval
  - id: read-known-hosts
    match: {capability: network.request, target: {prefix: %(known)s}, args.method: [GET, HEAD]}
    effect: allow
    reason: Reads from known hosts
  - id: write-known-hosts
    match: {capability: network.request, target: {prefix: %(known)s}, args.method: [POST, PUT, PATCH, DELETE]}
    effect: log_only
    reason: Writes to known hosts are logged
  - id: deny-unknown-hosts
    match: {capability: network.request}
    unless: {target: {prefix: %(known)s}}
    effect: deny
    severity: high
    reason: Egress to an unknown host
  - id: read-only-tools
    match: {capability: tool.call, target: [search_docs, read_ticket, list_files, get_weather, query_metrics, fetch_page]}
    effect: allow
    reason: Read-only tools are autonomous
  - id: tools-that-write
    match: {capability: tool.call, target: [send_message, create_issue]}
    effect: require_approval
    approvers: [team-lead]
    reason: Tools that write need approval
""" % {"known": KNOWN_HOSTS}

#: distinct files (and URLs) the `mixed` workload's agents work on
WORKSPACE_FILES = 2000


def workload(count: int, kind: str | None = None) -> list[Action]:
    """`mixed`: file reads and writes, deletes, HTTP requests and MCP-style tool calls
    under PLATFORM_POLICY (what "deciding stays in microseconds" is about: no shell
    parsing). Agents revisit a workspace of WORKSPACE_FILES files and as many URLs, as
    agents do; that working set fits the engine's analysis cache. `tools`: tool calls
    under builtin:coding-agent, whose decisions include its secret and shell checks.
    `corpus`: shell commands, SQL and file paths from shared/corpora (decisions include
    shell and SQL analysis)."""
    kind = kind or _WORKLOAD[0]
    if kind == "mixed":
        return _mixed(count)
    items: list[tuple[str, str, dict[str, Any]]] = []
    if kind == "tools":
        tools = ["search_docs", "read_ticket", "list_files", "get_weather", "query_metrics", "send_message", "create_issue", "fetch_page"]
        for i in range(4000):
            items.append(("tool.call", tools[i % len(tools)], {"query": f"item {i} of the backlog", "limit": i % 50}))
    else:
        if CORPORA is None:
            raise SystemExit("shared/corpora not found next to the repository")
        for name in ("dcg/dcg_commands.jsonl", "dcg/dcg_pack_unit_tests.jsonl", "dippy/dippy_commands.jsonl"):
            for line in (CORPORA / name).open(encoding="utf-8"):
                items.append(("shell.exec", json.loads(line)["command"], {"cwd": "/srv/app"}))
        for line in (CORPORA / "postgres_mcp/postgres_mcp_safe_sql.jsonl").open(encoding="utf-8"):
            items.append(("database.query", json.loads(line)["sql"], {}))
        for i in range(500):
            items.append(("filesystem.read", f"/srv/app/src/module_{i}/file_{i % 37}.py", {}))
    out = []
    for i in range(count):
        cap, target, args = items[(i * 7919) % len(items)]  # spread over the items, deterministic
        out.append(
            Action(
                capability=cap,
                target=target,
                agent={"id": f"agent-{i % 16}", "role": "coding-agent"},
                session={"id": f"s-{i % 64}"},
                args=args,
            )
        )
    return out


def _mixed(count: int) -> list[Action]:
    """40% reads, 15% writes, 5% deletes, 25% HTTP (known hosts, uploads, unknown hosts), 15% tool calls."""
    tools = ["search_docs", "read_ticket", "list_files", "get_weather", "query_metrics", "fetch_page", "send_message", "create_issue"]
    out = []
    for i in range(count):
        k = i % 20
        j = (i * 7919) % WORKSPACE_FILES  # which file or URL: spread, deterministic
        if k < 8:
            fields: dict[str, Any] = {"capability": "filesystem.read", "target": f"/srv/app/src/pkg_{j % 97}/module_{j}.py"}
        elif k < 11:
            fields = {"capability": "filesystem.write", "target": f"/srv/app/src/pkg_{j % 97}/module_{j}.py", "args": {"content": f"VALUE_{i} = {i}\n"}}
        elif k < 12:
            fields = {"capability": "filesystem.delete", "target": f"/srv/app/build/out_{j}.o"}
        elif k < 15:
            fields = {"capability": "network.request", "target": f"{KNOWN_HOSTS[i % 4]}repos/org/repo-{j % 40}/issues?page={j % 20}", "args": {"method": "GET"}}
        elif k < 16:
            fields = {"capability": "network.request", "target": f"{KNOWN_HOSTS[i % 4]}upload/{j}", "args": {"method": "POST"}}
        elif k < 17:
            fields = {"capability": "network.request", "target": f"https://files.example.net/item/{j}", "args": {"method": "GET"}}
        else:
            fields = {"capability": "tool.call", "target": tools[i % 8], "args": {"query": f"item {i} of the backlog", "limit": i % 50}}
        out.append(Action(agent={"id": f"agent-{i % 16}", "role": "coding-agent"}, session={"id": f"s-{i % 64}"}, **fields))
    return out


def make_engine(audit: Any = None) -> Engine:
    if _WORKLOAD[0] == "mixed":
        return Engine.from_texts({"agent-platform.yaml": PLATFORM_POLICY}, audit=audit, check_examples=False)
    return Engine.from_paths(["builtin:coding-agent"], audit=audit, check_examples=False)


# --------------------------------------------------------------------------- stores


def pg_base(url: str) -> str | None:
    """Create the benchmark database if needed; None when no server answers."""
    try:
        import psycopg
    except ImportError:
        return None
    p = urlsplit(url)
    db = p.path.lstrip("/") or "bastion_bench"
    admin = urlunsplit((p.scheme, p.netloc, "/postgres", p.query, p.fragment))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as cx:
            if not cx.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                cx.execute(f'CREATE DATABASE "{db}"')
    except psycopg.Error as exc:
        print(f"# PostgreSQL skipped: {str(exc).splitlines()[0] if str(exc) else exc}", file=sys.stderr)
        return None
    return url


class Fresh:
    """A fresh store location per run: a temp SQLite file or a new PostgreSQL schema."""

    def __init__(self, backend: str, pg_url: str | None) -> None:
        self.backend = backend
        self.pg_url = pg_url

    def __enter__(self) -> str:
        if self.backend == "sqlite":
            self.tmp = tempfile.TemporaryDirectory(prefix="bastion-bench-")
            return os.path.join(self.tmp.name, "audit.db")
        import psycopg

        assert self.pg_url is not None
        self.schema = "bench_" + uuid.uuid4().hex[:10]
        with psycopg.connect(self.pg_url, autocommit=True) as cx:
            cx.execute(f"CREATE SCHEMA {self.schema}")
        p = urlsplit(self.pg_url)
        opt = "options=" + quote(f"-csearch_path={self.schema}")
        return urlunsplit((p.scheme, p.netloc, p.path, f"{p.query}&{opt}" if p.query else opt, p.fragment))

    def __exit__(self, *exc: Any) -> None:
        if self.backend == "sqlite":
            self.tmp.cleanup()
        else:
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as cx:
                cx.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


# --------------------------------------------------------------------------- scenarios


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, all its threads, or of process `pid`
    (Linux /proc; 0.0 where unavailable). What the two-core budget is spent on."""
    if pid is None:
        import resource

        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def percentile(samples: list[int], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000.0


def drive(engine: Engine, actions: list[Action], threads: int) -> tuple[float, list[int], int]:
    """Decide every action from `threads` callers; returns (seconds, latencies ns, denied-by-audit)."""
    chunks = [actions[i::threads] for i in range(threads)]
    lat: list[list[int]] = [[] for _ in range(threads)]
    failed = [0] * threads
    start = threading.Barrier(threads + 1)

    def run(k: int) -> None:
        out = lat[k]
        pc = time.perf_counter_ns
        decide = engine.decide
        start.wait()
        for a in chunks[k]:
            t0 = pc()
            d = decide(a)
            out.append(pc() - t0)
            if d.error is not None and "audit" in d.reason:
                failed[k] += 1

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    gc.collect()  # every run starts from a collected heap; the collector stays on, as in production
    start.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    return elapsed, [x for part in lat for x in part], sum(failed)


class PreDecided:
    """Stands in for the engine in `decide=pre` rows: the decisions were made before the
    clock started, so the figure is the audit path alone (record + commit)."""

    def __init__(self, actions: list[Action], writer: AuditWriter) -> None:
        engine = make_engine()
        self._decisions = {id(a): engine.decide(a) for a in actions}
        engine.close()
        self._record = writer.record

    def decide(self, action: Action) -> Any:
        d = self._decisions[id(action)]
        self._record(d, action)
        return d

    def close(self) -> None:
        pass


def scenario(mode: str, backend: str | None, redactor_name: str, actions: list[Action], threads: int, pg_url: str | None, decide: str = "engine") -> dict[str, Any]:
    warm = actions[:1000]
    if mode == "off":
        engine = make_engine()
        drive(engine, warm, threads)
        c0 = cpu_seconds()
        elapsed, lat, failed = drive(engine, actions, threads)
        cpu = cpu_seconds() - c0
        engine.close()
        return {"seconds": elapsed, "lat": lat, "failed": failed, "records": 0, "cpu": cpu, "cpu_child": 0.0}
    assert backend is not None
    with Fresh(backend, pg_url) as url:
        store = open_store(url, synchronous=_SQLITE_SYNC[0]) if backend == "sqlite" else open_store(url)
        redactor = PassThrough() if redactor_name == "none" else None
        if redactor is not None:
            store.redactor = redactor
        writer: Any
        if mode == "proc":  # the child opens its own connection; the project's Redactor
            options = {"synchronous": _SQLITE_SYNC[0]} if backend == "sqlite" else {}
            writer = ProcessAuditWriter(url, store_options=options, queue_size=len(actions) + len(warm) + 10)
        else:
            writer = AuditWriter(store, mode, queue_size=len(actions) + len(warm) + 10, redactor=redactor)  # type: ignore[arg-type]
        engine: Any = make_engine(writer) if decide == "engine" else PreDecided(actions, writer)
        drive(engine, warm, threads)
        writer.flush()
        gc.collect()
        child = getattr(writer, "pid", None)  # ProcessAuditWriter's child process
        c0, k0 = cpu_seconds(), cpu_seconds(child) if child else 0.0
        t0 = time.perf_counter()
        _, lat, failed = drive(engine, actions, threads)
        writer.flush()  # async: the clock stops when every record is committed
        elapsed = time.perf_counter() - t0
        cpu, cpu_child = cpu_seconds() - c0, (cpu_seconds(child) - k0) if child else 0.0
        stats = writer.stats
        engine.close()
        writer.close()
        records = store.count()
        store.close()
    return {"seconds": elapsed, "lat": lat, "failed": failed, "records": records, "batches": stats["batches"], "cpu": cpu, "cpu_child": cpu_child}


def run_matrix(args: argparse.Namespace, pg_url: str | None) -> list[dict[str, Any]]:
    async_actions = workload(args.decisions)
    sync_actions = workload(args.sync_decisions)
    backends = ["sqlite"] + (["postgresql"] if pg_url else [])
    plan: list[tuple[str, str | None, str, list[Action], int, str]] = [
        ("off", None, "-", async_actions, 1, "engine"),
        ("off", None, "-", sync_actions, 8, "engine"),
    ]
    for decide in ("engine", "pre"):
        for backend in backends:
            if ProcessAuditWriter is not None:
                plan.append(("proc", backend, "real", async_actions, 1, decide))
            for red in ("real", "none"):
                plan.append(("async", backend, red, async_actions, 1, decide))
                plan.append(("sync", backend, red, sync_actions, 8, decide))
    rows = []
    for mode, backend, red, actions, threads, decide in plan:
        runs = [scenario(mode, backend, red, actions, threads, pg_url, decide) for _ in range(args.repeat)]
        rates = [len(actions) / r["seconds"] for r in runs]
        lat = [x for r in runs for x in r["lat"]]
        row = {
            "mode": mode,
            "decide": decide,
            "backend": backend or "-",
            "redactor": red,
            "callers": threads,
            "decisions": len(actions),
            "per_sec_median": statistics.median(rates),
            "per_sec_runs": [round(x) for x in rates],
            "latency_us_p50": percentile(lat, 0.50),
            "latency_us_p99": percentile(lat, 0.99),
            "denied_by_audit": sum(r["failed"] for r in runs),
            # CPU microseconds per decision: this process (callers and writer thread) and
            # the writer's child process; a PostgreSQL server's own work is not counted
            "cpu_us": statistics.median((r["cpu"] + r["cpu_child"]) / len(actions) * 1e6 for r in runs),
            "cpu_child_us": statistics.median(r["cpu_child"] / len(actions) * 1e6 for r in runs),
            "records_last_run": runs[-1]["records"],
        }
        rows.append(row)
        print(
            f"# {mode:5s} decide={decide:6s} {row['backend']:10s} redactor={red:4s} callers={threads}: {row['per_sec_median']:>9,.0f}/s "
            f"p50 {row['latency_us_p50']:.1f} us p99 {row['latency_us_p99']:.1f} us",
            file=sys.stderr,
        )
    base = {r["callers"]: r["per_sec_median"] for r in rows if r["mode"] == "off"}
    for r in rows:
        r["vs_off"] = r["per_sec_median"] / base[r["callers"]]
    return rows


# --------------------------------------------------------------------------- components


def components(actions: list[Action]) -> dict[str, float]:
    """Microseconds per record for the pieces of the pipeline (median of 5 passes)."""
    from bastion import canonical
    from bastion.canonical import digest_fields
    from bastion.secrets import Redactor

    digest_bytes = getattr(canonical, "digest_bytes", None)  # absent from older trees (--src)

    engine = make_engine()
    decisions = [(engine.decide(a), a) for a in actions]
    snaps = [(d.to_dict(), a) for d, a in decisions]
    out: dict[str, float] = {}

    def per_record(fn: Callable[[Any, Any], Any], items: list[tuple[Any, Any]] = snaps) -> float:
        for d, a in items[:200]:
            fn(d, a)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for d, a in items:
                fn(d, a)
            times.append((time.perf_counter() - t0) / len(items) * 1e6)
        return statistics.median(times)

    out["decide"] = per_record(lambda d, a: engine.decide(a))
    out["decision_to_dict (caller)"] = per_record(lambda d, a: d.to_dict(), decisions)
    if digest_bytes is not None:
        out["digest_bytes"] = per_record(lambda d, a: digest_bytes(a))
    out["build_record_no_redaction"] = per_record(RecordBuilder(PassThrough()).decision)
    real = Redactor()
    out["build_record_real_redactor"] = per_record(RecordBuilder(real).decision)
    fields = {id(a): digest_fields(a) for _, a in snaps}
    out["redactor_redact_action"] = per_record(lambda d, a: real.redact_action(fields[id(a)]))
    builder = RecordBuilder(real)
    if hasattr(builder, "decisions"):  # absent from older trees (--src)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            for start in range(0, len(snaps), 1000):
                builder.decisions([(d, a, None) for d, a in snaps[start : start + 1000]])
            times.append((time.perf_counter() - t0) / len(snaps) * 1e6)
        out["build_records_in_batches_real_redactor"] = statistics.median(times)
    records = [RecordBuilder(real).decision(d, a) for d, a in snaps]
    if ProcessAuditWriter is not None:
        out["proc_child_pipeline (decode, build, append; one thread)"] = _child_pipeline(decisions)
    for label, page in (("", None), ("_4k_pages", 4096)):
        with tempfile.TemporaryDirectory(prefix="bastion-bench-") as tmp:
            path = os.path.join(tmp, "audit.db")
            if page is not None:  # a file made with another page size keeps it
                import sqlite3

                with sqlite3.connect(path) as cx:
                    cx.execute(f"PRAGMA page_size={page}")
                    cx.execute("PRAGMA journal_mode=WAL")
            store = open_store(path, synchronous=_SQLITE_SYNC[0])
            times, small = [], []
            for _ in range(5):
                t0 = time.perf_counter()
                for start in range(0, len(records), 1000):
                    store.append(records[start : start + 1000])
                times.append((time.perf_counter() - t0) / len(records) * 1e6)
            for start in range(0, 1600, 8):  # sync commits: a few records each
                t0 = time.perf_counter()
                store.append(records[start : start + 8])
                small.append((time.perf_counter() - t0) * 1e6)
            store.close()
        out[f"sqlite_append_batches_of_1000{label}"] = statistics.median(times)
        out[f"sqlite_append_of_8_records{label} (per append)"] = statistics.median(small)
    return out


def _child_pipeline(decisions: list[tuple[Any, Any]]) -> float:
    """Microseconds per record of what ProcessAuditWriter's child does with a record, in
    one thread: decode the frame, build the record with the Redactor, append in batches of
    1,000 to a fresh SQLite file (median of 3 passes)."""
    from bastion.canonical import DigestedAction, loads
    from bastion.secrets import Redactor
    from bastion.store.process_writer import _FRAME, _frame

    frames = [_frame(d.to_dict(), a, None) for d, a in decisions]
    size = _FRAME.size
    times = []
    for _ in range(3):
        with tempfile.TemporaryDirectory(prefix="bastion-bench-") as tmp:
            store = open_store(os.path.join(tmp, "audit.db"), synchronous=_SQLITE_SYNC[0])
            builder = RecordBuilder(Redactor())
            t0 = time.perf_counter()
            for start in range(0, len(frames), 1000):
                items = []
                for fr in frames[start : start + 1000]:
                    lb, lr, _ = _FRAME.unpack_from(fr, 0)
                    raw = fr[size + lb : size + lb + lr]
                    items.append((loads(fr[size : size + lb]), DigestedAction(loads(raw), raw), None))
                store.append([r for r in builder.decisions(items, owned=True)])  # type: ignore[misc]
            times.append((time.perf_counter() - t0) / len(frames) * 1e6)
            store.close()
    return statistics.median(times)


# --------------------------------------------------------------------------- verify


def verify_bench(backend: str, n: int, pg_url: str | None) -> dict[str, Any]:
    """Build an n-record chain (bodies from the real workload), then time store.verify()."""
    engine = make_engine()
    builder = RecordBuilder(PassThrough())
    distinct = [builder.decision(engine.decide(a).to_dict(), a) for a in workload(20_000)]
    with Fresh(backend, pg_url) as url:
        store = open_store(url, synchronous="normal") if backend == "sqlite" else open_store(url)
        t0 = time.perf_counter()
        batch = 10_000
        for start in range(0, n, batch):
            store.append([distinct[(start + i) % len(distinct)] for i in range(min(batch, n - start))])
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = store.verify()
        elapsed = time.perf_counter() - t0
        store.close()
    assert result.ok and result.checked == n, result
    mean_body = statistics.mean(len(p.body) for p in distinct)
    print(f"# verify {backend}: {n:,} records in {elapsed:.1f} s ({n / elapsed:,.0f}/s); appended at {n / build:,.0f}/s", file=sys.stderr)
    return {"backend": backend, "records": n, "seconds": elapsed, "per_sec": n / elapsed, "append_per_sec": n / build, "mean_body_bytes": mean_body}


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--decisions", type=int, default=30_000, help="decisions per async / single-caller run")
    ap.add_argument("--sync-decisions", type=int, default=8_000, help="decisions per sync / 8-caller run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg", default=os.environ.get("BASTION_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/bastion_bench"))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--verify-records", type=int, default=1_000_000, help="0 skips the verify measurement")
    ap.add_argument("--workload", default="mixed,tools", help=f"comma-separated, from {', '.join(WORKLOADS)} (default mixed,tools)")
    ap.add_argument("--sqlite-synchronous", choices=("full", "normal"), default="full", help="SQLite durability (default full: survives power loss)")
    ap.add_argument("--json", default=None, help="default: benchmarks/out/audit-SYNCHRONOUS.json")
    ap.add_argument("--src", default=None, help="another source tree to measure (before/after comparisons); default: this repository's src/")
    args = ap.parse_args()
    kinds = [w.strip() for w in args.workload.split(",") if w.strip()]
    for kind in kinds:
        if kind not in WORKLOADS:
            ap.error(f"unknown workload {kind!r}: choose from {', '.join(WORKLOADS)}")
    _SQLITE_SYNC[0] = args.sqlite_synchronous

    pg_url = None if args.no_pg else pg_base(args.pg)
    print(f"# {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}; workloads {', '.join(kinds)}, SQLite synchronous={args.sqlite_synchronous}; load average {os.getloadavg()[0]:.2f}; code from {SRC}", file=sys.stderr)
    results: dict[str, Any] = {}
    for kind in kinds:
        _WORKLOAD[0] = kind
        print(f"# workload {kind}", file=sys.stderr)
        results[kind] = {"components": components(workload(3000)), "rows": run_matrix(args, pg_url)}
    _WORKLOAD[0] = kinds[0]
    verifies = []
    if args.verify_records:
        verifies.append(verify_bench("sqlite", args.verify_records, None))
        if pg_url:
            verifies.append(verify_bench("postgresql", args.verify_records, pg_url))

    for kind in kinds:
        rows, comp = results[kind]["rows"], results[kind]["components"]
        print(f"\nAudit log throughput, workload {kind}, SQLite synchronous={args.sqlite_synchronous} (median of {args.repeat} runs; async counts until every record is committed)")
        print(f"{'mode':6} {'decide':7} {'backend':11} {'redactor':9} {'callers':>7} {'decisions/s':>12} {'vs off':>7} {'p50 us':>8} {'p99 us':>8} {'denied':>7} {'cpu us':>7} {'child':>6} {'2-core max/s':>12}")
        for r in rows:
            print(
                f"{r['mode']:6} {r['decide']:7} {r['backend']:11} {r['redactor']:9} {r['callers']:>7} {r['per_sec_median']:>12,.0f} "
                f"{r['vs_off']:>7.2f} {r['latency_us_p50']:>8.1f} {r['latency_us_p99']:>8.1f} {r['denied_by_audit']:>7} "
                f"{r['cpu_us']:>7.1f} {r['cpu_child_us']:>6.1f} {2e6 / r['cpu_us'] if r['cpu_us'] else 0:>12,.0f}"
            )
        print(
            "cpu us: CPU time per decision of this process (callers, writer thread) plus, for proc, the writer's\n"
            "child (its share in `child`); a PostgreSQL server's work is not counted. 2-core max/s: 2,000,000 / cpu us,\n"
            "the most two fully busy cores could do at that cost."
        )
        print(f"\nPer-record cost of the pieces, workload {kind} (microseconds, median of 5 passes over 3,000 decisions)")
        for k, v in comp.items():
            print(f"  {k:50s} {v:8.1f}")
    if verifies:
        print(f"\nVerify (store.verify(): hash, link and column checks on every record; bodies from workload {kinds[0]})")
        for v in verifies:
            print(f"  {v['backend']:11s} {v['records']:>10,} records  {v['seconds']:7.1f} s  {v['per_sec']:>10,.0f} records/s  (mean body {v['mean_body_bytes']:.0f} bytes)")
    print(f"\n(load average {os.getloadavg()[0]:.2f} at the end; the machine is shared: figures move by +-20% between runs)")
    out = Path(args.json or ROOT / "benchmarks" / "out" / f"audit-{args.sqlite_synchronous}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"workloads": results, "sqlite_synchronous": args.sqlite_synchronous, "verify": verifies, "python": platform.python_version(), "cores": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
