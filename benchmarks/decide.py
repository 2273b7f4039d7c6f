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

if __name__ == "__main__":
    main()
