"""Audited transactions: a state change and the audit records that describe it commit together.

Every approval transition and every policy activation must be on the audit chain; a
transition without its record (or a record of a transition that did not happen) is
exactly what an auditor must never find. So the rows of our own tables and the chain
records are written in ONE database transaction:

    with audited(store) as tx:
        tx.execute("UPDATE bastion_approvals SET status = ? WHERE id = ?", ("approved", rid))
        tx.event("approval.approved", {...}, actor="sam@example.com")

The chain head is locked first (SQLite: the BEGIN IMMEDIATE write lock; PostgreSQL:
the head row, FOR UPDATE), so every audited transaction is serialised with every other
writer of the chain, and read-then-update logic inside one cannot race another.

This uses the backend hooks of `bastion.store.base.Store` (`_write_tx`, `_lock_head`,
`_insert_rows`) the way `Store.append` does; see docs/approvals.md for the interface
we asked the store to expose instead (`Tx.append_event`).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from bastion.store.base import Store
from bastion.store.chain import chain_hash
from bastion.store.records import PreparedRecord, build_event_record


class AuditedTx:
    """One write transaction on the store: SQL on our tables, plus audit events."""

    def __init__(self, store: Store, cx: Any) -> None:
        self.store = store
        self._cx = cx
        self._events: list[PreparedRecord] = []
        self._after: list[Callable[[], None]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (`?` placeholders); rows for a query, [] otherwise."""
        cur = self.store._execute(self._cx, sql, params)
        if cur.description is None:
            return []
        return [tuple(r) for r in cur.fetchall()]

    def rowcount(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an UPDATE/DELETE and return how many rows it changed."""
        cur = self.store._execute(self._cx, sql, params)
        return int(cur.rowcount)

    def event(self, kind: str, payload: dict[str, Any], actor: str | None = None) -> None:
        """Add an audit record (redacted like every record) to this transaction."""
        self._events.append(build_event_record(kind, payload, actor, self.store.get_redactor()))

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run `fn` once the transaction has committed (e.g. wake a notifier)."""
        self._after.append(fn)


@contextmanager
def audited(store: Store) -> Iterator[AuditedTx]:
    """A write transaction whose audit events are chained in the same commit."""
    with store._write_tx() as cx:
        seq, prev = store._lock_head(cx)
        tx = AuditedTx(store, cx)
        yield tx
        if tx._events:
            rows = []
            for rec in tx._events:
                seq += 1
                h = chain_hash(prev, seq, rec.body)
                rows.append((seq, *rec.columns, prev, h, rec.body.decode("utf-8")))
                prev = h
            store._insert_rows(cx, rows)
            store._execute(cx, "UPDATE bastion_audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
    for fn in tx._after:
        fn()


@contextmanager
def joined(store: Store, tx: AuditedTx | None) -> Iterator[AuditedTx]:
    """`tx` when the caller already holds one (its commit is the caller's), else a new one."""
    if tx is not None:
        yield tx
    else:
        with audited(store) as own:
            yield own


class Reader:
    """A read-only snapshot for queries on our tables."""

    def __init__(self, store: Store, cx: Any) -> None:
        self.store = store
        self._cx = cx

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.store._execute(self._cx, sql, params)
        return [tuple(r) for r in cur.fetchall()]


@contextmanager
def reading(store: Store, tx: AuditedTx | None = None) -> Iterator[Any]:
    """Queries inside `tx` when given (to see its own writes), else in a fresh snapshot."""
    if tx is not None:
        yield tx
        return
    with store._read_tx() as cx:
        yield Reader(store, cx)
