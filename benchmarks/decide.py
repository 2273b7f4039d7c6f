"""Per-decision latency of `Engine.decide`, for generated policies of 10 to 10,000 rules.

    python benchmarks/decide.py [--sizes 10,100,1000,10000] [--repeat 5] [--json OUT]

Rules are target-pattern rules (path globs, as policies about files are written);
actions hit a random rule or none. Reports median and p99 in microseconds per
decision, measured one decision at a time with perf_counter_ns, after a warm-up.
Other sections (analysis, stateful rules) are added by the stages that own them.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path

#: `--src DIR`: the same measurements on another source tree, for before/after comparisons
#: (`git archive REV src | tar -x -C /tmp/before`, then `--src /tmp/before/src`)
SRC = Path(sys.argv[sys.argv.index("--src") + 1]) if "--src" in sys.argv[:-1] else Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC.resolve()))

from bastion.engine import Engine  # noqa: E402
from bastion.model import Action  # noqa: E402


def rule_set(n: int) -> str:
    """n path-glob rules on filesystem.read, alternating allow/deny, plus a default."""
    lines = ["policy: bench", "layer: org", "defaults: allow", "rules:"]
    for i in range(n):
        effect = "deny" if i % 2 else "allow"
        lines.append(f"  - {{id: r{i}, match: {{capability: filesystem.read, target: {{path: '/srv/data/d{i}/**'}}}}, effect: {effect}}}")
    return "\n".join(lines) + "\n"


def workload(n: int, count: int = 2000, seed: int = 7) -> list[Action]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        i = rng.randrange(n * 11 // 10)  # about 10% miss every rule
        out.append(Action(capability="filesystem.read", target=f"/srv/data/d{i}/file-{rng.randrange(100)}.txt"))
    return out


def measure(fn, items, repeat: int) -> list[int]:
    for it in items:  # warm-up: steady state (buckets built, analysis cached; its uncached cost is its own section)
        fn(it)
    samples: list[int] = []
    gc.disable()
    try:
        for _ in range(repeat):
            for it in items:
                t0 = time.perf_counter_ns()
                fn(it)
                samples.append(time.perf_counter_ns() - t0)
    finally:
        gc.enable()
    return samples


def summary(samples: list[int]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99) - 1] / 1000


def bench_sizes(sizes: list[int], repeat: int) -> list[dict]:
    rows = []
    for n in sizes:
        t0 = time.perf_counter()
        engine = Engine.from_texts({"bench.yaml": rule_set(n)}, check_examples=False)
        compile_s = time.perf_counter() - t0
        med, p99 = summary(measure(engine.decide, workload(n), repeat))
        rows.append({"rules": n, "compile_s": round(compile_s, 3), "median_us": round(med, 2), "p99_us": round(p99, 2), "p99_over_median": round(p99 / med, 2)})
    return rows


def print_table(title: str, rows: list[dict]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    print(f"\n{title}")
    print("  ".join(f"{c:>16}" for c in cols))
    for r in rows:
        print("  ".join(f"{r[c]!s:>16}" for c in cols))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default=None, help="also write the results as JSON to this file")
    ap.add_argument("--sections", default=None, help="comma-separated: stateless and the names of the further sections (default: all)")
    ap.add_argument("--src", default=None, help="the source tree to measure (default: this checkout's src/)")
    args = ap.parse_args()
    wanted = set(args.sections.split(",")) if args.sections else None
    sizes = [int(x) for x in args.sizes.split(",")]
    results = {}
    if wanted is None or "stateless" in wanted:
        results["stateless"] = bench_sizes(sizes, args.repeat)
        print_table("Engine.decide, target-pattern rules (microseconds per decision)", results["stateless"])
    for section in SECTIONS:
        if wanted is None or section.__name__ in wanted:
            results[section.__name__] = section(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


#: further sections, each a function(args) -> rows that prints its own table
SECTIONS: list = []


# --------------------------------------------------------------------------- pattern conditions


def pattern_rules(per_condition: int, rules: int = 20) -> str:
    """`rules` tool rules, each with a glob condition on args.query (`per_condition`
    patterns in one matcher) and a regex condition on args.path."""
    lines = ["policy: bench-patterns", "layer: org", "defaults: allow", "rules:"]
    for i in range(rules):
        globs = ", ".join(f"'*topic-{i}-{k}*'" for k in range(per_condition))
        lines.append(
            f"  - {{id: p{i}, match: {{capability: tool.call, target: search_docs, args.query: {{glob: [{globs}]}}, "
            f"args.path: {{regex: '^/srv/(a|b)/{i}/'}}}}, effect: {'deny' if i % 2 else 'log_only'}}}"
        )
    return "\n".join(lines) + "\n"


def pattern_actions(rules: int = 20, per_condition: int = 8, count: int = 2000, seed: int = 11) -> list[Action]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        i, k = rng.randrange(rules), rng.randrange(per_condition * 2)  # half name no pattern
        query = f"notes on topic-{i}-{k} for the release" if rng.random() < 0.5 else f"what changed in module {rng.randrange(500)}"
        out.append(Action(capability="tool.call", target="search_docs", args={"query": query, "path": f"/srv/{'ab'[i % 2]}/{i}/f{k}.md"}))
    return out


def patterns(args) -> list[dict]:
    """Rules whose conditions test string patterns on fields other than the indexed
    target: every candidate rule's patterns run on each decision."""
    rows = []
    actions = pattern_actions()
    for per in (1, 8):
        engine = Engine.from_texts({"bench.yaml": pattern_rules(per)}, check_examples=False)
        med, p99 = summary(measure(engine.decide, actions, args.repeat))
        rows.append({"patterns_per_condition": per, "rules": 20, "median_us": round(med, 2), "p99_us": round(p99, 2)})
    print_table("Engine.decide, 20 rules with pattern conditions on args (glob, regex) (microseconds per decision)", rows)
    return rows


SECTIONS.append(patterns)


# --------------------------------------------------------------------------- stateful rules (bastion.state)

STATEFUL_RULES = """
  - {id: tools, match: {capability: tool.call}, rate_limit: {max: 1000, per: 1m, key: agent}, effect: allow}
  - id: egress-after-env
    match: {capability: network.request, session.did: {capability: filesystem.read, target: {path: "**/.env"}}}
    effect: deny
  - {id: compute, match: {capability: llm.call}, budget: {cost_usd: 1000}, effect: log_only}
"""
#: the same rules without state: what the stateless engine decides for comparison
STATELESS_RULES = """
  - {id: tools, match: {capability: tool.call}, effect: allow}
  - {id: egress-after-env, match: {capability: network.request, target: "https://never.example/*"}, effect: deny}
  - {id: compute, match: {capability: llm.call, args.cost_usd: "> 1000"}, effect: log_only}
"""


def session_rule_set(n: int) -> str:
    """n path-glob rules on filesystem.read, one in ten a deny (agents are mostly allowed to work)."""
    lines = ["policy: bench", "layer: org", "defaults: allow", "rules:"]
    for i in range(n):
        effect = "deny" if i % 10 == 9 else "allow"
        lines.append(f"  - {{id: r{i}, match: {{capability: filesystem.read, target: {{path: '/srv/data/d{i}/**'}}}}, effect: {effect}}}")
    return "\n".join(lines) + "\n"


def stateful_workload(count: int = 2000, seed: int = 11) -> list[Action]:
    """200 sessions of 20 agents: 80% file reads (about 9% of them denied), 2% reads of a
    .env file, 8% tool calls, 5% network requests, 5% LLM calls."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        who = {"agent": {"id": f"agent-{rng.randrange(20)}"}, "session": {"id": f"s-{rng.randrange(200)}"}}
        r = rng.random()
        if r < 0.80:
            a = {"capability": "filesystem.read", "target": f"/srv/data/d{rng.randrange(110)}/f.txt"}
        elif r < 0.82:
            a = {"capability": "filesystem.read", "target": "/srv/app/.env"}
        elif r < 0.90:
            a = {"capability": "tool.call", "target": "search"}
        elif r < 0.95:
            a = {"capability": "network.request", "target": "https://api.example.com/v1"}
        else:
            a = {"capability": "llm.call", "target": "model", "args": {"cost_usd": 0.01, "tokens": 500}}
        out.append(Action.from_dict({**a, **who}))
    return out


def _stepping_clock(step: float = 0.005):
    t = [1_790_000_000.0]

    def clock() -> float:
        t[0] += step
        return t[0]

    return clock


def _interleaved(engines: dict[str, object], items: list[Action], rounds: int) -> dict[str, list[int]]:
    """Time every engine on the same items, round after round, so that they share the
    machine's ups and downs (other processes) instead of each getting its own."""
    samples: dict[str, list[int]] = {k: [] for k in engines}
    for e in engines.values():
        for it in items[:200]:
            e.decide(it)
    for _ in range(rounds):
        for name, e in engines.items():
            gc.disable()
            try:
                out = samples[name]
                for it in items:
                    t0 = time.perf_counter_ns()
                    e.decide(it)
                    out.append(time.perf_counter_ns() - t0)
            finally:
                gc.enable()
    return samples


def stateful(args) -> list[dict]:
    """Engine.decide with stateful rules (rate limit, session.did, budget, escalation) per state
    backend, against the same decisions made statelessly (state=None) in the same run."""
    import tempfile
    import uuid

    base = session_rule_set(100)
    escalation = "escalation: {window: 10m, denials: {alert: 3, terminate: 1000000}}\n"
    stateful_text = base.replace("rules:\n", escalation + "rules:\n") + STATEFUL_RULES.lstrip("\n")
    stateless_text = base + STATELESS_RULES.lstrip("\n")
    items = stateful_workload()
    tmp = tempfile.TemporaryDirectory()
    redis_url = None
    try:
        import redis as redis_client
        redis_client.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1).ping()
        redis_url = f"redis://127.0.0.1:6379/0?prefix=bastion-bench-{uuid.uuid4().hex[:8]}:"
    except Exception as exc:  # noqa: BLE001
        print(f"(redis: skipped: {type(exc).__name__}: {exc})")

    def make(text: str, state: object) -> Engine:
        return Engine.from_texts({"b.yaml": text}, check_examples=False, state=state, clock=_stepping_clock())

    fast = {
        "stateless rules, state=None": make(stateless_text, None),
        "stateless rules, memory state": make(stateless_text, "memory"),
        "stateful rules, memory": make(stateful_text, "memory"),
    }
    samples = _interleaved(fast, items, max(1, args.repeat))
    io_engines = {"stateful rules, sqlite": make(stateful_text, str(Path(tmp.name) / "state.db"))}
    if redis_url is not None:
        io_engines["stateful rules, redis"] = make(stateful_text, redis_url)
    samples.update(_interleaved(io_engines, items, 1))  # I/O-bound: one round is plenty
    base_med = statistics.median(samples["stateless rules, state=None"]) / 1000
    rows = []
    for name, values in samples.items():
        med, p99 = summary(values)
        rows.append({"engine": name, "median_us": round(med, 2), "p99_us": round(p99, 2), "x_stateless": round(med / base_med, 2)})
    for e in (*fast.values(), *io_engines.values()):
        e.close()
    if redis_url is not None:
        from bastion.state.redis_backend import RedisState

        RedisState(redis_url).delete_all()
    tmp.cleanup()
    print_table("Engine.decide with session state: 100 path rules + rate limit, session.did, budget, escalation (microseconds)", rows)
    return rows


SECTIONS.append(stateful)

# --------------------------------------------------------------------------- analysis (bastion.analysis)


def _analysis_commands(count: int = 1000, seed: int = 5) -> list[str]:
    """Typical agent shell commands: a fixed sample of the dippy and dcg corpora (both allow
    and block rows), which mix plain lines with quotes, pipes, substitutions and SQL."""
    corpora = Path("/work/shared/corpora")
    pool: list[str] = []
    for rel in ("dippy/dippy_commands.jsonl", "dcg/dcg_commands.jsonl", "dcg_go/dcg_go_golden.jsonl"):
        p = corpora / rel
        if p.exists():
            for line in p.read_text().splitlines():
                cmd = json.loads(line).get("command")
                if isinstance(cmd, str) and cmd.strip():
                    pool.append(cmd)
    if not pool:  # the corpora are not on this machine: a small built-in set
        pool = ["git status", "ls -la src", "cat README.md | head -20", "rm -rf build", "git push --force origin main",
                "psql -c 'SELECT * FROM users LIMIT 5'", "curl -s https://api.example.com/v1/items | jq .", "cd web && npm test"]
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(count)]


def analysis(args) -> list[dict]:
    """The cost of analysis alone (uncached and cached), and Engine.decide with builtin:coding-agent:
    without analysis (the action only), with the same subjects precomputed (rule evaluation of
    every derived action, no analysis), with analysis hitting its cache, and uncached.
    p99 on a shared machine includes scheduler noise; medians are the figures to compare."""
    from bastion.analysis import Analyzer
    from bastion.analysis.shell import _PLAIN
    from bastion.engine import _IdentityAnalyzer

    cmds = _analysis_commands()
    actions = [Action(capability="shell.exec", target=c) for c in cmds]
    plain = [a for a in actions if _PLAIN.match(a.target or "")]
    syntax = [a for a in actions if not _PLAIN.match(a.target or "")]
    repeat = max(1, args.repeat)
    rows = []

    def uncached(analyzer: Analyzer):
        def run(a: Action) -> None:
            analyzer.clear_cache()
            analyzer.analyze(a)

        return run

    az = Analyzer()
    # clear_cache is timed too; it is a dictionary reset (~0.2 us), measured below and subtracted
    clear = summary(measure(lambda a: az.clear_cache(), actions, repeat))[0]
    for name, items in (("all (median %d chars)" % statistics.median(len(c) for c in cmds), actions), ("plain words only", plain), ("with shell syntax", syntax)):
        med, p99 = summary(measure(uncached(az), items, repeat))
        rows.append({"what": f"analyze, uncached: {name}", "n": len(items), "median_us": round(med - clear, 2), "p99_us": round(p99 - clear, 2)})
    az = Analyzer()
    for a in actions:
        az.analyze(a)
    med, p99 = summary(measure(az.analyze, actions, repeat))
    rows.append({"what": "analyze, cached (repeats)", "n": len(actions), "median_us": round(med, 2), "p99_us": round(p99, 2)})

    base = Engine.from_paths(["builtin:coding-agent"], analyzer=_IdentityAnalyzer(), check_examples=False)
    base_med, base_p99 = summary(measure(base.decide, actions, repeat))
    rows.append({"what": "decide, coding-agent, no analysis (plain engine)", "n": len(actions), "median_us": round(base_med, 2), "p99_us": round(base_p99, 2)})
    pre = Analyzer()
    table = {id(a): pre.analyze(a) for a in actions}

    class Precomputed:
        """The same subjects, looked up: rule evaluation of every subject, no analysis at all."""

        def analyze(self, a: Action):
            return table[id(a)]

    same = Engine.from_paths(["builtin:coding-agent"], analyzer=Precomputed(), check_examples=False)
    same_med, same_p99 = summary(measure(same.decide, actions, repeat))
    rows.append({"what": "decide, coding-agent, same subjects precomputed", "n": len(actions), "median_us": round(same_med, 2), "p99_us": round(same_p99, 2), "x_plain": round(same_med / base_med, 2)})
    cached = Engine.from_paths(["builtin:coding-agent"], analyzer=Analyzer())
    for a in actions:
        cached.decide(a)
    med, p99 = summary(measure(cached.decide, actions, repeat))
    rows.append({"what": "decide, coding-agent, analysis cached", "n": len(actions), "median_us": round(med, 2), "p99_us": round(p99, 2), "x_plain": round(med / base_med, 2), "x_precomputed": round(med / same_med, 2)})
    fresh = Analyzer()
    nocache = Engine.from_paths(["builtin:coding-agent"], analyzer=fresh)

    def decide_uncached(a: Action) -> None:
        fresh.clear_cache()
        nocache.decide(a)

    med, p99 = summary(measure(decide_uncached, actions, repeat))
    rows.append({"what": "decide, coding-agent, analysis uncached", "n": len(actions), "median_us": round(med - clear, 2), "p99_us": round(p99 - clear, 2), "x_plain": round((med - clear) / base_med, 2), "x_precomputed": round((med - clear) / same_med, 2)})
    for r in rows:
        r.setdefault("x_plain", "")
        r.setdefault("x_precomputed", "")
    print("\nAnalysis of shell.exec commands (microseconds); decide rows use builtin:coding-agent")
    print(f"  {'what':52s} {'n':>5s} {'median_us':>10s} {'p99_us':>10s} {'x_plain':>8s} {'x_precomputed':>13s}")
    for r in rows:
        print(f"  {r['what']:52s} {r['n']:5d} {r['median_us']:10.2f} {r['p99_us']:10.2f} {r['x_plain']!s:>8s} {r['x_precomputed']!s:>13s}")
    return rows


SECTIONS.append(analysis)

if __name__ == "__main__":
    main()
