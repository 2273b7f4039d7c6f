"""Shared fixtures. Tests needing services are marked (postgres, redis, browser) and run by .ci/run.

PostgreSQL tests use `BASTION_TEST_PG` (default postgresql://postgres@127.0.0.1:5432/bastion_test),
create that database when missing, and give every test its own schema, dropped after.
They skip, saying why, only when no server answers.
"""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

PG_URL = os.environ.get("BASTION_TEST_PG", "postgresql://postgres@127.0.0.1:5432/bastion_test")


@pytest.fixture
def write_policy(tmp_path: Path):
    """Write a YAML policy (dedented) into tmp_path and return its path."""

    def _write(text: str, name: str = "policy.yaml", directory: Path | None = None) -> Path:
        d = directory or tmp_path
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return p

    return _write


class Clock:
    """An injectable clock: tests move time explicitly, never sleep."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


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
    """Asked once per run: every PostgreSQL test skips for the same reason."""
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
    """A fresh, empty schema on the test database, as a store or state URL."""
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


# --------------------------------------------------------------------------- audit store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """An audit store URL, once on SQLite and once (marked postgres) on its own PostgreSQL schema."""
    if request.param == "sqlite":
        return str(tmp_path / "audit.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Any]:
    """An open store with the default redactor (tests/store overrides it with a fake one)."""
    from bastion.store import open_store

    st = open_store(store_url)
    try:
        yield st
    finally:
        st.close()
