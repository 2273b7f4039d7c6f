"""SQL state: SQLite (one file, survives restarts, any number of local processes) or
PostgreSQL, through the audit store's connections and migration registry.

`open_state("path.db")` or `state: db` puts session state in the same database as the
audit log (`bastion check --db`), so that state persists between runs. Every operation
is one transaction: on SQLite writers serialise on `BEGIN IMMEDIATE` (one write lock
per file, shared by processes); on PostgreSQL a rate limit or termination takes a
transaction-scoped advisory lock on its key. Times are stored as integer microseconds
and usage as integer millionths, so sums and comparisons are exact.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from bastion.state.backend import StateBackend, StateError
from bastion.state.records import MARKS_KEPT, TERMINATED, Grant, Mark, SessionRecord, WindowCheck, WindowResult, retry_index
from bastion.store import schema

COMPONENT = "state"

schema.register(
    COMPONENT,
    1,
    "session state: sessions, windows, usage, marks, grants",
    """CREATE TABLE bastion_state_sessions (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        parent_id TEXT,
        started_us {int64} NOT NULL,
        record TEXT NOT NULL
    )""",
    "CREATE INDEX bastion_state_sessions_started ON bastion_state_sessions (started_us)",
    "CREATE INDEX bastion_state_sessions_parent ON bastion_state_sessions (parent_id)",
    """CREATE TABLE bastion_state_windows (
        key TEXT NOT NULL,
        ts_us {int64} NOT NULL
    )""",
    "CREATE INDEX bastion_state_windows_key ON bastion_state_windows (key, ts_us)",
    """CREATE TABLE bastion_state_usage (
        scope TEXT NOT NULL,
        meter TEXT NOT NULL,
        micros {int64} NOT NULL,
        PRIMARY KEY (scope, meter)
    )""",
    """CREATE TABLE bastion_state_marks (
        session TEXT NOT NULL,
        tracker TEXT NOT NULL,
        ts_us {int64} NOT NULL,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX bastion_state_marks_key ON bastion_state_marks (session, tracker, ts_us)",
    """CREATE TABLE bastion_state_grants (
        agent TEXT PRIMARY KEY,
        grant_json TEXT NOT NULL
    )""",
)

_US = 1_000_000


def _us(t: float) -> int:
    return int(round(t * _US))


def _t(us: int) -> float:
    return us / _US


class SQLState(StateBackend):
    def __init__(self, store: Any, *, owns_store: bool = True) -> None:
        self.store = store
        self.name = store.dialect
        self.url = store.url
        self._owns = owns_store
        self._pg = store.dialect == "postgresql"
        self._local = threading.local()

    @classmethod
    def open(cls, url: str, **options: Any) -> "SQLState":
        from bastion.store import StoreError, open_store

        lower = url.lower()
        if not lower.startswith(("postgresql://", "postgres://")):
            # state is rewritten on every decision; NORMAL (WAL) survives a crashed process
            options.setdefault("synchronous", "normal")
        try:
            return cls(open_store(url, **options))
        except StoreError as exc:
            raise StateError(f"cannot open the state store: {exc}") from None

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        tx = getattr(self._local, "tx", None)
        if tx is not None:
            yield tx
            return
        with self.store.transaction() as tx:
            self._local.tx = tx
            try:
                yield tx
            finally:
                self._local.tx = None

    @contextmanager
    def batch(self) -> Iterator[None]:
        with self._tx():
            yield

    def _lock(self, tx: Any, key: str) -> None:
        if self._pg:
            tx.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (key,))

    # ------------------------------------------------------------------ sessions

    def get_sessions(self, ids: Sequence[str]) -> list[SessionRecord | None]:
        if not ids:
            return []
        with self._tx() as tx:
            rows = tx.execute(f"SELECT id, record FROM bastion_state_sessions WHERE id IN ({', '.join('?' for _ in ids)})", list(ids))
        found = {r[0]: SessionRecord.from_json(r[1]) for r in rows}
        return [found.get(i) for i in ids]

    def create_session(self, record: SessionRecord) -> SessionRecord:
        with self._tx() as tx:
            tx.execute(
                "INSERT INTO bastion_state_sessions (id, status, parent_id, started_us, record) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (record.id, record.status, record.parent_id, _us(record.started_at), record.to_json()),
            )
            rows = tx.execute("SELECT record FROM bastion_state_sessions WHERE id = ?", (record.id,))
        return SessionRecord.from_json(rows[0][0])

    def _put(self, tx: Any, rec: SessionRecord) -> None:
        tx.execute("UPDATE bastion_state_sessions SET status = ?, record = ? WHERE id = ?", (rec.status, rec.to_json(), rec.id))

    def terminate(self, sid: str, reason: str, at: float, by: dict, template: SessionRecord | None = None) -> SessionRecord:
        with self._tx() as tx:
            self._lock(tx, "session:" + sid)
            rows = tx.execute("SELECT record FROM bastion_state_sessions WHERE id = ?", (sid,))
            if rows:
                rec = SessionRecord.from_json(rows[0][0])
            else:
                rec = self.create_session(template if template is not None and template.id == sid else SessionRecord(sid, started_at=at))
            if rec.terminated:
                return rec
            rec = rec.with_(status=TERMINATED, reason=reason, terminated_at=at, terminated_by=dict(by))
            self._put(tx, rec)
            return rec

    def reopen(self, sid: str, at: float, by: str | None) -> SessionRecord | None:
        with self._tx() as tx:
            self._lock(tx, "session:" + sid)
            rows = tx.execute("SELECT record FROM bastion_state_sessions WHERE id = ?", (sid,))
            if not rows:
                return None
            rec = SessionRecord.from_json(rows[0][0]).with_(status="active", reopened_at=at, reopened_by=by)
            self._put(tx, rec)
            return rec

    def list_sessions(self, status: str | None = None, limit: int = 100) -> list[SessionRecord]:
        sql = "SELECT record FROM bastion_state_sessions"
        params: list[Any] = []
        if status is not None:
            sql += " WHERE status = ?"
            params.append(status)
        sql += f" ORDER BY started_us DESC, id LIMIT {int(limit)}"
        with self._tx() as tx:
            return [SessionRecord.from_json(r[0]) for r in tx.execute(sql, params)]

    def children(self, sid: str) -> list[str]:
        with self._tx() as tx:
            return [r[0] for r in tx.execute("SELECT id FROM bastion_state_sessions WHERE parent_id = ? ORDER BY started_us, id", (sid,))]

    # ------------------------------------------------------------------ sliding windows

    def hit(self, checks: Sequence[WindowCheck], now: float, commit: bool = True) -> WindowResult:
        now_us = _us(now)
        result = WindowResult(True)
        with self._tx() as tx:
            for key in sorted({c.key for c in checks}):  # one order: no deadlocks between processes
                self._lock(tx, "window:" + key)
            for c in checks:
                cut = now_us - _us(c.window)
                if commit:
                    tx.execute("DELETE FROM bastion_state_windows WHERE key = ? AND ts_us <= ?", (c.key, cut))
                count = int(tx.execute("SELECT COUNT(*) FROM bastion_state_windows WHERE key = ? AND ts_us > ? AND ts_us <= ?", (c.key, cut, now_us))[0][0])
                result.counts.append(count)
                idx = retry_index(count, c.limit)
                if idx is None:
                    result.retry_at.append(None)
                    continue
                result.admitted = False
                row = tx.execute(
                    f"SELECT ts_us FROM bastion_state_windows WHERE key = ? AND ts_us > ? AND ts_us <= ? ORDER BY ts_us LIMIT 1 OFFSET {idx}",
                    (c.key, cut, now_us),
                )
                result.retry_at.append(_t(row[0][0]) + c.window if row else now + c.window)
            if result.admitted and commit:
                for c in checks:
                    tx.execute("INSERT INTO bastion_state_windows (key, ts_us) VALUES (?, ?)", (c.key, now_us))
        return result

    def add_event(self, key: str, now: float, windows: Sequence[float], retention: float) -> list[int]:
        now_us = _us(now)
        with self._tx() as tx:
            tx.execute("DELETE FROM bastion_state_windows WHERE key = ? AND ts_us <= ?", (key, now_us - _us(retention)))
            tx.execute("INSERT INTO bastion_state_windows (key, ts_us) VALUES (?, ?)", (key, now_us))
            return self._counts(tx, key, now_us, windows)

    def count_events(self, key: str, now: float, windows: Sequence[float]) -> list[int]:
        with self._tx() as tx:
            return self._counts(tx, key, _us(now), windows)

    def _counts(self, tx: Any, key: str, now_us: int, windows: Sequence[float]) -> list[int]:
        return [
            int(tx.execute("SELECT COUNT(*) FROM bastion_state_windows WHERE key = ? AND ts_us > ? AND ts_us <= ?", (key, now_us - _us(w), now_us))[0][0])
            for w in windows
        ]

    def clear(self, keys: Iterable[str]) -> None:
        with self._tx() as tx:
            for k in keys:
                tx.execute("DELETE FROM bastion_state_windows WHERE key = ?", (k,))

    # ------------------------------------------------------------------ usage

    def add_usage(self, scopes: Sequence[str], amounts: dict[str, float]) -> None:
        if not amounts or not scopes:
            return
        with self._tx() as tx:
            for scope in scopes:
                for meter, value in amounts.items():
                    tx.execute(
                        "INSERT INTO bastion_state_usage (scope, meter, micros) VALUES (?, ?, ?) "
                        "ON CONFLICT (scope, meter) DO UPDATE SET micros = bastion_state_usage.micros + excluded.micros",
                        (scope, meter, _us(value)),
                    )

    def get_usage(self, scopes: Sequence[str]) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {s: {} for s in scopes}
        if not scopes:
            return out
        with self._tx() as tx:
            rows = tx.execute(f"SELECT scope, meter, micros FROM bastion_state_usage WHERE scope IN ({', '.join('?' for _ in scopes)})", list(scopes))
        for scope, meter, micros in rows:
            out[scope][meter] = _t(int(micros))
        return out

    # ------------------------------------------------------------------ marks

    def add_marks(self, sid: str, marks: dict[str, str], at: float) -> None:
        with self._tx() as tx:
            for tracker, detail in marks.items():
                tx.execute("INSERT INTO bastion_state_marks (session, tracker, ts_us, detail) VALUES (?, ?, ?, ?)", (sid, tracker, _us(at), detail))
                old = tx.execute(
                    f"SELECT ts_us FROM bastion_state_marks WHERE session = ? AND tracker = ? ORDER BY ts_us DESC LIMIT 1 OFFSET {MARKS_KEPT}",
                    (sid, tracker),
                )
                if old:
                    tx.execute("DELETE FROM bastion_state_marks WHERE session = ? AND tracker = ? AND ts_us <= ?", (sid, tracker, old[0][0]))

    def get_marks(self, sid: str, trackers: Sequence[str] | None) -> dict[str, list[Mark]]:
        sql = "SELECT tracker, ts_us, detail FROM bastion_state_marks WHERE session = ?"
        params: list[Any] = [sid]
        if trackers is not None:
            if not trackers:
                return {}
            sql += f" AND tracker IN ({', '.join('?' for _ in trackers)})"
            params.extend(trackers)
        with self._tx() as tx:
            rows = tx.execute(sql + " ORDER BY ts_us DESC", params)
        out: dict[str, list[Mark]] = {}
        for tracker, ts, detail in rows:
            items = out.setdefault(tracker, [])
            if len(items) < MARKS_KEPT:
                items.append(Mark(_t(int(ts)), detail))
        return out

    # ------------------------------------------------------------------ grants

    def put_grant(self, grant: Grant) -> None:
        with self._tx() as tx:
            tx.execute(
                "INSERT INTO bastion_state_grants (agent, grant_json) VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET grant_json = excluded.grant_json",
                (grant.agent_id, grant.to_json()),
            )

    def get_grant(self, agent_id: str) -> Grant | None:
        with self._tx() as tx:
            rows = tx.execute("SELECT grant_json FROM bastion_state_grants WHERE agent = ?", (agent_id,))
        return Grant.from_json(rows[0][0]) if rows else None

    def close(self) -> None:
        if self._owns:
            self.store.close()

