"""Fixtures for the store tests: the shared `store` (tests/conftest.py: SQLite and PostgreSQL) with a fake redactor."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from bastion.model import Action, Decision, Effect, Layer, RuleMatch, Severity

#: A test double for bastion.secrets.Redactor: it knows one fake token shape only.
FAKE_SECRET = re.compile(r"sk-test-[A-Za-z0-9]{20}")


class FakeRedactor:
    def __init__(self) -> None:
        self.calls = 0

    def _walk(self, value: Any, path: str, found: list[dict[str, str]]) -> Any:
        if isinstance(value, str):
            if FAKE_SECRET.search(value):
                found.append({"kind": "fake_token", "path": path or "$", "marker": "[REDACTED:fake_token]"})
                return FAKE_SECRET.sub("[REDACTED:fake_token]", value)
            return value
        if isinstance(value, dict):
            return {k: self._walk(v, f"{path}.{k}" if path else k, found) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._walk(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
        return value

    def redact_value(self, value: Any) -> tuple[Any, list[dict[str, str]]]:
        self.calls += 1
        found: list[dict[str, str]] = []
        return self._walk(value, "", found), found

    def redact_action(self, action: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
        return self.redact_value(action)


@pytest.fixture
def redactor() -> FakeRedactor:
    return FakeRedactor()


@pytest.fixture
def store(store: Any, redactor: FakeRedactor) -> Any:
    """The shared store fixture (tests/conftest.py: SQLite and PostgreSQL) with the fake redactor."""
    store.redactor = redactor
    return store


# --------------------------------------------------------------------------- data


def _make_action(i: int = 0, **over: Any) -> Action:
    data: dict[str, Any] = {
        "capability": "shell.exec" if i % 2 else "filesystem.read",
        "target": f"cat /srv/file-{i}.txt",
        "args": {"cwd": "/srv", "n": i},
        "agent": {"id": f"agent-{i % 3}", "role": "coding-agent"},
        "session": {"id": f"s-{i % 5}"},
    }
    data.update(over)
    return Action.from_dict(data)


def _make_decision(action: Action, i: int = 0, effect: Effect = Effect.DENY, **over: Any) -> Decision:
    fields: dict[str, Any] = dict(
        decision_id=f"d-{uuid.uuid4().hex[:8]}-{i}",
        action_id=action.id,
        decision=effect,
        reason=f"rule {i % 4} says so",
        policy_ids=["builtin:coding-agent"],
        rules=[RuleMatch("builtin:coding-agent", f"rule-{i % 4}", Layer.SYSTEM, effect, "coding-agent.yaml:10", version="3")],
        severity=Severity.HIGH,
        risk_score=10 * (i % 10),
        timestamp=1_790_000_000.0 + i,
    )
    fields.update(over)
    return Decision(**fields)


@pytest.fixture(name="make_action")
def make_action_fixture() -> Any:
    return _make_action


@pytest.fixture(name="make_decision")
def make_decision_fixture() -> Any:
    return _make_decision
