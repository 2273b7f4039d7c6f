"""Fixtures for the enforcement-point tests: the test policy, engines, a fake approval stage.

`FakeApprovalStage` stands in for issue 7's approval store (durable requests with ids):
it gives every `require_approval` decision an `approval_id` bound to the action digest,
and lets an approved action through once. Tests use it to check that adapters carry the
id to the approver and that only the store's approval counts when one exists.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable

import pytest

from bastion.canonical import action_digest
from bastion.engine import Engine
from bastion.model import Effect

DATA = Path(__file__).parent / "data"
POLICY = DATA / "policy.yaml"
#: a fake AWS key (the documentation example) that the secret scanner recognises
SECRET = "AKIAIOSFODNN7EXAMPLE"


class FakeApprovalStage:
    def __init__(self) -> None:
        self.requests: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def before(self, engine: Engine, action: Any, now: float) -> Any:
        digest = action_digest(action)
        for aid, req in self.requests.items():
            if req["digest"] == digest and req["status"] == "approved":
                req["status"] = "consumed"
                return engine.new_decision(action, now, Effect.ALLOW, f"approved by {req['by']} ({aid})", extra={"approval_id": aid})
        return None

    def after(self, engine: Engine, decision: Any, action: Any, now: float) -> Any:
        if decision.decision == Effect.REQUIRE_APPROVAL:
            digest = action_digest(action)
            for aid, req in self.requests.items():
                if req["digest"] == digest and req["status"] == "pending":
                    break
            else:
                aid = f"apr-{next(self._ids)}"
                self.requests[aid] = {"digest": digest, "status": "pending", "by": None}
            decision.extra["approval_id"] = aid
        return decision

    def approve(self, aid: str, by: str = "sam@example.com") -> None:
        self.requests[aid].update(status="approved", by=by)

    def pending(self) -> list[str]:
        return [a for a, r in self.requests.items() if r["status"] == "pending"]


class Side:
    """The tools' side effects, to prove what ran and with which arguments.

    `functions()` are plain functions; each framework's tests wrap them as that framework's tools.
    """

    def __init__(self, deployed: Callable[[str], Any] = lambda service: f"deployed {service}") -> None:
        self.log: list[tuple[str, Any]] = []
        self.deployed = deployed

    def functions(self) -> list[Callable[..., Any]]:
        side = self

        def read_file(path: str) -> str:
            """Read a file."""
            side.log.append(("read_file", path))
            return f"contents of {path}: AWS_ACCESS_KEY_ID={SECRET}"

        def send_note(text: str) -> str:
            """Send a note."""
            side.log.append(("send_note", text))
            return "sent"

        def deploy(service: str) -> Any:
            """Deploy a service."""
            side.log.append(("deploy", service))
            return side.deployed(service)

        def exfiltrate() -> str:
            """Never allowed."""
            side.log.append(("exfiltrate", None))
            return "oops"

        return [read_file, send_note, deploy, exfiltrate]


@pytest.fixture
def side() -> Side:
    return Side()


@pytest.fixture(scope="session")
def policy_path() -> Path:
    return POLICY


@pytest.fixture(scope="session")
def shared_engine() -> Engine:
    """One engine for read-only use across tests (compiling is the slow part)."""
    return Engine.from_paths([str(POLICY)])


@pytest.fixture
def engine() -> Engine:
    return Engine.from_paths([str(POLICY)], check_examples=False)


@pytest.fixture
def approvals() -> FakeApprovalStage:
    return FakeApprovalStage()


@pytest.fixture
def store_engine(approvals: FakeApprovalStage) -> Engine:
    return Engine.from_paths([str(POLICY)], stages=[approvals], check_examples=False)
