"""SQLite backend: the embedded default. One file, WAL mode, any number of processes.

Writers serialise on `BEGIN IMMEDIATE` (SQLite's single write lock, shared by every
process on the file) and read the chain head inside that transaction, so records from
several processes interleave without breaking the chain. Readers get their own
connection and a snapshot (WAL lets them run beside the writer).

`synchronous=FULL` by default: a committed record survives a power cut, not just a
crashed process. `NORMAL` survives a crashed process (SIGKILL) and is faster per commit.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from itertools import chain
from typing import Any, Iterator, Sequence

from bastion.store.base import Store, StoreError, StoreUnavailable
from bastion.store.chain import COLUMNS

_ROW = "(" + ", ".join("?" for _ in COLUMNS) + ")"
#: rows per INSERT: under SQLite's bound-variable limit (999 before 3.32, 32766 since)
_CHUNK = 500 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999 // len(COLUMNS)
_INSERTS: dict[int, str] = {}


def _insert_sql(n: int) -> str:
    sql = _INSERTS.get(n)
    if sql is None:
        sql = _INSERTS[n] = f"INSERT INTO bastion_audit ({', '.join(COLUMNS)}) VALUES " + ", ".join([_ROW] * n)
    return sql
_SYNC_MODES = ("off", "normal", "full", "extra")


def _wrap(exc: sqlite3.Error, path: str) -> StoreError:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable(f"SQLite store {path}: {msg}")
    return StoreError(f"SQLite store {path}: {msg}")


class SQLiteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "full", busy_timeout: float = 60.0) -> None:
        super().__init__()
        path = os.fspath(path)
        if path in ("", ":memory:") or path.startswith("file:"):
            raise StoreError("the SQLite store needs a file path (an in-memory database cannot be shared or audited)")
        if synchronous.lower() not in _SYNC_MODES:
            raise StoreError(f"synchronous must be one of {', '.join(_SYNC_MODES)}")
        self.path = os.path.abspath(path)
        self.url = self.path
        self._synchronous = synchronous.upper()
        self._busy_timeout = busy_timeout
        self._wlock = threading.RLock()
        self._prepare_file()
        self._pid = os.getpid()
        self._wcx: sqlite3.Connection | None = self._connect()
        self.migrate()

    def _prepare_file(self) -> None:
        parent = os.path.dirname(self.path)
        try:
            if not os.path.isdir(parent):
                os.makedirs(parent, mode=0o700, exist_ok=True)
            if not os.path.exists(self.path):
                # created owner-only; SQLite gives the -wal and -shm files the same mode
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise StoreError(f"cannot create the SQLite store {self.path}: {exc.strerror}") from None

    def _connect(self) -> sqlite3.Connection:
        # SQLite may answer "database is locked" at once, without its busy handler, while
        # another process recovers the WAL of a writer that was killed: retry, bounded.
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.001
        while True:
            try:
                return self._connect_once()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() + delay > deadline:
                    raise _wrap(exc, self.path) from None
            except sqlite3.Error as exc:
                raise _wrap(exc, self.path) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _connect_once(self) -> sqlite3.Connection:
        cx = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            # 8 KiB pages for a new database (no effect on an existing one): records are
            # about 1 KiB; big batches append cheaper than with 4 KiB pages, while a sync
            # commit of a few records writes whole pages to the WAL, so much larger pages
            # cost it more (benchmarks/audit.py prints batch and small-commit costs)
            cx.execute("PRAGMA page_size=8192")
            mode = cx.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"SQLite store {self.path}: cannot switch to WAL mode (got {mode})")
            cx.execute(f"PRAGMA synchronous={self._synchronous}")
            # checkpoint the WAL every ~40 MB rather than 4 MB: fewer fsyncs of the main
            # file (append cost -20..35% measured); keep the WAL file itself bounded
            page = int(cx.execute("PRAGMA page_size").fetchone()[0])
            cx.execute(f"PRAGMA wal_autocheckpoint={max(1000, 40 * 1024 * 1024 // page)}")
            cx.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
        except BaseException:
            cx.close()
            raise
        return cx

    def _writer(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"SQLite store {self.path} is closed")
        if self._pid != os.getpid() or self._wcx is None:
            # after fork: never share the parent's connection
            self._pid = os.getpid()
            self._wcx = self._connect()
        return self._wcx

    @contextmanager
    def _write_tx(self) -> Iterator[sqlite3.Connection]:
        with self._wlock:
            cx = self._writer()
            try:
                cx.execute("BEGIN IMMEDIATE")
                yield cx
                cx.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(cx)
                raise _wrap(exc, self.path) from None
            except BaseException:
                _rollback(cx)
                raise

    @contextmanager
    def _read_tx(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise StoreError(f"SQLite store {self.path} is closed")
        try:
            cx = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from None
        try:
            cx.execute("BEGIN")  # one snapshot for every statement that follows
            yield cx
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from None
        finally:
            cx.close()

    def _lock_head(self, cx: sqlite3.Connection) -> tuple[int, str]:
        # BEGIN IMMEDIATE already holds the database's write lock
        row = cx.execute("SELECT seq, hash FROM bastion_audit_head WHERE id = 1").fetchone()
        if row is None:
            raise StoreError(f"SQLite store {self.path}: the audit head row is missing")
        return int(row[0]), row[1]

    def _insert_rows(self, cx: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        # Multi-row INSERTs, not executemany: the sqlite3 module releases the GIL around
        # every step, and a thread that gives the GIL away once per row waits to get it
        # back behind busy threads (a convoy); one statement per 500 rows avoids that.
        for i in range(0, len(rows), _CHUNK):
            part = rows[i : i + _CHUNK]
            cx.execute(_insert_sql(len(part)), list(chain.from_iterable(part)))

    def _stream(self, cx: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        cur = cx.execute(sql, tuple(params))
        while True:
            rows = cur.fetchmany(2000)
            if not rows:
                return
            yield from rows

    def _migration_lock(self, cx: sqlite3.Connection) -> None:
        pass  # BEGIN IMMEDIATE serialises migrations as it serialises every writer

    def close(self) -> None:
        with self._wlock:
            if self._wcx is not None and self._pid == os.getpid():
                self._wcx.close()
            self._wcx = None
            self._closed = True


def _rollback(cx: sqlite3.Connection) -> None:
    try:
        if cx.in_transaction:
            cx.execute("ROLLBACK")
    except sqlite3.Error:
        pass
