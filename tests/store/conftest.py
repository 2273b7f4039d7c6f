"""Fixtures for the store tests: one parametrised `store` over SQLite and PostgreSQL.

PostgreSQL tests use `BASTION_TEST_PG` (default postgresql://postgres@127.0.0.1:5432/bastion_test),
create that database when missing, and give every test its own schema, dropped after.
They skip, saying why, only when no server answers.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any, Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from bastion.model import Action, Decision, Effect, Layer, RuleMatch, Severity

PG_URL = os.environ.get("BASTION_TEST_PG", "postgresql://postgres@127.0.0.1:5432/bastion_test")

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


# --------------------------------------------------------------------------- PostgreSQL


def _with_db(url: str, db: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + db, p.query, p.fragment))


def _pg_available() -> str | None:
    """None when PG_URL's server answers (creating the database if needed), else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    dbname = urlsplit(PG_URL).path.lstrip("/") or "bastion_test"
    try:
        with psycopg.connect(_with_db(PG_URL, "postgres"), autocommit=True, connect_timeout=3) as cx:
            exists = cx.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if not exists:
                cx.execute(f'CREATE DATABASE "{dbname}"')
    except psycopg.errors.DuplicateDatabase:
        pass
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {PG_URL} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    return None


_PG_STATUS: list[str | None] = []


def pg_skip_reason() -> str | None:
    if not _PG_STATUS:
        _PG_STATUS.append(_pg_available())
    return _PG_STATUS[0]


def pg_schema_url(schema: str) -> str:
    p = urlsplit(PG_URL)
    opt = "options=" + quote(f"-csearch_path={schema}")
    query = f"{p.query}&{opt}" if p.query else opt
    return urlunsplit((p.scheme, p.netloc, p.path, query, p.fragment))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty schema on the test database, as a store URL."""
    why = pg_skip_reason()
    if why:
        pytest.skip(why)
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_URL, autocommit=True) as cx:
        cx.execute(f"CREATE SCHEMA {schema}")
    try:
        yield pg_schema_url(schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as cx:
            cx.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "audit.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str, redactor: FakeRedactor) -> Iterator[Any]:
    from bastion.store import open_store

    st = open_store(store_url)
    st.redactor = redactor
    try:
        yield st
    finally:
        st.close()


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
