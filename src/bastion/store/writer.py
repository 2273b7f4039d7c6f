"""AuditWriter: decisions go to the audit log off the hot path, in group commits.

One writer thread per writer drains a bounded queue in batches (one transaction per
batch, so thousands of records cost about as much as one commit). Two durabilities:

* `sync`: `record()` returns once the record is committed; concurrent callers share
  commits. Before each commit the writer waits (at most as long as the last commit
  took) for the callers the previous commit released to come back, so they commit as
  one cohort rather than in halves that take turns; each caller waits on a lock of its
  own, released by the commit that carries its record. Records are built (redaction,
  canonical JSON) on the writer thread in both modes: callers busy building would hold
  the GIL while the writer waits to get it back after each I/O call, a convoy that
  costs far more than it saves.
* `async`: `record()` snapshots the decision and returns; the writer builds and commits
  records within `flush_interval` (sooner when `batch_size` records wait). `flush()`
  waits for everything recorded so far; `close()` (also run at interpreter exit) drains.

Failure is fail-closed by default (`on_failure="deny"`): when the queue is full, the
store is down or a sync commit does not complete in `sync_timeout`, `record()` raises
`AuditUnavailable` and the engine turns the decision into a deny. `"drop_and_alert"`
lets the decision stand, counts the record as dropped, alerts (log + `on_alert`), and
writes an `audit.dropped` notice into the chain when the store is back, so even the
gap is on record. Nothing is ever dropped silently.

A store that fails mid-batch is retried with backoff; an append whose outcome is
unknown (connection lost around COMMIT) is resolved with `Store.contains()` before
retrying, so a record is never lost and at worst written twice (same decision_id).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import weakref
from _thread import allocate_lock as _allocate_lock
from collections import deque
from typing import Any, Callable, Literal, Mapping

from bastion.canonical import CanonicalError, DigestedAction, loads as _loads
from bastion.store.base import AuditUnavailable, Store, StoreError
from bastion.store.checkpoints import Signer
from bastion.store.records import PreparedRecord, RecordBuilder, RedactorLike, caller_chosen_id

log = logging.getLogger("bastion.audit")

Durability = Literal["sync", "async"]
OnFailure = Literal["deny", "drop_and_alert"]

#: writers (thread and process) to drain at interpreter exit
_live: "weakref.WeakSet[WriterBase]" = weakref.WeakSet()


def _decision_id(decision: Any) -> Any:
    if isinstance(decision, Mapping):
        return decision.get("decision_id")
    return getattr(decision, "decision_id", None)


def _safe_error(exc: BaseException) -> str:
    """An error description that cannot carry record content."""
    if isinstance(exc, (CanonicalError, StoreError)):
        return str(exc)
    return type(exc).__name__


def check_options(
    on_failure: str, queue_size: int, batch_size: int, flush_interval: float,
    signer: Signer | None, checkpoint_every: int | None, idempotency: str | None,
) -> None:
    """The option checks both writers (thread and process) share."""
    if on_failure not in ("deny", "drop_and_alert"):
        raise ValueError("on_failure must be 'deny' or 'drop_and_alert'")
    if queue_size < 1 or batch_size < 1 or not flush_interval > 0:
        raise ValueError("queue_size and batch_size must be >= 1, flush_interval > 0")
    if checkpoint_every is not None and (signer is None or checkpoint_every < 1):
        raise ValueError("checkpoint_every needs a signer and a count >= 1")
    if idempotency not in (None, "action_id"):
        raise ValueError('idempotency must be None or "action_id"')


class WriterBase:
    """What both writers share: alerts (a log line at most every 5 s, and the `on_alert`
    hook every time), use as a context manager, and draining at interpreter exit."""

    _on_alert: Callable[[str], None] | None
    _last_alert: float = 0.0
    _pid: int

    def close(self, timeout: float = 30.0) -> None:  # pragma: no cover - both writers define it
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        try:
            self.close()
        except AuditUnavailable as exc:
            if exc_type is None:
                raise
            log.error("%s", exc)

    def _alert(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_alert >= 5.0:
            self._last_alert = now
            log.error("%s", message)
        if self._on_alert is not None:
            try:
                self._on_alert(message)
            except Exception:  # noqa: BLE001 - an alert hook must not break recording
                log.exception("audit on_alert hook failed")


class AuditWriter(WriterBase):
    """Appends decisions to a Store's audit chain in batches, sync or async. Thread-safe."""

    def __init__(
        self,
        store: Store,
        durability: Durability = "async",
        *,
        queue_size: int = 20_000,
        flush_interval: float = 0.05,
        batch_size: int = 1000,
        on_failure: OnFailure = "deny",
        sync_timeout: float = 5.0,
        retry_max_delay: float = 1.0,
        redactor: RedactorLike | None = None,
        signer: Signer | None = None,
        checkpoint_every: int | None = None,
        idempotency: Literal["action_id"] | None = None,
        owns_store: bool = False,
        on_alert: Callable[[str], None] | None = None,
        id_prefix: str | None = None,
    ) -> None:
        if durability not in ("sync", "async"):
            raise ValueError("durability must be 'sync' or 'async'")
        check_options(on_failure, queue_size, batch_size, flush_interval, signer, checkpoint_every, idempotency)
        if not sync_timeout > 0:
            raise ValueError("sync_timeout must be > 0")
        self.store = store
        self.durability = durability
        self.on_failure = on_failure
        self._sync = durability == "sync"
        self._deny = on_failure == "deny"
        self._queue_size = queue_size
        self._interval = flush_interval
        self._batch_size = batch_size
        self._sync_timeout = sync_timeout
        self._retry_max = retry_max_delay
        self._redactor = redactor if redactor is not None else store.get_redactor()
        # id_prefix: the decisions come from another process (ProcessAuditWriter's child)
        self._builder = RecordBuilder(self._redactor, id_prefix=id_prefix)
        self._signer = signer
        self._checkpoint_every = checkpoint_every
        self._key_from_action_id = idempotency == "action_id"
        self._owns_store = owns_store
        self._on_alert = on_alert
        self._pid = os.getpid()

        lock = threading.Lock()
        self._lock = lock
        self._work = threading.Condition(lock)  # the writer thread waits here
        self._done = threading.Condition(lock)  # flush() waits here (sync callers on locks of their own)
        # (ticket, decision snapshot, action, sync caller's lock or None, idempotency key)
        self._q: deque[tuple[int, dict[str, Any], Any, Any, str | None]] = deque()
        self._inflight: Any = ()  # the batch being written
        self._next_ticket = 0
        self._taken_upto = 0
        self._done_upto = 0
        self._flush_upto = 0
        self._first_at = math.inf
        self._idle = False
        self._failed: dict[int, str] = {}
        self._abandoned: set[int] = set()
        self._late: list[str] = []
        self._store_error: str | None = None
        self._closing = False
        self._close_deadline = math.inf
        self._dead = False
        self._dropped = 0
        self._dropped_unreported = 0
        self._unrecordable = 0
        self._lost = 0
        self._committed = 0
        self._duplicates = 0  # keyed records already on record, not written again
        self._batches = 0
        self._since_checkpoint = 0
        self._last_alert = 0.0
        self._last_commit = 0.0  # seconds the last batch took to commit
        self._cohort = 0  # sync: callers in circulation at the last commit (released + waiting)
        self._gather_want = 0  # sync: the queue length that completes the cohort being gathered

        self._thread = threading.Thread(target=self._run, name="bastion-audit-writer", daemon=True)
        self._thread.start()
        _live.add(self)

    # ------------------------------------------------------------------ callers

    def record(self, decision: Any, action: Any, *, idempotency_key: str | None = None) -> None:
        """Append one decision (and the action it decided) to the audit log.

        sync: returns once committed. async: returns at once. Raises AuditUnavailable
        when the record cannot be accepted and `on_failure` is "deny".

        `idempotency_key` (e.g. the tool-call id a graph framework re-runs on resume):
        a record whose key, action digest and effect a stored record already has is not
        written again (it is already on record: a sync caller returns as committed).
        With `AuditWriter(..., idempotency="action_id")` the key is the action's id when
        the caller chose it (not one Bastion generated).
        """
        if self._pid != os.getpid():
            raise AuditUnavailable("this AuditWriter was created in another process (fork): open one per process")
        snap = decision.to_dict() if hasattr(decision, "to_dict") else dict(decision)
        with self._lock:
            if self._closing or self._dead:
                raise AuditUnavailable("the audit writer is closed" if self._closing else f"the audit writer stopped: {self._store_error}")
            if self._store_error is not None and (self._deny or self._sync):
                # known outage: answer now rather than after sync_timeout (async
                # drop_and_alert keeps queueing: the queue is the buffer for the outage)
                return self._refuse(f"audit store unavailable ({self._store_error})")
            if len(self._q) >= self._queue_size:
                return self._refuse(f"audit queue full ({self._queue_size} records waiting)")
            self._next_ticket += 1
            ticket = self._next_ticket
            q = self._q
            if not q:
                self._first_at = time.monotonic()
            if not self._sync:
                q.append((ticket, snap, action, None, idempotency_key))
                if self._idle and (len(q) == 1 or len(q) >= self._batch_size):
                    self._work.notify()
                return None
            # sync: wait on a lock of our own, which the writer releases when our record is
            # committed (or failed): a commit wakes exactly its callers, who then need
            # neither the writer's lock nor the GIL of the others to learn the outcome
            waiter = _allocate_lock()
            waiter.acquire()
            q.append((ticket, snap, action, waiter, idempotency_key))
            if self._idle and len(q) >= self._gather_want:
                self._work.notify()
        deadline = time.monotonic() + self._sync_timeout
        while True:
            remaining = deadline - time.monotonic()
            # bounded waits: a writer that dies without releasing us is noticed
            if remaining > 0 and waiter.acquire(timeout=min(remaining, 0.1)):
                # the writer set these before releasing us; released undone: it stopped
                error = self._failed.pop(ticket, None)
                if error is None and self._done_upto >= ticket:
                    return None
                with self._lock:
                    return self._refuse(error or f"the audit writer stopped: {self._store_error}")
            with self._lock:
                if self._done_upto >= ticket:  # completed as we timed out
                    error = self._failed.pop(ticket, None)
                    return self._refuse(error) if error is not None else None
                if self._dead:
                    return self._refuse(f"the audit writer stopped: {self._store_error}")
                if remaining > 0:
                    continue
                why = f"audit record not committed within {self._sync_timeout:g}s" + (
                    f"; store: {self._store_error}" if self._store_error else ""
                )
                if ticket > self._taken_upto:
                    self._abandoned.add(ticket)  # never written: denied, or dropped
                    return self._refuse(why)
                # in flight: it lands when the store answers
                if self._deny:
                    # say so in the chain (from the caller's decision: the writer owns snap now)
                    self._late.append(str(_decision_id(decision)))
                    raise AuditUnavailable(why)
                self._alert(f"{why}; the record is in flight and will be written when the store answers")
                return None

    def record_encoded(self, items: list[tuple[bytes, bytes, str | None]]) -> None:
        """Queue decisions that arrive encoded (ProcessAuditWriter's child): each item is
        the decision's JSON, the action's canonical digest JSON and an idempotency key.
        They are decoded on the writer thread, with the build, so the thread that receives
        them holds the interpreter lock only to queue them. Async only; never refuses (the
        sending process bounds what is in flight)."""
        if self._sync:
            raise ValueError("record_encoded is for async writers")
        with self._lock:
            if self._closing or self._dead:
                raise AuditUnavailable("the audit writer is closed" if self._closing else f"the audit writer stopped: {self._store_error}")
            q = self._q
            if not q and items:
                self._first_at = time.monotonic()
            ticket = self._next_ticket
            for body, raw, key in items:
                ticket += 1
                q.append((ticket, body, raw, None, key))  # type: ignore[arg-type]
            self._next_ticket = ticket
            if self._idle and items:
                self._work.notify()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything recorded before this call is committed (or has failed)."""
        deadline = time.monotonic() + timeout if timeout is not None else math.inf
        with self._lock:
            target = self._next_ticket
            self._flush_upto = max(self._flush_upto, target)
            if self._idle:
                self._work.notify()
            while self._done_upto < target and not self._dead:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AuditUnavailable(
                        f"audit flush timed out with {target - self._done_upto} records pending"
                        + (f" (store: {self._store_error})" if self._store_error else "")
                    )
                self._done.wait(min(remaining, 3600.0))
            if self._done_upto < target:
                raise AuditUnavailable(f"the audit writer stopped: {self._store_error}")

    def close(self, timeout: float = 30.0) -> None:
        """Drain the queue (waiting up to `timeout` for a store that is down), then stop.

        Raises AuditUnavailable if records could not be written before the deadline.
        """
        with self._lock:
            already = self._closing
            if not already:
                self._closing = True
                self._close_deadline = time.monotonic() + timeout
                self._work.notify_all()
        if threading.current_thread() is not self._thread and self._pid == os.getpid():
            self._thread.join(timeout + 5.0)
        _live.discard(self)
        if already:
            return
        if self._signer is not None and self._since_checkpoint and not self._lost:
            self._checkpoint()
        if self._owns_store:
            self.store.close()
        if self._lost:
            raise AuditUnavailable(f"{self._lost} audit records could not be written before shutdown: {self._store_error}")

    @property
    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "durability": self.durability,
                "queued": len(self._q),
                "recorded": self._next_ticket,
                "done": self._done_upto,  # every record up to this one is committed or failed
                "committed": self._committed,
                "duplicates": self._duplicates,
                "batches": self._batches,
                "dropped": self._dropped,
                "unrecordable": self._unrecordable,
                "lost": self._lost,
                "store_error": self._store_error,
            }

    def note_dropped(self, count: int) -> None:
        """Count records dropped before they reached this writer (by ProcessAuditWriter's
        parent under drop_and_alert), so an `audit.dropped` notice puts them on record."""
        if count <= 0:
            return
        with self._lock:
            self._dropped += count
            self._dropped_unreported += count
            if self._idle:
                self._work.notify()

    # ------------------------------------------------------------------ failure policy (lock held)

    def _refuse(self, reason: str) -> None:
        if self._deny:
            raise AuditUnavailable(reason)
        self._dropped += 1
        self._dropped_unreported += 1
        self._alert(f"audit record dropped: {reason} ({self._dropped} dropped so far)")
        return None

    # ------------------------------------------------------------------ the writer thread

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    batch = self._take()
                if batch is None:
                    return
                tickets, items = batch
                records, unrecordable = self._prepare(items)
                with self._lock:
                    records.extend(self._notices())
                started = time.monotonic()
                ok = self._commit(records) if records else True
                self._last_commit = time.monotonic() - started
                with self._lock:
                    for t in range(self._done_upto + 1, tickets + 1):
                        self._abandoned.discard(t)
                    if self._sync:
                        self._failed.update(unrecordable)
                        # callers in circulation: those this commit releases, and those
                        # already waiting for the next one
                        self._cohort = len(items) + len(self._q)
                    if ok:
                        self._committed += len(items) - len(unrecordable)
                        self._batches += 1
                        self._since_checkpoint += len(records)
                        self._store_error = None
                    else:
                        self._lost += len(items)
                        if self._sync:  # async callers have gone: nobody would read these
                            for ticket, *_ in items:
                                self._failed[ticket] = f"audit store unavailable: {self._store_error}"
                    self._done_upto = tickets
                    self._done.notify_all()  # flush()
                    if self._sync:
                        for item in items:
                            item[3].release()
                    self._inflight = ()
                if ok and self._checkpoint_every and self._since_checkpoint >= self._checkpoint_every:
                    self._checkpoint()
        except BaseException as exc:  # a bug must not leave callers waiting or records silently unwritten
            log.exception("audit writer thread failed")
            with self._lock:
                self._store_error = f"writer thread failed: {_safe_error(exc)}"
        finally:
            with self._lock:
                self._dead = True
                # async records in flight are lost too (sync callers in flight are told)
                self._lost += len(self._q) + (0 if self._sync else len(self._inflight))
                for item in (*self._inflight, *self._q):
                    if item[3] is not None and item[3].locked():
                        item[3].release()
                self._q.clear()
                self._done.notify_all()

    def _take(self) -> tuple[int, list[tuple[int, dict[str, Any], Any, Any, str | None]]] | None:
        """Wait for a batch (lock held). None when closing and drained."""
        q = self._q
        while True:
            if q:
                if self._sync or self._closing or len(q) >= self._batch_size or self._flush_upto > self._taken_upto:
                    break
                wait = self._first_at + self._interval - time.monotonic()
                if wait <= 0:
                    break
            elif (self._late or self._dropped_unreported) and (self._closing or self._store_error is None):
                return self._taken_upto, []  # notices about the writer itself go in on their own
            elif self._closing:
                return None
            else:
                wait = None
            self._idle = True
            self._work.wait(wait)
            self._idle = False
        if self._sync:
            self._gather()
        n = min(len(q), self._batch_size)
        items = [q.popleft() for _ in range(n)]
        last = items[-1][0]
        self._taken_upto = last
        # a backlog is already late: take the next batch without waiting again
        self._first_at = -math.inf if q else math.inf
        if self._abandoned:
            items = [it for it in items if it[0] not in self._abandoned]
        self._inflight = items
        return last, items

    def _gather(self) -> None:
        """Sync group commit: before committing, wait for the callers the previous commit
        released (its cohort) to come back with their next records, for at most the last
        commit's duration (2 ms at most). Otherwise callers split into cohorts that take
        turns and each commit carries part of them; waiting longer than a commit takes
        would cost more than a second commit."""
        q = self._q
        want = min(self._cohort, self._batch_size)
        if len(q) >= want:
            return
        limit = time.monotonic() + min(self._last_commit, 0.002)
        self._gather_want = want
        try:
            while len(q) < want and not self._closing and self._flush_upto <= self._taken_upto:
                remaining = limit - time.monotonic()
                if remaining <= 0:
                    return
                self._idle = True
                self._work.wait(remaining)  # record() wakes us when the cohort is complete
                self._idle = False
        finally:
            self._gather_want = 0

    def _prepare(self, items: list[tuple[int, dict[str, Any], Any, Any, str | None]]) -> tuple[list[PreparedRecord], dict[int, str]]:
        """Build the batch's records (here, not in the callers: one thread busy with Python
        code, the others waiting, avoids GIL convoys with the commit's I/O)."""
        out: list[PreparedRecord] = []
        failed: dict[int, str] = {}
        by_id = self._key_from_action_id
        batch = []
        for _, snap, action, _, key in items:
            if type(snap) is bytes:  # record_encoded(): decode here, on the writer thread
                try:
                    snap, action = _loads(snap), DigestedAction(_loads(action), action)
                except ValueError:  # not JSON: the build fails on it and it is noted as unrecordable
                    snap, action = {}, None
            if key is None and by_id:
                key = caller_chosen_id(action.get("id") if isinstance(action, Mapping) else getattr(action, "id", None))
            batch.append((snap, action, key))
        # snaps are record()'s own copies: the builder may take them apart (and puts a
        # snapshot back together when its build fails)
        built_all = self._builder.decisions(batch, owned=True)
        for i, ((ticket, _, _, waiter, _), (snap, _, _), built) in enumerate(zip(items, batch, built_all)):
            # the batch's items outlive the build (until the commit): let go of the
            # snapshot and the action now, so the garbage collector need not age them
            items[i] = (ticket, None, None, waiter, None)
            batch[i] = None  # type: ignore[call-overload]
            if type(built) is PreparedRecord:
                out.append(built)
                continue
            # record the failure itself instead
            failed[ticket] = f"decision {snap.get('decision_id')} cannot be recorded: {_safe_error(built)}"  # type: ignore[arg-type]
            notice = self._unrecordable_notice(snap, built)  # type: ignore[arg-type]
            if notice is not None:
                out.append(notice)
        return out, failed

    def _unrecordable_notice(self, snap: Mapping[str, Any], exc: BaseException) -> PreparedRecord | None:
        with self._lock:
            self._unrecordable += 1
        payload = {
            "decision_id": snap.get("decision_id"),
            "action_id": snap.get("action_id"),
            "decision": snap.get("decision"),
            "error": _safe_error(exc),
        }
        try:
            return self._builder.event("audit.unrecordable", payload, None)
        except Exception:  # noqa: BLE001
            log.exception("cannot record even the failure to record decision %s", snap.get("decision_id"))
            with self._lock:
                self._lost += 1
            return None

    def _notices(self) -> list[PreparedRecord]:
        """Chain entries about the writer itself: dropped records, late sync commits (lock held)."""
        out = []
        if self._dropped_unreported:
            out.append(
                self._builder.event("audit.dropped", {"count": self._dropped_unreported, "total": self._dropped}, None)
            )
            self._dropped_unreported = 0
        if self._late:
            out.append(
                self._builder.event(
                    "audit.late",
                    {
                        "decision_ids": list(self._late),
                        "note": "committed after the caller's sync timeout: enforcement denied these actions",
                    },
                    None,
                )
            )
            self._late = []
        return out

    def _commit(self, records: list[PreparedRecord]) -> bool:
        """Append with retries. False only when closing and the close deadline has passed."""
        delay = 0.02
        planned: tuple[int, str] | None = None
        while True:
            try:
                if planned is not None and self.store.contains(*planned):
                    return True  # the earlier attempt did commit
                result = self.store.append(records)
                if result.skipped:
                    with self._lock:
                        self._duplicates += result.skipped
                return True
            except StoreError as exc:
                planned = getattr(exc, "planned", None) or planned
                error = str(exc)
            except Exception as exc:  # noqa: BLE001 - driver bugs: retry like an outage, but say so
                log.exception("unexpected error while appending audit records")
                error = _safe_error(exc)
            with self._lock:
                self._store_error = error
                self._alert(f"audit store unavailable, retrying: {error}")
                if self._closing and time.monotonic() >= self._close_deadline:
                    return False
                self._work.wait(delay)
            delay = min(delay * 2, self._retry_max)

    def _checkpoint(self) -> None:
        assert self._signer is not None
        try:
            self.store.checkpoint(self._signer)
            self._since_checkpoint = 0
        except StoreError as exc:
            log.error("audit checkpoint failed: %s", exc)


@atexit.register
def _close_all() -> None:
    """Drain every live writer at interpreter exit ("on shutdown, the queue drains")."""
    for writer in list(_live):
        if writer._pid != os.getpid():
            continue
        try:
            writer.close(timeout=10.0)
        except Exception as exc:  # noqa: BLE001
            log.error("audit writer shutdown: %s", exc)
