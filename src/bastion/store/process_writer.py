"""ProcessAuditWriter: the audit writer in a child process, on the second core.

Building a record (redaction, canonical JSON, chaining) costs more CPU than deciding,
and in one interpreter the writer thread and the deciding threads take turns on one
global lock: two cores do not help. This writer hands each decision to a child Python
process as two byte strings the caller can make cheaply, the decision's contract JSON
(`Decision.to_dict()`) and the action's canonical digest JSON (which the record holds
anyway), and the child runs an ordinary async `AuditWriter` on a connection of its own
to the same store. Everything a record is, how it is chained, redacted and committed,
is that writer's; the child only decodes.

The child is started as a fresh `python` running `_child(fd)` (never forked: it
inherits none of the parent's threads or locks, and user scripts are not re-imported)
and gets its settings, the redaction key included, over a private socket pair.

`async` (default), same promises as `AuditWriter(store, "async")`: `record()` returns
at once; records are committed within `flush_interval`; `flush()` waits for everything
recorded so far; `close()` drains (also at interpreter exit).

`sync`, same promises as `AuditWriter(store, "sync")`: `record()` returns once the child
says the record is committed. Callers that arrive while a batch is out go together in
a next one (group commit); a batch is sent at once (after waiting, at most as long as
the last round trip and 2 ms, for its cohort: half the callers in circulation), with
at most `_SYNC_IN_FLIGHT` (2) batches out, so one cohort decides while the other is
committed; the child has its writer commit a batch right away and acknowledge it by
number, naming the records that failed. The parent's interpreter is left to the
callers: building and committing happen in the child.

Fail-closed (`on_failure="deny"`): when `queue_size` records are not yet committed,
when the store is known to be down, or when the child has died, `record()` raises
`AuditUnavailable` and the engine denies; in sync mode also when the record is
unrecordable (the child writes the `audit.unrecordable` notice) or not committed within
`sync_timeout` (if it was already sent, the child notes it `audit.late` when it lands).
`"drop_and_alert"` drops, alerts and has the child write an `audit.dropped` notice, as
the thread writer does. If the parent is killed, the child commits what it has received
and exits.

One difference from the in-process writer, for decisions the engine never makes: a NaN
or infinity in a decision is written as null (orjson's reading), where the in-process
writer records the decision as unrecordable.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from _thread import allocate_lock as _allocate_lock
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import orjson

from bastion.canonical import CanonicalError, canonical_bytes, digest_bytes, loads
from bastion.store.base import AuditUnavailable, StoreError
from bastion.store.checkpoints import Signer
from bastion.store.records import ID_PREFIX, RedactorLike, caller_chosen_id
from bastion.store.writer import AuditWriter, Durability, WriterBase, _live, _safe_error, check_options

log = logging.getLogger("bastion.audit")

OnFailure = Literal["deny", "drop_and_alert"]

#: a decision frame: lengths of the decision JSON, the action's canonical JSON and the
#: idempotency key (NO_KEY: none); a decision JSON of length 0 marks an unrecordable one
_FRAME = struct.Struct("<III")
_NO_KEY = 0xFFFFFFFF
#: a sync batch's number
_BATCH = struct.Struct("<Q")
#: parent -> child: B batch of frames, Y numbered sync batch, D n dropped, L late decision
#: ids (JSON), F token flush, C close
#: child -> parent: R ready, E error, S status (JSON), A batch number [failures: JSON
#: {index: reason}], F token [error], X final status
#: the child's entry point (not `-m`: this module is already imported with the package)
_CHILD_MAIN = "import sys; from bastion.store.process_writer import _child; sys.exit(_child(int(sys.argv[1])))"
#: sync batches out at once (sent, not yet acknowledged)
_SYNC_IN_FLIGHT = 2


class _Waiter:
    """A sync caller: its lock (released when its batch is acknowledged) and the outcome."""

    __slots__ = ("lock", "error", "done", "decision_id", "gone")

    def __init__(self, decision_id: Any) -> None:
        self.lock = _allocate_lock()
        self.lock.acquire()
        self.error: str | None = None
        self.done = False
        self.decision_id = decision_id
        self.gone = False  # the caller stopped waiting (sync_timeout)


class ProcessAuditWriter(WriterBase):
    """An audit writer whose records are built and committed in a child process."""

    def __init__(
        self,
        url: str | os.PathLike[str],
        durability: Durability = "async",
        *,
        store_options: Mapping[str, Any] | None = None,
        queue_size: int = 20_000,
        flush_interval: float = 0.05,
        batch_size: int = 1000,
        on_failure: OnFailure = "deny",
        sync_timeout: float = 5.0,
        redactor_factory: Callable[[], RedactorLike] | None = None,
        redaction_key: bytes | None = None,
        signer: Signer | None = None,
        checkpoint_every: int | None = None,
        idempotency: Literal["action_id"] | None = None,
        on_alert: Callable[[str], None] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        """`url`: what `open_store` takes (the child opens the store itself).
        `durability`: "async" or "sync", as for `AuditWriter`.
        `redactor_factory`: a picklable callable that builds the child's redactor
        (default: the project's `Redactor` with this process's redaction key, so markers
        match the ones this process writes)."""
        if durability not in ("sync", "async"):
            raise ValueError("durability must be 'sync' or 'async'")
        check_options(on_failure, queue_size, batch_size, flush_interval, signer, checkpoint_every, idempotency)
        if not sync_timeout > 0:
            raise ValueError("sync_timeout must be > 0")
        if redaction_key is None and redactor_factory is None:
            from bastion.secrets.markers import default_key

            redaction_key = default_key()[0]
        self.durability = durability
        self.on_failure = on_failure
        self._sync = durability == "sync"
        self._deny = on_failure == "deny"
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._interval = flush_interval
        self._sync_timeout = sync_timeout
        self._key_from_action_id = idempotency == "action_id"
        self._on_alert = on_alert
        self._pid = os.getpid()

        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # the sender waits here
        self._done_cv = threading.Condition(self._lock)  # flush() and close() wait here
        self._buf: list[bytes] = []
        self._first_at = math.inf
        self._accepted = 0  # records handed to the child (or about to be)
        self._done = 0  # of those, committed or failed, as the child last said
        self._status: dict[str, Any] = {}
        self._store_error: str | None = None
        self._dropped = 0
        self._dropped_unsent = 0
        self._flush_wanted = 0
        self._flush_sent = 0
        self._flushed = 0
        self._flush_error: str | None = None
        self._closing = False
        self._dead = False
        self._lost = 0
        self._last_alert = 0.0
        self._final: dict[str, Any] | None = None
        # sync: the callers of the frames in _buf, the batches out (number -> callers,
        # sent at), callers not yet acknowledged, decision ids to note as late
        self._bufw: list[_Waiter] = []
        self._out: dict[int, tuple[list[_Waiter], float]] = {}
        self._batch_no = 0
        self._waiting = 0
        self._late_unsent: list[str] = []
        self._sender_wants: float = 1  # sync: the buffer length that wakes the sender
        self._cohort = 0  # sync: the batch size to wait for (see _sync_send_loop)
        self._last_trip = 0.0  # sync: seconds the last batch took, sent to acknowledged

        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # the directory holding the bastion package
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD_MAIN, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        config = {
            "url": os.fspath(url),
            "store_options": dict(store_options or {}),
            "sync": self._sync,
            "queue_size": queue_size,
            "flush_interval": flush_interval,
            "batch_size": batch_size,
            "redactor_factory": redactor_factory,
            "redaction_key": redaction_key,
            "signer_pem": signer.private_pem() if signer is not None else None,
            "checkpoint_every": checkpoint_every,
            "id_prefix": ID_PREFIX,
        }
        try:
            self._conn.send_bytes(pickle.dumps(config))
            if not self._conn.poll(start_timeout):
                raise StoreError(f"the audit writer process did not start within {start_timeout:g}s")
            reply = self._conn.recv_bytes()
        except (OSError, EOFError) as exc:
            self._stop_child()
            raise StoreError(f"the audit writer process failed to start ({type(exc).__name__})") from None
        except StoreError:
            self._stop_child()
            raise
        if reply[:1] != b"R":
            self._stop_child()
            raise StoreError(reply[1:].decode("utf-8", "replace") or "the audit writer process failed to start")
        self.pid = self._proc.pid
        self._sender = threading.Thread(
            target=self._sync_send_loop if self._sync else self._send_loop, name="bastion-audit-sender", daemon=True
        )
        self._receiver = threading.Thread(target=self._receive_loop, name="bastion-audit-receiver", daemon=True)
        self._sender.start()
        self._receiver.start()
        _live.add(self)

    # ------------------------------------------------------------------ callers

    def record(self, decision: Any, action: Any, *, idempotency_key: str | None = None) -> None:
        """Hand one decision and its action to the child. async: returns at once. sync:
        returns once the child has committed it. Raises AuditUnavailable when the record
        cannot be accepted (sync: was not committed) and `on_failure` is "deny"."""
        if self._pid != os.getpid():
            raise AuditUnavailable("this ProcessAuditWriter was created in another process (fork): open one per process")
        key = idempotency_key
        if key is None and self._key_from_action_id:
            key = caller_chosen_id(action.get("id") if isinstance(action, Mapping) else getattr(action, "id", None))
        snap = decision.to_dict() if hasattr(decision, "to_dict") else dict(decision)
        frame = _frame(snap, action, key)
        with self._lock:
            if self._closing or self._dead:
                raise AuditUnavailable("the audit writer is closed" if self._closing else f"the audit writer stopped: {self._store_error}")
            if self._store_error is not None and (self._deny or self._sync):
                # known outage (async drop_and_alert keeps sending: the child's queue is
                # the buffer for the outage)
                return self._refuse(f"audit store unavailable ({self._store_error})")
            if (self._waiting if self._sync else self._accepted - self._done) >= self._queue_size:
                return self._refuse(f"audit queue full ({self._queue_size} records waiting)")
            self._accepted += 1
            buf = self._buf
            buf.append(frame)
            if not self._sync:
                if len(buf) == 1:
                    self._first_at = time.monotonic()
                    self._work.notify()
                elif len(buf) >= self._batch_size:
                    self._work.notify()
                return None
            waiter = _Waiter(snap.get("decision_id"))
            self._bufw.append(waiter)
            self._waiting += 1
            if len(buf) >= self._sender_wants:
                self._work.notify()
        return self._await(waiter)

    def _await(self, waiter: _Waiter) -> None:
        """sync: wait for the acknowledgement of the batch carrying our record (as
        `AuditWriter` does: bounded waits, and what happens at `sync_timeout`)."""
        deadline = time.monotonic() + self._sync_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining > 0 and waiter.lock.acquire(timeout=min(remaining, 0.1)):
                if waiter.error is None:
                    return None
                with self._lock:
                    return self._refuse(waiter.error)
            with self._lock:
                if waiter.done:  # acknowledged as we timed out
                    return self._refuse(waiter.error) if waiter.error is not None else None
                if remaining > 0:
                    continue
                waiter.gone = True
                why = f"audit record not committed within {self._sync_timeout:g}s" + (
                    f"; store: {self._store_error}" if self._store_error else ""
                )
                try:
                    i = self._bufw.index(waiter)
                except ValueError:
                    i = -1
                if i >= 0:  # not sent yet: never written (denied, or dropped)
                    del self._bufw[i], self._buf[i]
                    self._accepted -= 1
                    self._waiting -= 1
                    return self._refuse(why)
                # sent: it lands when the store answers
                if self._deny:
                    self._late_unsent.append(str(waiter.decision_id))  # the chain says so
                    self._work.notify()
                    raise AuditUnavailable(why)
                self._alert(f"{why}; the record is in flight and will be written when the store answers")
                return None

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything recorded before this call is committed (or has failed)."""
        deadline = time.monotonic() + timeout if timeout is not None else math.inf
        with self._lock:
            self._flush_wanted += 1
            token = self._flush_wanted
            self._work.notify()
            while self._flushed < token and not self._dead:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AuditUnavailable(
                        f"audit flush timed out with {self._accepted - self._done} records pending"
                        + (f" (store: {self._store_error})" if self._store_error else "")
                    )
                self._done_cv.wait(min(remaining, 3600.0))
            if self._flushed < token:
                raise AuditUnavailable(f"the audit writer stopped: {self._store_error}")
            if self._flush_error is not None:
                raise AuditUnavailable(self._flush_error)

    def close(self, timeout: float = 30.0) -> None:
        """Drain (waiting up to `timeout` for a store that is down), stop the child.
        Raises AuditUnavailable if records could not be written."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._close_timeout = timeout
            self._work.notify()
        _live.discard(self)
        if self._pid != os.getpid():
            return
        self._sender.join(timeout + 10.0)
        try:
            self._proc.wait(timeout + 10.0)
        except subprocess.TimeoutExpired:
            self._stop_child()
        self._receiver.join(5.0)
        with self._lock:
            final = self._final
            if final is None and not self._dead:
                if self._sync:
                    self._died("it did not report")  # tells the callers still waiting
                self._dead = True
            lost = self._lost + (final or {}).get("lost", 0)
            if final is None and not self._sync:  # sync callers were told
                lost = max(lost, self._accepted - self._done)
            self._lost = lost
        try:
            self._conn.close()
        except OSError:
            pass
        if lost:
            raise AuditUnavailable(f"{lost} audit records could not be written before shutdown: {self._store_error}")

    @property
    def stats(self) -> dict[str, Any]:
        with self._lock:
            st = self._final or self._status
            return {
                "durability": self.durability,
                "process": self._proc.pid,
                "queued": self._waiting if self._sync else self._accepted - self._done,
                "recorded": self._accepted,
                "done": self._done,
                "committed": st.get("committed", 0),
                "duplicates": st.get("duplicates", 0),
                "batches": st.get("batches", 0),
                "dropped": self._dropped,
                "unrecordable": st.get("unrecordable", 0),
                "lost": self._lost + st.get("lost", 0),
                "store_error": self._store_error,
            }

    # ------------------------------------------------------------------ failure policy (lock held)

    def _refuse(self, reason: str) -> None:
        if self._deny:
            raise AuditUnavailable(reason)
        self._dropped += 1
        self._dropped_unsent += 1
        self._work.notify()
        self._alert(f"audit record dropped: {reason} ({self._dropped} dropped so far)")
        return None

    def _died(self, why: str) -> None:
        """The child is gone (lock held): what it had not committed is lost (sync: its
        callers are told); fail closed."""
        if self._dead:
            return
        self._dead = True
        code = self._proc.poll()
        self._store_error = f"the audit writer process exited ({why}, exit code {code})"
        if self._sync:
            waiters = [w for ws, _ in self._out.values() for w in ws] + self._bufw
            for w in waiters:
                w.error = f"the audit writer stopped: {self._store_error}"
                w.done = True
                if w.gone and not self._deny:  # its caller went on, trusting it would land
                    self._lost += 1
                w.lock.release()
            self._out, self._bufw, self._waiting = {}, [], 0
        else:
            self._lost += self._accepted - self._done
        self._buf = []
        if self._lost or not self._closing:
            self._alert(f"{self._store_error}; {self._lost} records lost")
        self._done_cv.notify_all()
        self._work.notify_all()

    def _stop_child(self) -> None:
        try:
            self._proc.kill()
            self._proc.wait(5.0)
        except (OSError, subprocess.TimeoutExpired):  # pragma: no cover - already gone
            pass
        conn = getattr(self, "_conn", None)
        if conn is not None and not self._closing:
            conn.close()

    # ------------------------------------------------------------------ the parent's two threads

    def _send_loop(self) -> None:
        conn = self._conn
        while True:
            with self._lock:
                while True:
                    if self._dead:
                        return
                    flush = self._flush_wanted > self._flush_sent
                    if self._buf and (
                        flush or self._closing or len(self._buf) >= self._batch_size
                        or time.monotonic() >= self._first_at + self._interval
                    ):
                        break
                    if flush or self._dropped_unsent or self._closing:
                        break
                    wait = self._first_at + self._interval - time.monotonic() if self._buf else None
                    self._work.wait(wait)
                frames, self._buf = self._buf, []
                self._first_at = math.inf
                dropped, self._dropped_unsent = self._dropped_unsent, 0
                token = self._flush_wanted
                closing = self._closing
            try:
                if dropped:
                    conn.send_bytes(b"D%d" % dropped)
                if frames:
                    conn.send_bytes(b"B" + b"".join(frames))
                if token > self._flush_sent:
                    conn.send_bytes(b"F%d" % token)
                    self._flush_sent = token
                if closing:
                    with self._lock:
                        if self._buf or self._dropped_unsent:
                            continue  # recorded while we sent: one more round
                    conn.send_bytes(b"C" + repr(float(self._close_timeout)).encode())
                    return
            except OSError:
                with self._lock:
                    self._died("its pipe broke")
                return

    def _sync_send_loop(self) -> None:
        """sync: send what waits as one numbered batch as soon as fewer than
        `_SYNC_IN_FLIGHT` batches are out. Before sending, wait for a cohort: the callers
        in circulation (waiting when the last acknowledgement came) split in
        `_SYNC_IN_FLIGHT` parts, for at most the last round trip (2 ms at most), as
        `AuditWriter._gather` waits for its cohort. With two batches out, two cohorts
        take turns: one is committed in the child while the other decides here (one
        cohort of all callers leaves nothing to overlap; batches sent without waiting
        carry a caller or two each)."""
        conn = self._conn
        while True:
            with self._lock:
                gather_until = None
                while True:
                    if self._dead:
                        return
                    closing = self._closing
                    room = len(self._out) < _SYNC_IN_FLIGHT or closing
                    if self._buf and room:
                        want = min(self._cohort, self._batch_size)
                        if len(self._buf) >= want or closing or self._flush_wanted > self._flush_sent:
                            break
                        now = time.monotonic()
                        if gather_until is None:
                            gather_until = now + min(self._last_trip, 0.002)
                        if now >= gather_until:
                            break
                        self._sender_wants = want
                        self._work.wait(gather_until - now)
                        continue
                    gather_until = None
                    if self._dropped_unsent or self._late_unsent or (not self._buf and (closing or self._flush_wanted > self._flush_sent)):
                        break
                    self._sender_wants = 1 if room else math.inf
                    self._work.wait()
                self._sender_wants = math.inf
                frames, waiters = self._buf[: self._batch_size], self._bufw[: self._batch_size]
                del self._buf[: len(frames)], self._bufw[: len(frames)]
                number = 0
                if frames:
                    self._batch_no += 1
                    number = self._batch_no
                    self._out[number] = (waiters, time.monotonic())
                dropped, self._dropped_unsent = self._dropped_unsent, 0
                late, self._late_unsent = self._late_unsent, []
                # a flush goes after every frame recorded before it
                token = self._flush_wanted if not self._buf else self._flush_sent
                last = closing and not self._buf and not self._dropped_unsent and not self._late_unsent
            try:
                if dropped:
                    conn.send_bytes(b"D%d" % dropped)
                if late:
                    conn.send_bytes(b"L" + json.dumps(late).encode())
                if frames:
                    conn.send_bytes(b"Y" + _BATCH.pack(number) + b"".join(frames))
                if token > self._flush_sent:
                    conn.send_bytes(b"F%d" % token)
                    self._flush_sent = token
                if last:
                    conn.send_bytes(b"C" + repr(float(self._close_timeout)).encode())
                    return
            except OSError:
                with self._lock:
                    self._died("its pipe broke")
                return

    def _receive_loop(self) -> None:
        conn = self._conn
        while True:
            try:
                msg = conn.recv_bytes()
            except (EOFError, OSError):
                with self._lock:
                    if self._final is None:
                        self._died("it closed its pipe")
                    self._done_cv.notify_all()
                return
            kind, body = msg[:1], msg[1:]
            with self._lock:
                if kind == b"A":
                    number, _, failed = body.partition(b" ")
                    out = self._out.pop(int(number), None)
                    if out is None:  # pragma: no cover - the child acknowledges each batch once
                        log.error("audit writer process acknowledged an unknown batch %s", number)
                        continue
                    waiters, sent_at = out
                    self._last_trip = time.monotonic() - sent_at
                    if failed:
                        for i, error in json.loads(failed).items():
                            waiters[int(i)].error = error
                    for w in waiters:
                        w.done = True
                        if w.gone and w.error is not None and not self._deny:
                            self._lost += 1  # its caller went on, trusting it would land
                            self._alert(f"audit record lost after its caller went on: {w.error}")
                        w.lock.release()
                    # the callers in circulation, split in as many cohorts as batches can be out
                    self._cohort = -(-self._waiting // _SYNC_IN_FLIGHT)
                    self._waiting -= len(waiters)
                    self._work.notify()
                    continue
                if kind == b"S" or kind == b"X":
                    st = json.loads(body)
                    self._status = st
                    self._done = st["done"]
                    error = st.get("store_error")
                    if error != self._store_error:
                        self._store_error = error
                        if error is not None:
                            self._alert(f"audit store unavailable: {error}")
                    if kind == b"X":
                        self._final = st
                elif kind == b"F":
                    token, _, error = body.partition(b" ")
                    self._flushed = int(token)
                    self._flush_error = error.decode("utf-8", "replace") or None
                self._done_cv.notify_all()


def _frame(snap: dict[str, Any], action: Any, key: str | None) -> bytes:
    """One decision as bytes the child decodes with orjson (or, for what orjson cannot
    write, such as integers beyond 64 bits, canonical JSON and the standard library)."""
    try:
        raw = digest_bytes(action)[1]
        try:
            body = orjson.dumps(snap)
        except (orjson.JSONEncodeError, TypeError):
            body = canonical_bytes(snap)
    except (CanonicalError, ValueError, TypeError) as exc:
        # unrecordable: the child writes an audit.unrecordable notice in its place
        raw = orjson.dumps(
            {
                "decision_id": _str(snap.get("decision_id")),
                "action_id": _str(snap.get("action_id")),
                "decision": _str(snap.get("decision")),
                "error": _safe_error(exc),
            }
        )
        return _FRAME.pack(0, len(raw), _NO_KEY) + raw
    if key is None:
        return _FRAME.pack(len(body), len(raw), _NO_KEY) + body + raw
    k = key.encode("utf-8", "surrogatepass")
    return _FRAME.pack(len(body), len(raw), len(k)) + body + raw + k


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------- the child


class _ChildWriter(AuditWriter):
    """The child's async writer, which can also commit a sync batch at once and
    acknowledge it from the writer thread right after the commit (no other thread to
    wake, none competing with the next build for the interpreter lock), naming the
    records that did not commit (for the parent's sync callers)."""

    def __init__(self, *args: Any, send: Callable[[bytes], None], sync: bool, **kwargs: Any) -> None:
        self._send = send
        self._keep_failures = sync  # async: nobody asks (the notices are on record)
        # sync batches not yet acknowledged: (number, first and last ticket, each
        # ticket's place in its batch, failures by place); failures by ticket
        self._unacked: deque[tuple[int, int, int, list[int], dict[int, str]]] = deque()
        self._failures: dict[int, str] = {}
        super().__init__(*args, **kwargs)

    def record_now(self, number: int, items: list[tuple[bytes, bytes, str | None]], index: list[int], failed: dict[int, str]) -> None:
        """Queue sync batch `number` and have the writer take it without waiting out
        `flush_interval` (only the child's main thread records)."""
        if not items:  # nothing for the writer: every frame was unrecordable in the parent
            self._send_ack(number, failed)
            return
        with self._lock:  # before the writer can take them
            first = self._next_ticket + 1
            self._unacked.append((number, first, first + len(items) - 1, index, failed))
        self.record_encoded(items)
        with self._lock:
            self._flush_upto = max(self._flush_upto, self._next_ticket)
            if self._idle:
                self._work.notify()

    def note_late(self, decision_ids: list[str]) -> None:
        """Sync records whose callers stopped waiting: an `audit.late` notice says so."""
        with self._lock:
            self._late.extend(decision_ids)
            if self._idle:
                self._work.notify()

    def _prepare(self, items: Any) -> Any:
        records, failed = super()._prepare(items)
        if failed and self._keep_failures:
            with self._lock:
                self._failures.update(failed)
        if not records and items:  # nothing to commit (not even a notice): done
            self._acknowledge(items[-1][0])
        return records, failed

    def _commit(self, records: Any) -> bool:
        ok = super()._commit(records)
        with self._lock:
            if not ok and self._keep_failures:  # closing, the store still down
                for ticket, *_ in self._inflight:
                    self._failures.setdefault(ticket, f"audit store unavailable: {self._store_error}")
        self._acknowledge(self._taken_upto)
        return ok

    def _acknowledge(self, upto: int, why: str | None = None) -> None:
        """Acknowledge the sync batches whose records up to ticket `upto` are done (all
        of them, failed with `why`, when `why` is given)."""
        while True:
            with self._lock:
                if not self._unacked or self._unacked[0][2] > upto:
                    return
                number, first, last, index, failed = self._unacked.popleft()
                for t in range(first, last + 1):
                    error = self._failures.pop(t, None) if why is None else why
                    if error is not None:
                        failed[index[t - first]] = error
            self._send_ack(number, failed)

    def _send_ack(self, number: int, failed: dict[int, str]) -> None:
        try:
            self._send(b"A%d" % number + (b" " + json.dumps(failed).encode() if failed else b""))
        except OSError:
            pass  # the parent is gone: nobody waits


def _child(fd: int) -> int:
    from bastion.store import open_store

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's Ctrl-C: it closes us in order
    conn = Connection(fd)
    config = pickle.loads(conn.recv_bytes())
    send_lock = threading.Lock()

    def send(msg: bytes) -> None:
        with send_lock:
            conn.send_bytes(msg)

    try:
        store = open_store(config["url"], **config["store_options"])
        factory = config["redactor_factory"]
        if factory is not None:
            redactor = factory()
        else:
            from bastion.secrets import Redactor

            redactor = Redactor(key=config["redaction_key"])
        signer = None
        if config["signer_pem"] is not None:
            from cryptography.hazmat.primitives import serialization

            signer = Signer(serialization.load_pem_private_key(config["signer_pem"], password=None))  # type: ignore[arg-type]
        writer = _ChildWriter(
            store,
            "async",
            # the parent bounds what is in flight; here records wait out an outage
            queue_size=config["queue_size"] * 2 + config["batch_size"],
            flush_interval=config["flush_interval"],
            batch_size=config["batch_size"],
            on_failure="drop_and_alert",
            redactor=redactor,
            signer=signer,
            checkpoint_every=config["checkpoint_every"],
            owns_store=True,
            id_prefix=config["id_prefix"],
            send=send,
            sync=config["sync"],
        )
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        # what a store error says is written for users (no password); anything else: its type only
        conn.send_bytes(b"E" + _safe_error(exc).encode())
        return 1
    # the child's heap is its own: what exists now lives as long as the process, so
    # collections need not walk it again (records have no cycles: refcounting frees them)
    gc.freeze()
    extra_done = [0]  # unrecordable frames: written as notices here, not by the writer
    stop = threading.Event()

    def status() -> bytes:
        st = writer.stats
        st["done"] += extra_done[0]
        st["unrecordable"] += extra_done[0]
        return json.dumps(st, sort_keys=True).encode()

    def report() -> None:
        last = b""
        while not stop.wait(min(config["flush_interval"], 0.02)):
            st = status()
            if st != last:
                try:
                    send(b"S" + st)
                except OSError:
                    return
                last = st

    reporter = threading.Thread(target=report, name="bastion-audit-reporter", daemon=True)
    send(b"R")
    reporter.start()
    close_timeout = 30.0
    unpack = _FRAME.unpack_from
    size = _FRAME.size
    while True:
        try:
            msg = conn.recv_bytes()
        except (EOFError, OSError):
            break  # the parent is gone: commit what we have, then exit
        kind = msg[:1]
        if kind == b"B" or kind == b"Y":
            # split into frames only: the writer thread decodes them with the build
            items: list[tuple[bytes, bytes, str | None]] = []
            index: list[int] = []  # sync: each item's place in its batch
            failed: dict[int, str] = {}
            i, end = 1 if kind == b"B" else 1 + _BATCH.size, len(msg)
            n = 0
            while i < end:
                lb, lr, lk = unpack(msg, i)
                i += size
                body = msg[i : i + lb]
                i += lb
                raw = msg[i : i + lr]
                i += lr
                key = None
                if lk != _NO_KEY:
                    key = msg[i : i + lk].decode("utf-8", "surrogatepass")
                    i += lk
                if not lb:  # unrecordable in the parent
                    notice = loads(raw)
                    try:
                        store.append_event("audit.unrecordable", notice, None)
                    except Exception as exc:  # noqa: BLE001
                        log.error("cannot record the failure to record a decision: %s", type(exc).__name__)
                    extra_done[0] += 1
                    failed[n] = f"decision {notice.get('decision_id')} cannot be recorded: {notice.get('error')}"
                else:
                    items.append((body, raw, key))
                    index.append(n)
                n += 1
            if kind == b"B":
                del msg
                writer.record_encoded(items)
            else:
                number = _BATCH.unpack_from(msg, 1)[0]
                del msg
                writer.record_now(number, items, index, failed)
        elif kind == b"D":
            writer.note_dropped(int(msg[1:]))
        elif kind == b"L":
            writer.note_late(json.loads(msg[1:]))
        elif kind == b"F":
            error = b""
            try:
                writer.flush()
            except AuditUnavailable as exc:
                error = b" " + str(exc).encode()
            send(b"S" + status())
            send(b"F" + msg[1:] + error)
        elif kind == b"C":
            close_timeout = float(msg[1:])
            break
    stop.set()
    reporter.join(1.0)
    code = 0
    try:
        writer.close(timeout=close_timeout)
    except AuditUnavailable as exc:
        log.error("%s", exc)
        code = 2
    # a writer that stopped (a bug) leaves batches unacknowledged: their callers are told
    writer._acknowledge(math.inf, f"the audit writer stopped: {writer.stats['store_error']}")  # type: ignore[arg-type]
    try:
        send(b"X" + status())
    except OSError:
        pass
    return code
