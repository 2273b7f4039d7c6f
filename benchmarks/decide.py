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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

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
    for it in items[:200]:  # warm-up: fill capability buckets and caches
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
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    results = {"stateless": bench_sizes(sizes, args.repeat)}
    print_table("Engine.decide, target-pattern rules (microseconds per decision)", results["stateless"])
    for section in SECTIONS:
        results[section.__name__] = section(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


#: further sections, each a function(args) -> rows that prints its own table
SECTIONS: list = []


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
    print(f"\nAnalysis of shell.exec commands (microseconds); decide rows use builtin:coding-agent")
    print(f"  {'what':52s} {'n':>5s} {'median_us':>10s} {'p99_us':>10s} {'x_plain':>8s} {'x_precomputed':>13s}")
    for r in rows:
        print(f"  {r['what']:52s} {r['n']:5d} {r['median_us']:10.2f} {r['p99_us']:10.2f} {r['x_plain']!s:>8s} {r['x_precomputed']!s:>13s}")
    return rows


SECTIONS.append(analysis)

if __name__ == "__main__":
    main()
