"""Wall time per call of the Claude Code PreToolUse hook, as Claude Code runs it (a new process per call).

    .venv/bin/python benchmarks/hook.py [--calls 60] [--policy builtin:coding-agent]

Measures, on the recorded PreToolUse inputs of tests/integrations/data/claude_code:
  * fast client -> warm daemon   (the command `bastion hook install claude-code` writes)
  * `bastion hook claude-code`   (the click CLI, same daemon)
  * one-shot, no daemon          (`--no-daemon`: compiles the policy on every call)
and, as peers measured in the same run: a bare `python -S -c pass`, and `python -c "import bastion.engine"`.
Prints median and p99 wall time (ms) and the ratio to the bare interpreter start.
The daemon's first call (start-up and policy compile) is reported separately.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "src" / "bastion" / "integrations" / "hook_client.py"
CASES = [json.loads(x)["input"] for x in (ROOT / "tests/integrations/data/claude_code/cases.jsonl").read_text().splitlines() if x.strip()]


def timed(cmd: list[str], payload: bytes, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, input=payload, capture_output=True, env=env, cwd=ROOT)
    return (time.perf_counter() - t0) * 1000, r


def series(name: str, cmd: list[str], n: int, env: dict, check: bool = True) -> dict:
    times = []
    for i in range(n):
        payload = json.dumps(CASES[i % len(CASES)]).encode()
        ms, r = timed(cmd, payload, env)
        if check and r.returncode not in (0, 2):
            raise SystemExit(f"{name}: exit {r.returncode}: {r.stderr.decode()[-400:]}")
        if check and r.returncode == 0 and r.stdout and not r.stdout.lstrip().startswith(b"{"):
            raise SystemExit(f"{name}: unexpected output {r.stdout[:200]!r}")
        times.append(ms)
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    return {"name": name, "n": n, "median": statistics.median(times), "p99": p99}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=60)
    ap.add_argument("--oneshot-calls", type=int, default=5)
    ap.add_argument("--policy", default="builtin:coding-agent")
    args = ap.parse_args()

    py = sys.executable
    bastion = str(Path(py).with_name("bastion"))
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "BASTION_HOOK_DIR": d, "BASTION_HOOK_IDLE": "300"}
        fast = [py, "-P", "-S", str(CLIENT), "claude-code", "--policy", args.policy]
        first_ms, r = timed(fast, json.dumps(CASES[0]).encode(), env)
        if r.returncode != 0:
            raise SystemExit(f"first call failed: {r.stderr.decode()[-400:]}")
        rows = [
            series("python -S -c pass (interpreter start)", [py, "-S", "-c", "pass"], args.calls, env, check=False),
            series("python -c 'import bastion.engine'", [py, "-c", "import bastion.engine"], max(5, args.calls // 4), env, check=False),
            series("hook: fast client -> warm daemon", fast, args.calls, env),
            series("hook: `bastion hook claude-code` -> warm daemon", [bastion, "hook", "claude-code", "--policy", args.policy], max(5, args.calls // 4), env),
            series("hook: one-shot (--no-daemon)", fast + ["--no-daemon"], args.oneshot_calls, env),
        ]
        for pid_file in Path(d).glob("*.pid"):
            try:
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
    base = rows[0]["median"]
    print(f"Claude Code hook wall time per call ({args.policy}; {os.cpu_count()} cores)")
    print(f"daemon start + first decision: {first_ms:.1f} ms")
    print(f"{'what':52} {'calls':>5} {'median ms':>10} {'p99 ms':>8} {'x start':>8}")
    for row in rows:
        print(f"{row['name']:52} {row['n']:>5} {row['median']:>10.1f} {row['p99']:>8.1f} {row['median'] / base:>8.1f}")


if __name__ == "__main__":
    main()
