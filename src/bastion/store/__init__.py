"""Durable storage: the tamper-evident audit log on SQLite or PostgreSQL.

    store = open_store("path/to/bastion.db" | "postgresql://..." | None)
    writer = AuditWriter(store, durability="async")
    writer.record(decision, action)       # off the hot path; fail-closed by default
    ProcessAuditWriter("path/to/bastion.db")  # the same, async, built and committed in a child process
    store.append_event("policy.change", {...}, actor="dana@example.com")
    store.query(agent="coder-7", decisions=("deny",)); store.verify()

`open_store(None)` uses `BASTION_DB`, else `.bastion/bastion.db` in the working directory.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from bastion.store.base import (
    AppendResult,
    AuditFilter,
    AuditRecord,
    AuditStats,
    AuditUnavailable,
    Store,
    StoreError,
    StoreUnavailable,
)
from bastion.store.chain import VerifyResult, chain_hash, verify_lines
from bastion.store.checkpoints import Checkpoint, PublicKeyRing, Signer, load_public_key
from bastion.store.records import PreparedRecord, build_decision_record, build_event_record
from bastion.store.process_writer import ProcessAuditWriter
from bastion.store.writer import AuditWriter

__all__ = [
    "AppendResult",
    "AuditFilter",
    "AuditRecord",
    "AuditStats",
    "AuditUnavailable",
    "AuditWriter",
    "Checkpoint",
    "PreparedRecord",
    "ProcessAuditWriter",
    "PublicKeyRing",
    "Signer",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "VerifyResult",
    "build_decision_record",
    "build_event_record",
    "chain_hash",
    "default_db_url",
    "load_public_key",
    "open_store",
    "open_writer",
    "verify_lines",
]

DEFAULT_PATH = os.path.join(".bastion", "bastion.db")

#: Modules that register migrations (bastion.store.schema.register) for their own tables;
#: imported before a store applies migrations. Add one line per component.
MIGRATION_MODULES: list[str] = [
    "bastion.store.schema",
    "bastion.approvals.schema",
    "bastion.lifecycle.schema",
]


def default_db_url() -> str:
    """`BASTION_DB` when set, else `.bastion/bastion.db` under the working directory."""
    return os.environ.get("BASTION_DB") or DEFAULT_PATH


def _load_migrations() -> None:
    for name in MIGRATION_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a component not built yet
            if exc.name != name:
                raise


def open_store(url: str | os.PathLike[str] | None = None, **options: Any) -> Store:
    """Open (creating and migrating as needed) the store at `url`.

    `url` is a SQLite path (`sqlite:` prefix optional: `sqlite:///abs/path.db`,
    `sqlite:rel.db`) or a `postgresql://` / `postgres://` URL; None means
    `default_db_url()`. Options go to the backend (SQLite: `synchronous`,
    `busy_timeout`; PostgreSQL: `min_size`, `max_size`, `timeout`).
    """
    target = os.fspath(url) if url is not None else default_db_url()
    if not isinstance(target, str) or not target.strip():
        raise StoreError("no store given: pass --db, set BASTION_DB, or use the default .bastion/bastion.db")
    target = target.strip()
    _load_migrations()
    lower = target.lower()
    if lower.startswith(("postgresql://", "postgres://")):
        from bastion.store.postgres import PostgresStore

        return PostgresStore(target, **options)
    if lower.startswith("sqlite:"):
        target = target[len("sqlite:") :]
        if target.startswith("//"):
            target = target[2:]
    elif "://" in target:
        scheme = target.split("://", 1)[0]
        raise StoreError(f"unsupported store URL scheme {scheme!r}: use a SQLite file path or a postgresql:// URL")
    from bastion.store.sqlite import SQLiteStore

    return SQLiteStore(target, **options)


def open_writer(url: str | os.PathLike[str] | None = None, **writer_options: Any) -> AuditWriter:
    """A writer on a store it owns (closed with the writer): the one-liner for `check --record`."""
    store_options = writer_options.pop("store_options", {})
    return AuditWriter(open_store(url, **store_options), owns_store=True, **writer_options)
