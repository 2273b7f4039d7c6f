"""Fixtures for the state tests: every test that takes `state_url` runs on each backend.

memory and SQLite always; Redis (`@pytest.mark.redis`) against the server at
BASTION_TEST_REDIS (default redis://127.0.0.1:6379/0) with a random key prefix per
test, deleted after; PostgreSQL (`@pytest.mark.postgres`) in a fresh schema of
BASTION_TEST_PG (`pg_url`, tests/conftest.py). Service tests skip, saying why, only when no server answers.
"""

from __future__ import annotations

import os
import textwrap
import uuid
from typing import Any, Iterator

import pytest

REDIS_URL = os.environ.get("BASTION_TEST_REDIS", "redis://127.0.0.1:6379/0")

T0 = 1_790_000_000.0  # 2026-09-21T14:13:20Z: where the shared `clock` (tests/conftest.py) starts


_REDIS: list[str | None] = []


def redis_skip_reason() -> str | None:
    if not _REDIS:
        try:
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
            _REDIS.append(None)
        except Exception as exc:  # noqa: BLE001 - any failure means "no server"
            _REDIS.append(f"no Redis server at {REDIS_URL} ({type(exc).__name__}: {exc}); scripts/services starts one")
    return _REDIS[0]


def fresh_redis_url() -> str:
    return f"{REDIS_URL}?prefix=bastion-test-{uuid.uuid4().hex[:12]}:"


def drop_redis(url: str) -> None:
    from bastion.state.redis_backend import RedisState

    r = RedisState(url)
    try:
        r.delete_all()
    finally:
        r.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    why = redis_skip_reason()
    if why:
        pytest.skip(why)
    url = fresh_redis_url()
    try:
        yield url
    finally:
        drop_redis(url)


BACKENDS = [
    "memory",
    "sqlite",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def state_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A state spec for `Engine(state=...)` / `open_state(...)`, one per backend."""
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def backend(state_url: str) -> Iterator[Any]:
    from bastion.state import open_state

    b = open_state(state_url)
    try:
        yield b
    finally:
        b.close()


def policy(text: str) -> str:
    return textwrap.dedent(text).lstrip()


@pytest.fixture
def make_engine(backend: Any, clock: Any) -> Iterator[Any]:
    """Engines on the test's backend (shared between the engines of one test) and clock."""
    from bastion.engine import Engine

    made: list[Any] = []

    def make(*texts: str, **kw: Any) -> Any:
        files = {f"p{i}.yaml": policy(t) for i, t in enumerate(texts)}
        kw.setdefault("clock", clock)
        kw.setdefault("state", backend)
        e = Engine.from_texts(files, **kw)
        made.append(e)
        return e

    yield make
    for e in made:
        e.close()  # the backend was given, so the fixture (not the engine) closes it


def act(capability: str, target: str | None = None, *, session: str | None = "s-1", agent: str | None = "a-1", **extra: Any) -> dict[str, Any]:
    """An action dict in session `session` by agent `agent`."""
    out: dict[str, Any] = {"capability": capability}
    if target is not None:
        out["target"] = target
    if session is not None:
        out["session"] = {"id": session}
    if agent is not None:
        out["agent"] = {"id": agent}
    out.update(extra)
    return out
