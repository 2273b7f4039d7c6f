"""Notifications: tell people a request waits, with a link to it; retry; never block a decision.

    notifications:
      - {type: slack, url: https://hooks.slack.com/services/T000/B000/XXX}
      - {type: webhook, url: https://ops.example.com/bastion, secret_env: BASTION_WEBHOOK_SECRET}

A new request writes one outbox row per configured target in the same transaction as
the request (so a notification is never lost, even across a restart). A background
thread delivers them: generic JSON, or a Slack-compatible incoming-webhook message,
each with a deep link to the request. A failed delivery is retried with exponential
backoff; every failure is kept on the row, the final one is an audit record. The
decision never waits for any of this.

Webhook URLs are credentials (a Slack URL is enough to post): they are never stored,
logged or put in an error message. A row names its target by a fingerprint, resolved
against the configuration when it is delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from bastion.approvals.ledger import AuditedTx, audited, reading
from bastion.approvals.request import COLUMNS, ApprovalRequest, iso, ms
from bastion.errors import BastionError

log = logging.getLogger("bastion.approvals.notify")

TARGET_TYPES = ("slack", "webhook")
TARGET_KEYS = ("type", "url", "name", "secret", "secret_env", "link_base", "max_attempts")

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
#: a row claimed for sending this long ago belongs to a process that died: retry it
STALE_CLAIM_MS = 120_000


class NotificationConfigError(BastionError, ValueError):
    """The `notifications` section is malformed."""


@dataclass(frozen=True)
class Target:
    type: str
    url: str
    name: str | None = None
    secret: str | None = None
    link_base: str | None = None
    max_attempts: int | None = None

    @property
    def key(self) -> str:
        """A stable fingerprint that does not reveal the URL."""
        digest = hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:16]
        return f"{self.type}:{self.name or ''}:{digest}"

    @property
    def display(self) -> str:
        """For people: type, name and host only (the path of a webhook URL is its secret)."""
        try:
            host = urlsplit(self.url).hostname or "?"
        except ValueError:
            host = "?"
        return f"{self.type}{f' {self.name}' if self.name else ''} ({host})"


def targets_from_config(section: Any, environ: Mapping[str, str] | None = None) -> list[Target]:
    """Validate the `notifications` configuration value into targets."""
    env = os.environ if environ is None else environ
    if section is None:
        return []
    if not isinstance(section, list):
        raise NotificationConfigError("notifications: expected a list of {type: slack|webhook, url: ...}")
    out: list[Target] = []
    for i, entry in enumerate(section):
        where = f"notifications[{i}]"
        if not isinstance(entry, Mapping):
            raise NotificationConfigError(f"{where}: expected a mapping such as {{type: slack, url: https://...}}")
        unknown = sorted(str(k) for k in entry if k not in TARGET_KEYS)
        if unknown:
            raise NotificationConfigError(f"{where}: unknown key {unknown[0]!r} (expected {', '.join(TARGET_KEYS)})")
        kind = entry.get("type", "webhook")
        if kind not in TARGET_TYPES:
            raise NotificationConfigError(f"{where}.type: expected slack or webhook, got {kind!r}")
        url = entry.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise NotificationConfigError(f"{where}.url: expected an http(s) URL")
        secret = entry.get("secret")
        if entry.get("secret_env"):
            secret = env.get(str(entry["secret_env"]))
            if not secret:
                raise NotificationConfigError(f"{where}.secret_env: environment variable {entry['secret_env']} is not set")
        attempts = entry.get("max_attempts")
        if attempts is not None and (not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1):
            raise NotificationConfigError(f"{where}.max_attempts: expected a positive integer")
        name = entry.get("name")
        out.append(Target(kind, url, str(name) if name is not None else None, secret, entry.get("link_base"), attempts))
    keys = [t.key for t in out]
    if len(set(keys)) != len(keys):
        raise NotificationConfigError("notifications: the same target is listed twice (give them different names)")
    return out


# --------------------------------------------------------------------------- messages


def approval_link(base: str, approval_id: str) -> str:
    return f"{base.rstrip('/')}/approvals/{approval_id}"


def webhook_payload(req: ApprovalRequest, link: str) -> dict[str, Any]:
    """The generic JSON body: the request as `bastion approvals show` prints it, plus the link."""
    return {"event": "approval.requested", "approval_id": req.id, "link": link, "approval": req.to_dict()}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(req: ApprovalRequest, link: str) -> dict[str, Any]:
    """A Slack incoming-webhook message (text for notifications, blocks for the channel)."""
    who = ", ".join([*(f"role {r}" for r in req.approver_roles), *req.approvers]) or "anyone configured"
    rule = ", ".join(f"{r.get('policy')}/{r.get('rule')}" for r in req.rules[:3]) or "the policy default"
    summary = _slack_escape(req.summary())
    reason = _slack_escape(req.reason[:500])
    text = f"Approval needed: {summary}. {reason} <{link}|Review {req.id}>"
    body = (
        f"*Approval needed* for `{summary}`\n"
        f"*Why:* {reason}\n*Rule:* {_slack_escape(rule)}\n*Who may approve:* {_slack_escape(who)}"
        f" (quorum {req.quorum})\n*Expires:* {iso(req.expires_at)} (then {req.on_timeout.label})"
    )
    out: dict[str, Any] = {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Review"}, "url": link}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"`bastion approvals show {req.id}`"}]},
        ],
    }
    if req.channel:
        out["channel"] = req.channel
    return out


# --------------------------------------------------------------------------- delivery


@dataclass
class Delivery:
    """The result of one attempt: ok, or why not (never the URL, never the response body)."""

    ok: bool
    error: str | None = None


def post(client: Any, target: Target, payload: dict[str, Any], timeout: float) -> Delivery:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "bastion-approvals"}
    if target.secret:
        stamp = str(int(time.time()))
        mac = hmac.new(target.secret.encode("utf-8"), stamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
        headers["X-Bastion-Timestamp"] = stamp
        headers["X-Bastion-Signature"] = f"sha256={mac}"
    try:
        resp = client.post(target.url, content=body, headers=headers, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - the exception text may hold the URL: keep the class only
        return Delivery(False, f"{type(exc).__name__} contacting {target.display}")
    if 200 <= resp.status_code < 300:
        return Delivery(True)
    return Delivery(False, f"HTTP {resp.status_code} from {target.display}")


class Notifier:
    """Delivers approval notifications from the outbox, in a background thread."""

    def __init__(
        self,
        store: Any,
        targets: Iterable[Target],
        *,
        link_base: str = "http://127.0.0.1:8700",
        max_attempts: int = 6,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        client: Any = None,
        start: bool = True,
    ) -> None:
        self.store = store
        self.targets = {t.key: t for t in targets}
        self.link_base = link_base
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.clock = clock
        self._client = client
        self._owns_client = client is None
        self._cv = threading.Condition()
        self._kicked = False
        self._stop = False
        self._busy = 0
        self._thread: threading.Thread | None = None
        if start and self.targets:
            self.start()

    # ------------------------------------------------------------------ outbox

    def enqueue(self, tx: AuditedTx, req: ApprovalRequest, now: float) -> None:
        """Inside the request's transaction: one outbox row per target; wake up after commit."""
        if not self.targets:
            return
        from bastion.approvals.service import new_id

        for key in self.targets:
            tx.execute(
                "INSERT INTO bastion_approval_notifications (id, approval_id, target, status, attempts, next_ms, last_error, updated_ms) "
                "VALUES (?, ?, ?, ?, 0, ?, NULL, ?)",
                (new_id("nt"), req.id, key, PENDING, ms(now), ms(now)),
            )
        tx.after_commit(self.kick)

    def status(self, approval_id: str) -> list[dict[str, Any]]:
        """Delivery state of a request's notifications, for `approvals show`."""
        with reading(self.store) as r:
            rows = r.execute(
                "SELECT target, status, attempts, last_error, updated_ms FROM bastion_approval_notifications WHERE approval_id = ? ORDER BY id",
                (approval_id,),
            )
        out = []
        for key, status, attempts, err, updated in rows:
            t = self.targets.get(key)
            out.append({"target": t.display if t else key, "status": status, "attempts": int(attempts),
                        "last_error": err, "updated_at": iso(int(updated) / 1000.0)})
        return out

    # ------------------------------------------------------------------ the worker

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bastion-approval-notify", daemon=True)
            self._thread.start()

    def kick(self) -> None:
        with self._cv:
            self._kicked = True
            self._cv.notify_all()

    def _run(self) -> None:
        while True:
            with self._cv:
                if self._stop:
                    return
                self._kicked = False
                self._busy += 1
            try:
                next_at = self.deliver_due()
            except Exception:  # noqa: BLE001 - the store may be down: try again later
                log.exception("delivering approval notifications failed")
                next_at = self.clock() + 5.0
            finally:
                with self._cv:
                    self._busy -= 1
                    self._cv.notify_all()
            with self._cv:
                if self._stop:
                    return
                if not self._kicked:
                    wait = 60.0 if next_at is None else min(max(next_at - self.clock(), 0.0), 60.0)
                    if wait > 0:
                        self._cv.wait(wait)

    def deliver_due(self, now: float | None = None) -> float | None:
        """Deliver every due notification once. Returns when the next retry is due (None: nothing waits)."""
        now = self.clock() if now is None else now
        with reading(self.store) as r:
            rows = r.execute(
                "SELECT id, approval_id, target, status, attempts, next_ms, updated_ms FROM bastion_approval_notifications "
                "WHERE status IN (?, ?) ORDER BY next_ms, id",
                (PENDING, SENDING),
            )
        next_at: float | None = None
        for nid, approval_id, key, status, attempts, next_ms, updated_ms in rows:
            if status == SENDING and int(updated_ms) > ms(now) - STALE_CLAIM_MS:
                continue  # another process is sending it
            if int(next_ms) > ms(now):
                at = int(next_ms) / 1000.0
                next_at = at if next_at is None else min(next_at, at)
                continue
            later = self._deliver_one(nid, approval_id, key, int(attempts), now)
            if later is not None:
                next_at = later if next_at is None else min(next_at, later)
        return next_at

    def _claim(self, nid: str, now: float) -> bool:
        with audited(self.store) as tx:
            return tx.rowcount(
                "UPDATE bastion_approval_notifications SET status = ?, updated_ms = ? WHERE id = ? AND (status = ? OR (status = ? AND updated_ms <= ?))",
                (SENDING, ms(now), nid, PENDING, SENDING, ms(now) - STALE_CLAIM_MS),
            ) == 1

    def _deliver_one(self, nid: str, approval_id: str, key: str, attempts: int, now: float) -> float | None:
        if not self._claim(nid, now):
            return None
        target = self.targets.get(key)
        req = self._request(approval_id)
        attempts += 1
        if target is None:
            result = Delivery(False, "this target is no longer configured")
            attempts = self._limit(None)  # no point retrying
        elif req is None:
            result = Delivery(False, "the request no longer exists")
            attempts = self._limit(target)
        else:
            link = approval_link(target.link_base or self.link_base, req.id)
            payload = slack_payload(req, link) if target.type == "slack" else webhook_payload(req, link)
            result = post(self._http(), target, payload, self.timeout)
        done = self.clock()
        display = target.display if target else key
        event = {"approval_id": approval_id, "target": display, "attempts": attempts}
        if req is not None:
            event.update({k: v for k, v in (("agent", req.agent), ("session", req.session), ("capability", req.capability)) if v})
        with audited(self.store) as tx:
            if result.ok:
                tx.execute("UPDATE bastion_approval_notifications SET status = ?, attempts = ?, last_error = NULL, updated_ms = ? WHERE id = ?",
                           (DELIVERED, attempts, ms(done), nid))
                tx.event("approval.notified", event)
                return None
            if attempts >= self._limit(target):
                tx.execute("UPDATE bastion_approval_notifications SET status = ?, attempts = ?, last_error = ?, updated_ms = ? WHERE id = ?",
                           (FAILED, attempts, result.error, ms(done), nid))
                tx.event("approval.notify_failed", {**event, "error": result.error})
                log.error("approval %s: notification to %s failed after %d attempts: %s", approval_id, display, attempts, result.error)
                return None
            delay = min(self.base_delay * (2 ** (attempts - 1)), self.max_delay)
            tx.execute("UPDATE bastion_approval_notifications SET status = ?, attempts = ?, last_error = ?, next_ms = ?, updated_ms = ? WHERE id = ?",
                       (PENDING, attempts, result.error, ms(done + delay), ms(done), nid))
        log.warning("approval %s: notification to %s failed (attempt %d, retrying in %gs): %s", approval_id, display, attempts, delay, result.error)
        return done + delay

    def _limit(self, target: Target | None) -> int:
        if target is None:
            return 1
        return target.max_attempts or self.max_attempts

    def _request(self, approval_id: str) -> ApprovalRequest | None:
        with reading(self.store) as r:
            rows = r.execute(f"SELECT {COLUMNS} FROM bastion_approvals WHERE id = ?", (approval_id,))
        return ApprovalRequest.from_row(rows[0]) if rows else None

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(follow_redirects=False)
        return self._client

    # ------------------------------------------------------------------ draining

    def pending(self) -> int:
        with reading(self.store) as r:
            return int(r.execute("SELECT COUNT(*) FROM bastion_approval_notifications WHERE status IN (?, ?)", (PENDING, SENDING))[0][0])

    def flush(self, timeout: float = 10.0) -> int:
        """Deliver what is due now and retry until nothing is left or `timeout` passes.
        Returns how many notifications are still waiting (a later run retries them)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cv:  # let a running background pass finish first (no double sends)
                while self._busy and time.monotonic() < deadline:
                    self._cv.wait(0.05)
            next_at = self.deliver_due()
            left = self.pending()
            if not left:
                return 0
            remaining = deadline - time.monotonic()
            # None: what is left is being sent by another thread or process right now
            wait = 0.05 if next_at is None else max(next_at - self.clock(), 0.0)
            if remaining <= 0 or wait > remaining:
                return left
            with self._cv:
                self._cv.wait(wait)

    def close(self, timeout: float = 5.0) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None
