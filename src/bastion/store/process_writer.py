"""ProcessAuditWriter: the async audit writer in a child process, on the second core.

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

Same promises as `AuditWriter(store, "async")`: `record()` returns at once; records are
committed within `flush_interval`; `flush()` waits for everything recorded so far;
`close()` drains (also at interpreter exit). Fail-closed (`on_failure="deny"`): when
`queue_size` records are not yet committed, when the store is known to be down, or
when the child has died, `record()` raises `AuditUnavailable` and the engine denies.
`"drop_and_alert"` drops, alerts and has the child write an `audit.dropped` notice.
If the parent is killed, the child commits what it has received and exits.

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
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

import orjson

from bastion.canonical import CanonicalError, canonical_bytes, digest_bytes, loads
from bastion.store.base import AuditUnavailable, StoreError
from bastion.store.checkpoints import Signer
from bastion.store.records import ID_PREFIX, RedactorLike, caller_chosen_id
from bastion.store.writer import AuditWriter, WriterBase, _live, _safe_error, check_options

log = logging.getLogger("bastion.audit")

OnFailure = Literal["deny", "drop_and_alert"]

#: a decision frame: lengths of the decision JSON, the action's canonical JSON and the
#: idempotency key (NO_KEY: none); a decision JSON of length 0 marks an unrecordable one
_FRAME = struct.Struct("<III")
_NO_KEY = 0xFFFFFFFF
#: parent -> child: B batch of frames, D n dropped, F token flush, C close
#: child -> parent: R ready, E error, S status (JSON), F token [error], X final status
#: the child's entry point (not `-m`: this module is already imported with the package)
_CHILD_MAIN = "import sys; from bastion.store.process_writer import _child; sys.exit(_child(int(sys.argv[1])))"


class ProcessAuditWriter(WriterBase):
    """An async audit writer whose records are built and committed in a child process."""

    durability = "async"

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        store_options: Mapping[str, Any] | None = None,
        queue_size: int = 20_000,
        flush_interval: float = 0.05,
        batch_size: int = 1000,
        on_failure: OnFailure = "deny",
        redactor_factory: Callable[[], RedactorLike] | None = None,
        redaction_key: bytes | None = None,
        signer: Signer | None = None,
        checkpoint_every: int | None = None,
        idempotency: Literal["action_id"] | None = None,
        on_alert: Callable[[str], None] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        """`url`: what `open_store` takes (the child opens the store itself).
        `redactor_factory`: a picklable callable that builds the child's redactor
        (default: the project's `Redactor` with this process's redaction key, so markers
        match the ones this process writes)."""
        check_options(on_failure, queue_size, batch_size, flush_interval, signer, checkpoint_every, idempotency)
        if redaction_key is None and redactor_factory is None:
            from bastion.secrets.markers import default_key

            redaction_key = default_key()[0]
        self.on_failure = on_failure
        self._deny = on_failure == "deny"
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._interval = flush_interval
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
        self._sender = threading.Thread(target=self._send_loop, name="bastion-audit-sender", daemon=True)
        self._receiver = threading.Thread(target=self._receive_loop, name="bastion-audit-receiver", daemon=True)
        self._sender.start()
        self._receiver.start()
        _live.add(self)

    # ------------------------------------------------------------------ callers

    def record(self, decision: Any, action: Any, *, idempotency_key: str | None = None) -> None:
        """Hand one decision and its action to the child. Returns at once; raises
        AuditUnavailable when the record cannot be accepted and `on_failure` is "deny"."""
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
            if self._store_error is not None and self._deny:
                return self._refuse(f"audit store unavailable ({self._store_error})")
            if self._accepted - self._done >= self._queue_size:
                return self._refuse(f"audit queue full ({self._queue_size} records waiting)")
            self._accepted += 1
            buf = self._buf
            buf.append(frame)
            if len(buf) == 1:
                self._first_at = time.monotonic()
                self._work.notify()
            elif len(buf) >= self._batch_size:
                self._work.notify()
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
                self._dead = True
            lost = self._lost + (final or {}).get("lost", 0)
            if final is None:
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
                "durability": "async",
                "process": self._proc.pid,
                "queued": self._accepted - self._done,
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
        """The child is gone (lock held): what it had not committed is lost; fail closed."""
        if self._dead:
            return
        self._dead = True
        code = self._proc.poll()
        self._store_error = f"the audit writer process exited ({why}, exit code {code})"
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


def _child(fd: int) -> int:
    from bastion.store import open_store

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent's Ctrl-C: it closes us in order
    conn = Connection(fd)
    config = pickle.loads(conn.recv_bytes())
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
        writer = AuditWriter(
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
        )
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        # what a store error says is written for users (no password); anything else: its type only
        conn.send_bytes(b"E" + _safe_error(exc).encode())
        return 1
    # the child's heap is its own: what exists now lives as long as the process, so
    # collections need not walk it again (records have no cycles: refcounting frees them)
    gc.freeze()
    send_lock = threading.Lock()
    extra_done = [0]  # unrecordable frames: written as notices here, not by the writer
    stop = threading.Event()

    def status() -> bytes:
        st = writer.stats
        st["done"] += extra_done[0]
        st["unrecordable"] += extra_done[0]
        return json.dumps(st, sort_keys=True).encode()

    def send(msg: bytes) -> None:
        with send_lock:
            conn.send_bytes(msg)

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
        if kind == b"B":
            # split into frames only: the writer thread decodes them with the build
            items: list[tuple[bytes, bytes, str | None]] = []
            i, end = 1, len(msg)
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
                    try:
                        store.append_event("audit.unrecordable", loads(raw), None)
                    except Exception as exc:  # noqa: BLE001
                        log.error("cannot record the failure to record a decision: %s", type(exc).__name__)
                    extra_done[0] += 1
                    continue
                items.append((body, raw, key))
            del msg
            writer.record_encoded(items)
        elif kind == b"D":
            writer.note_dropped(int(msg[1:]))
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
    try:
        send(b"X" + status())
    except OSError:
        pass
    return code
