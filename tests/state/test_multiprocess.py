"""Several processes sharing one state: exact rate limits, termination seen by all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

WORKER = str(Path(__file__).with_name("state_worker.py"))
POLICY = """policy: shared
defaults: allow
rules:
  - {id: tools, match: {capability: tool.call}, rate_limit: {max: 100, per: 1m, key: agent}, effect: allow}
  - {id: kill, match: {capability: shell.exec, target: "curl * | sh"}, effect: terminate}
"""


class Worker:
    def __init__(self, state: str, policy: Path) -> None:
        self.p = subprocess.Popen([sys.executable, WORKER, state, str(policy)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ready(self) -> None:
        assert self.p.stdout.readline().strip() == "ready"

    def send(self, cmd: str) -> None:
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def answer(self) -> str:
        line = self.p.stdout.readline()
        assert line, "the worker died"
        return line.strip()

    def ask(self, cmd: str) -> str:
        self.send(cmd)
        return self.answer()

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait(timeout=60)


@pytest.fixture(params=[pytest.param("redis", marks=[pytest.mark.redis, pytest.mark.slow]), pytest.param("sqlite", marks=pytest.mark.slow)])
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Worker]]:
    state = str(tmp_path / "shared.db") if request.param == "sqlite" else request.getfixturevalue("redis_url")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    ws = [Worker(state, policy) for _ in range(4)]
    try:
        for w in ws:
            w.ready()
        yield ws
    finally:
        for w in ws:
            w.close()


def test_processes_share_limits_and_terminations(workers: list[Worker]) -> None:
    # 4 processes x 60 calls at the same instant, all at once: exactly 100 are admitted
    for w in workers:
        w.send("limit 60")
    allowed = [int(w.answer()) for w in workers]
    assert sum(allowed) == 100, allowed
    # a session is open everywhere, terminated in one process, then terminated in all
    assert [w.ask("check s-shared") for w in workers] == ["allow"] * 4
    assert workers[0].ask("terminate s-shared") == "terminate"
    assert [w.ask("check s-shared") for w in workers[1:]] == ["terminate"] * 3
