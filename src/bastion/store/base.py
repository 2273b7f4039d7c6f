"""The Store interface and what both backends share: chaining, queries, verify, migrations.

A backend supplies connections (`_write_tx`, `_read_tx`), its placeholder style, how
it locks the chain head, how it bulk-inserts rows and which driver errors mean "the
store is unavailable, try again" (`StoreUnavailable`) rather than "this will never
work" (`StoreError`). Everything else, and therefore the behaviour both test suites
check, lives here once.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, ContextManager, Iterator, Sequence


from bastion.canonical import canonical, loads
from bastion.errors import BastionError
from bastion.store import schema
from bastion.store.chain import COLUMNS, ChainVerifier, VerifyResult
from bastion.store.checkpoints import Checkpoint, PublicKeyRing, Signer
from bastion.store.records import PreparedRecord, RedactorLike, build_event_record, default_redactor, iso_ms, iso_now


class StoreError(BastionError):
    """The store cannot do what was asked (bad URL, bad schema, bad data)."""


class StoreUnavailable(StoreError):
    """The store is unreachable or busy right now; retrying may succeed.

    `planned` is (last_seq, last_hash) of a failed append whose outcome is unknown (the
    connection died around COMMIT): `Store.contains(*planned)` tells whether it landed.
    """

    def __init__(self, message: str, planned: tuple[int, str] | None = None) -> None:
        super().__init__(message)
        self.planned = planned


class AuditUnavailable(BastionError):
    """A decision could not be recorded under fail-closed settings: the caller must deny."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored record: its place in the chain, its index columns and its canonical body."""

    seq: int
    ts: str
    kind: str
    decision: str | None
    agent: str | None
    session: str | None
    capability: str | None
    actor: str | None
    policies: str | None
    rules: str | None
    idem_key: str | None
    prev_hash: str
    hash: str
    body: str

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> "AuditRecord":
        return cls(*row)

    @property
    def record(self) -> dict[str, Any]:
        """The record as stored (parsed)."""
        return json.loads(self.body)

    def json_line(self) -> str:
        """The export form: canonical JSON with the stored body embedded byte for byte."""
        return f'{{"hash":"{self.hash}","prev_hash":"{self.prev_hash}","record":{self.body},"seq":{self.seq}}}'

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "prev_hash": self.prev_hash, "hash": self.hash, "record": self.record}


@dataclass(frozen=True)
class AppendResult:
    first_seq: int
    last_seq: int
    last_hash: str
    #: the hash the first appended record follows
    first_prev: str
    #: keyed decision records not appended: a stored record already says the same
    skipped: int = 0


@dataclass(frozen=True)
class AuditFilter:
    """What `query`, `count` and `stats` select. Times are ISO 8601 (UTC) or datetimes.

    `since` is inclusive, `until` exclusive. `capability` may use `*` as a wildcard.
    `policy` matches the decision's policy ids and the policies of its matched rules;
    `rule` matches the names of matched rules.
    """

    since: str | datetime | None = None
    until: str | datetime | None = None
    decisions: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    agent: str | None = None
    session: str | None = None
    capability: str | None = None
    policy: str | None = None
    rule: str | None = None
    actor: str | None = None
    #: decision records carrying this idempotency key
    idempotency_key: str | None = None
    after_seq: int | None = None
    limit: int | None = None
    descending: bool = False

    def normalised(self) -> "AuditFilter":
        return replace(self, since=_iso(self.since), until=_iso(self.until))


@dataclass
class AuditStats:
    total: int = 0
    by_decision: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    by_agent: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)
    first_ts: str | None = None
    last_ts: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "by_decision": self.by_decision,
            "by_kind": self.by_kind,
            "by_agent": self.by_agent,
            "by_rule": self.by_rule,
        }


def _iso(t: str | datetime | None) -> str | None:
    if t is None:
        return None
    if isinstance(t, datetime):
        return iso_ms(t)
    try:
        dt = datetime.fromisoformat(t.strip().replace("z", "Z").replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise StoreError(f"not an ISO 8601 time: {t!r}") from None
    return iso_ms(dt)


_SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM bastion_audit"


class Store(ABC):
    """An audit store: an append-only hash chain of records, plus room for other tables."""

    dialect: str = ""
    #: where the store lives, printable (never carries a password)
    url: str = ""

    def __init__(self) -> None:
        #: the redactor for records written through this store (None: bastion.secrets.Redactor)
        self.redactor: RedactorLike | None = None
        self._closed = False

    # ------------------------------------------------------------------ backend hooks

    @abstractmethod
    def _write_tx(self) -> ContextManager[Any]:
        """A connection inside a transaction that may write; commits on success."""

    @abstractmethod
    def _read_tx(self) -> ContextManager[Any]:
        """A connection inside a read transaction with one consistent snapshot."""

    @abstractmethod
    def _lock_head(self, cx: Any) -> tuple[int, str]:
        """Inside a write transaction: lock the head row against other writers, return it."""

    @abstractmethod
    def _insert_rows(self, cx: Any, rows: list[tuple[Any, ...]]) -> None: ...

    def _write_rows(self, cx: Any, rows: list[tuple[Any, ...]], seq: int, hash_: str) -> None:
        """Inside append's transaction: insert the chained rows and move the head to them."""
        self._insert_rows(cx, rows)
        self._execute(cx, "UPDATE bastion_audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, hash_))

    @abstractmethod
    def _stream(self, cx: Any, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of a query, fetched in batches (server-side cursor where it matters)."""

    @abstractmethod
    def _migration_lock(self, cx: Any) -> None:
        """Inside a write transaction: serialise migrations across processes."""

    @abstractmethod
    def close(self) -> None: ...

    def sql(self, text: str) -> str:
        """Statements are written with `?` placeholders; backends translate."""
        return text

    def _execute(self, cx: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return cx.execute(self.sql(sql), tuple(params))

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def migrate(self) -> list[str]:
        """Apply every registered migration not yet applied. Returns what was applied."""
        done: list[str] = []
        with self._write_tx() as cx:
            self._migration_lock(cx)  # concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL
            self._execute(cx, schema.render(schema.MIGRATIONS_TABLE, self.dialect))
        for component, migrations in schema.registered().items():
            with self._write_tx() as cx:
                self._migration_lock(cx)
                applied = {
                    int(v): c
                    for v, c in self._execute(
                        cx, "SELECT version, checksum FROM bastion_migrations WHERE component = ?", (component,)
                    ).fetchall()
                }
                known = {m.version for m in migrations}
                newer = sorted(v for v in applied if v not in known)
                if newer:
                    raise StoreError(
                        f"the database has {component} schema v{newer[-1]}, newer than this Bastion knows "
                        f"(v{max(known)}): upgrade Bastion"
                    )
                for m in migrations:
                    if m.version in applied:
                        if applied[m.version] != m.checksum:
                            raise StoreError(
                                f"migration {component} v{m.version} ({m.name}) differs from the one applied "
                                "to this database: refusing to run on a schema it cannot vouch for"
                            )
                        continue
                    for statement in m.render(self.dialect):
                        self._execute(cx, statement)
                    self._execute(
                        cx,
                        "INSERT INTO bastion_migrations (component, version, name, checksum, applied_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (component, m.version, m.name, m.checksum, iso_now()),
                    )
                    done.append(f"{component} v{m.version}")
        return done

    def schema_versions(self) -> dict[str, int]:
        with self._read_tx() as cx:
            rows = self._execute(
                cx, "SELECT component, MAX(version) FROM bastion_migrations GROUP BY component"
            ).fetchall()
        return {c: int(v) for c, v in rows}

    @contextmanager
    def transaction(self) -> Iterator["Tx"]:
        """For other components' own tables: `with store.transaction() as tx: tx.execute(sql, params)`."""
        with self._write_tx() as cx:
            yield Tx(self, cx)

    # ------------------------------------------------------------------ writing

    def append(self, records: Sequence[PreparedRecord]) -> AppendResult:
        """Chain `records` after the current head, in one transaction (all or nothing).

        Keyed decision records that repeat a stored one (same key, action digest and
        effect) are left out; `AppendResult.skipped` counts them."""
        if not records:
            raise StoreError("nothing to append")
        planned: tuple[int, str] | None = None
        try:
            with self._write_tx() as cx:
                seq, prev = self._lock_head(cx)
                first, first_prev = seq + 1, prev
                skipped = 0
                for rec in records:
                    if rec.match is not None:  # keyed: skip what a stored record already says
                        records, skipped = self._without_repeats(cx, records)
                        break
                if not records:
                    return AppendResult(first, seq, prev, first_prev, skipped)
                rows = []
                sha256 = hashlib.sha256
                for rec in records:
                    seq += 1
                    body = rec.body
                    # chain_hash() inlined: this loop runs once per record under the GIL
                    h = sha256(b'{"prev":"%s","record":%s,"seq":%d}' % (prev.encode("ascii"), body, seq)).hexdigest()
                    rows.append((seq, *rec.columns, prev, h, body.decode("utf-8")))
                    prev = h
                planned = (seq, prev)
                self._write_rows(cx, rows, seq, prev)
        except StoreUnavailable as exc:
            exc.planned = planned
            raise
        return AppendResult(first, seq, prev, first_prev, skipped)

    def _without_repeats(self, cx: Any, records: Sequence[PreparedRecord]) -> tuple[list[PreparedRecord], int]:
        """Inside append's transaction (the chain is locked, so no other writer can add a
        record meanwhile): drop keyed decision records whose key, action digest and effect
        a stored record, or an earlier record of this batch, already has. A key seen with
        a different action or a different effect is recorded again: de-duplication never
        hides a decision that differs."""
        keys = sorted({rec.key for rec in records if rec.match is not None and rec.key is not None})
        seen: dict[str, set[tuple[Any, Any]]] = {}
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            sql = f"SELECT idem_key, decision, body FROM bastion_audit WHERE idem_key IN ({', '.join('?' for _ in part)})"
            for key, effect, body in self._execute(cx, sql, part).fetchall():
                try:
                    digest = loads(body).get("action_digest")
                except (ValueError, AttributeError):
                    continue  # unreadable: not a match (verify reports it)
                seen.setdefault(key, set()).add((digest, effect))
        out: list[PreparedRecord] = []
        for rec in records:
            if rec.match is not None and rec.key is not None:
                known = seen.setdefault(rec.key, set())
                if rec.match in known:
                    continue
                known.add(rec.match)
            out.append(rec)
        return out, len(records) - len(out)

    def contains(self, seq: int, hash_: str) -> bool:
        """True when record `seq` exists with hash `hash_` (resolves an append of unknown outcome)."""
        with self._read_tx() as cx:
            row = self._execute(cx, "SELECT hash FROM bastion_audit WHERE seq = ?", (seq,)).fetchone()
        return row is not None and row[0] == hash_

    def append_event(
        self, kind: str, payload: dict[str, Any], actor: str | None = None, *, redactor: RedactorLike | None = None
    ) -> AuditRecord:
        """Record a policy change, approval event or notice; returns the stored record."""
        rec = build_event_record(kind, payload, actor, redactor or self.get_redactor())
        result = self.append([rec])
        return AuditRecord(result.last_seq, *rec.columns, result.first_prev, result.last_hash, rec.body.decode("utf-8"))

    def get_redactor(self) -> RedactorLike:
        if self.redactor is None:
            self.redactor = default_redactor()
        return self.redactor

    def head(self) -> tuple[int, str]:
        with self._read_tx() as cx:
            row = self._execute(cx, "SELECT seq, hash FROM bastion_audit_head WHERE id = 1").fetchone()
        return (int(row[0]), row[1])

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self, signer: Signer) -> Checkpoint:
        """Sign the current head and store the checkpoint."""
        with self._write_tx() as cx:
            seq, h = self._lock_head(cx)
            cp = signer.sign(seq, h, iso_now())
            exists = self._execute(
                cx, "SELECT 1 FROM bastion_audit_checkpoints WHERE seq = ? AND key_id = ?", (seq, cp.key_id)
            ).fetchone()
            if exists is None:
                self._execute(
                    cx,
                    "INSERT INTO bastion_audit_checkpoints (seq, hash, ts, key_id, signature) VALUES (?, ?, ?, ?, ?)",
                    (cp.seq, cp.hash, cp.ts, cp.key_id, cp.signature),
                )
        return cp

    def checkpoints(self) -> list[Checkpoint]:
        with self._read_tx() as cx:
            return self._checkpoints(cx)

    def _checkpoints(self, cx: Any) -> list[Checkpoint]:
        rows = self._execute(
            cx, "SELECT seq, hash, ts, key_id, signature FROM bastion_audit_checkpoints ORDER BY seq, key_id"
        ).fetchall()
        return [Checkpoint(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]

    # ------------------------------------------------------------------ reading

    def _where(self, f: AuditFilter) -> tuple[str, list[Any], list[Callable[[tuple[Any, ...]], bool]]]:
        """SQL conditions that narrow the scan, and exact checks applied to each row after."""
        f = f.normalised()
        conds: list[str] = []
        params: list[Any] = []
        post: list[Callable[[tuple[Any, ...]], bool]] = []
        if f.since is not None:
            conds.append("ts >= ?")
            params.append(f.since)
        if f.until is not None:
            conds.append("ts < ?")
            params.append(f.until)
        for column, values in (("decision", f.decisions), ("kind", f.kinds)):
            if values:
                conds.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        for column, value in (("agent", f.agent), ("session", f.session), ("actor", f.actor), ("idem_key", f.idempotency_key)):
            if value is not None:
                conds.append(f"{column} = ?")
                params.append(value)
        if f.capability is not None:
            if "*" in f.capability:
                conds.append("capability LIKE ? ESCAPE '\\'")
                params.append(_like(f.capability))
                pattern = f.capability
                post.append(lambda row: row[6] is not None and glob_match(pattern, row[6]))
            else:
                conds.append("capability = ?")
                params.append(f.capability)
        for column, index, value in (("policies", 8, f.policy), ("rules", 9, f.rule)):
            if value is not None:
                conds.append(f"{column} LIKE ? ESCAPE '\\'")
                params.append("%" + _like_literal(canonical(value)) + "%")
                post.append(_member(index, value))
        if f.after_seq is not None:
            conds.append("seq > ?")
            params.append(f.after_seq)
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        return where, params, post

    def query(self, filter: AuditFilter | None = None, **filters: Any) -> Iterator[AuditRecord]:
        """Records matching the filter, in chain order (or newest first with descending=True)."""
        f = filter if filter is not None else AuditFilter(**filters)
        where, params, post = self._where(f)
        sql = _SELECT + where + (" ORDER BY seq DESC" if f.descending else " ORDER BY seq")
        if f.limit is not None and not post:
            sql += f" LIMIT {int(f.limit)}"
        remaining = f.limit
        with self._read_tx() as cx:
            for row in self._stream(cx, sql, params):
                if post and not all(check(row) for check in post):
                    continue
                yield AuditRecord.from_row(row)
                if remaining is not None:
                    remaining -= 1
                    if remaining <= 0:
                        return

    def count(self, filter: AuditFilter | None = None, **filters: Any) -> int:
        f = filter if filter is not None else AuditFilter(**filters)
        where, params, post = self._where(f)
        with self._read_tx() as cx:
            if not post:
                n = int(self._execute(cx, "SELECT COUNT(*) FROM bastion_audit" + where, params).fetchone()[0])
                return n if f.limit is None else min(n, f.limit)
            n = 0
            for row in self._stream(cx, _SELECT + where, params):
                if all(check(row) for check in post):
                    n += 1
        return n if f.limit is None else min(n, f.limit)

    def stats(self, filter: AuditFilter | None = None, **filters: Any) -> AuditStats:
        """Counts per decision, kind, agent and rule over the selected records."""
        f = filter if filter is not None else AuditFilter(**filters)
        where, params, post = self._where(f)
        out = AuditStats()
        sql = _SELECT.replace(", body FROM", ", NULL FROM") + where + " ORDER BY seq"
        with self._read_tx() as cx:
            for row in self._stream(cx, sql, params):
                if post and not all(check(row) for check in post):
                    continue
                out.total += 1
                ts = row[1]
                if out.first_ts is None or ts < out.first_ts:
                    out.first_ts = ts
                if out.last_ts is None or ts > out.last_ts:
                    out.last_ts = ts
                _bump(out.by_kind, row[2])
                if row[3] is not None:
                    _bump(out.by_decision, row[3])
                if row[4] is not None:
                    _bump(out.by_agent, row[4])
                if row[9] is not None:
                    for name in json.loads(row[9]):
                        _bump(out.by_rule, name)
        for d in (out.by_decision, out.by_kind, out.by_agent, out.by_rule):
            items = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))
            d.clear()
            d.update(items)
        return out

    def verify(
        self,
        public_keys: PublicKeyRing | None = None,
        *,
        progress: Callable[[int], None] | None = None,
        check_columns: bool = True,
    ) -> VerifyResult:
        """Walk the whole chain in one snapshot and report the first broken record."""
        with self._read_tx() as cx:
            row = self._execute(cx, "SELECT seq, hash FROM bastion_audit_head WHERE id = 1").fetchone()
            head = (int(row[0]), row[1]) if row else None
            verifier = ChainVerifier(self._checkpoints(cx), public_keys, check_columns=check_columns)
            n = 0
            for r in self._stream(cx, _SELECT + " ORDER BY seq", ()):
                if not verifier.feed(r):
                    break
                n += 1
                if progress is not None and n % 10_000 == 0:
                    progress(n)
            if head is None:
                verifier._fail(1, "the chain head row is missing")
            return verifier.finish(head)

    def export(
        self,
        write: Callable[[str], Any],
        filter: AuditFilter | None = None,
        *,
        checkpoints: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Write records as JSON Lines (one `json_line()` each, then checkpoint lines). Returns the count."""
        f = filter or AuditFilter()
        n = 0
        last_seq = 0
        for rec in self.query(f):
            write(rec.json_line() + "\n")
            n += 1
            last_seq = max(last_seq, rec.seq)
            if progress is not None and n % 1000 == 0:
                progress(n)
        if checkpoints and n:
            for cp in self.checkpoints():
                if cp.seq <= last_seq:
                    write(json.dumps({"checkpoint": cp.to_dict()}, sort_keys=True, separators=(",", ":")) + "\n")
        if progress is not None:
            progress(n)
        return n


class Tx:
    """A write transaction handed to other components (`?` placeholders on every backend)."""

    def __init__(self, store: Store, cx: Any) -> None:
        self._store = store
        self._cx = cx

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self._store._execute(self._cx, sql, params)
        if cur.description is None:  # no result set (INSERT, UPDATE, DDL)
            return []
        return [tuple(r) for r in cur.fetchall()]


def _bump(d: dict[str, int], key: str) -> None:
    d[key] = d.get(key, 0) + 1


def _like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(glob: str) -> str:
    return "*".join(_like_literal(p) for p in glob.split("*")).replace("*", "%")


def _member(index: int, value: str) -> Callable[[tuple[Any, ...]], bool]:
    def check(row: tuple[Any, ...]) -> bool:
        cell = row[index]
        return cell is not None and value in json.loads(cell)

    return check


def glob_match(pattern: str, text: str) -> bool:
    """`*` matches any run of characters. Linear time (no backtracking), unlike fnmatch's regex."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == text
    first, *middle, last = parts
    if not text.startswith(first) or len(text) < len(first) + len(last) or not text.endswith(last):
        return False
    pos = len(first)
    end = len(text) - len(last)
    for part in middle:
        i = text.find(part, pos, end)
        if i < 0:
            return False
        pos = i + len(part)
    return True

