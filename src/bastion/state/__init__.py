"""Session state: sessions and termination, escalation, rate limits, budgets, sequence
rules, sub-agent scope and plans (docs/state.md).

    engine = Engine.from_paths([...])                        # in-memory state (the default)
    engine = Engine.from_paths([...], state="state.db")      # SQLite: survives restarts
    engine = Engine.from_paths([...], state="redis://127.0.0.1:6379/0")  # shared by processes
    engine.record_usage(session="s-1", cost_usd=0.12)        # budgets
    engine.state.reopen_session("s-1", now=time.time(), actor="sam@example.com")

Backends implement `StateBackend` (backend.py): `MemoryState`, `SQLState` (SQLite or
PostgreSQL, through bastion.store), `RedisState`. `open_state(url)` picks one.
"""

from __future__ import annotations

import os
from typing import Any

from bastion import _lazy

__all__ = [
    "MemoryState",
    "RedisState",
    "SQLState",
    "SessionRecord",
    "StateBackend",
    "StateError",
    "StateStage",
    "open_state",
    "state_stage",
]

_LAZY = {
    "MemoryState": "bastion.state.memory",
    "RedisState": "bastion.state.redis_backend",
    "SQLState": "bastion.state.sql",
    "SessionRecord": "bastion.state.records",
    "StateBackend": "bastion.state.backend",
    "StateError": "bastion.state.backend",
    "StateStage": "bastion.state.stage",
}


__getattr__ = _lazy.lazy_exports(__name__, _LAZY)


def open_state(spec: Any = "memory", *, db: str | None = None, **options: Any) -> Any:
    """A state backend from a spec: "memory"; "db" (the store: `db`, else $BASTION_DB, else
    .bastion/bastion.db); a SQLite path or `sqlite:` URL; a `postgresql://` URL; a
    `redis://` / `rediss://` / `unix://` URL (`?prefix=...` sets the key prefix)."""
    from bastion.state.backend import StateBackend, StateError

    if isinstance(spec, StateBackend):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise StateError(f"state must be 'memory', 'db', a SQLite path, or a postgresql:// or redis:// URL, not {type(spec).__name__}")
    text = os.fspath(spec).strip()
    if not text:
        raise StateError("empty state spec: use 'memory', 'db', a SQLite path, or a postgresql:// or redis:// URL")
    lower = text.lower()
    if lower == "memory":
        from bastion.state.memory import MemoryState

        return MemoryState(**options)
    if lower.startswith(("redis://", "rediss://", "unix://")):
        from bastion.state.redis_backend import RedisState

        return RedisState(text, **options)
    if lower == "db":
        from bastion.store import default_db_url

        text = db or default_db_url()
    elif "://" in text and not lower.startswith(("sqlite:", "postgresql://", "postgres://")):
        raise StateError(f"unsupported state URL scheme {text.split('://', 1)[0]!r}: use memory, db, a SQLite path, postgresql:// or redis://")
    from bastion.state.sql import SQLState

    return SQLState.open(text, **options)


def state_stage(spec: Any, engine: Any = None) -> Any:
    """The StateStage for an engine: from a stage (its backend is shared), a backend, or a spec."""
    from bastion.state.stage import StateStage

    if isinstance(spec, StateStage):
        if spec._engine is None or spec._engine is engine:
            return spec.bind(engine)
        return StateStage(spec.backend, engine)
    from bastion.state.backend import StateBackend

    if isinstance(spec, StateBackend):
        return StateStage(spec, engine)  # the caller owns (and closes) the backend
    return StateStage(open_state(spec), engine, owns_backend=True)
