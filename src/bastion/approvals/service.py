"""The approval request lifecycle on the store: create, vote, resolve, expire, use.

    service = ApprovalService(store, people=People.from_config(cfg["people"]))
    res = service.resolve(decision, action, compiled=engine.policies)   # the engine stage does this
    service.approve(res.request.id, "sam@example.com", "checked the diff", scope="once")
    service.wait(res.request.id, timeout=60)

Every state change happens in one audited transaction (ledger.py): the rows and the
audit record commit together or not at all. Expiry is lazy and exact: a pending request
whose time has passed is expired (with its record) by whoever looks at it next (the
stage deciding the same action, `get`, `list`, `wait`, `expire_due`), and its
`resolved_at` is its expiry time, not the time someone noticed.

An approved action request creates a *grant* bound to the action's digest; an expired
one creates a single-use *fallback grant* carrying the rule's `on_timeout` effect (deny
unless the rule explicitly says otherwise). Requests of other kinds (policy changes)
are resolved by a hook of their kind instead (see KIND_HOOKS).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from bastion.approvals.duties import ApprovalError, ApprovalRefused, check_cancel, check_reason, check_scope, check_voter
from bastion.approvals.ledger import AuditedTx, audited, joined, reading
from bastion.approvals.people import People
from bastion.approvals.request import (
    COLUMNS,
    KIND_ACTION,
    SCOPES,
    ApprovalRequest,
    Grant,
    Status,
    Vote,
    from_ms,
    iso,
    ms,
)
from bastion.canonical import action_digest
from bastion.model import Action, Decision, Effect, coerce_action

log = logging.getLogger("bastion.approvals")

DEFAULT_TIMEOUT = 4 * 3600.0

#: kind -> "module:function" called as fn(service, tx, request, now) inside the
#: transaction that resolves a request of that kind (approved, denied, expired, cancelled).
KIND_HOOKS: dict[str, str] = {
    "policy.change": "bastion.lifecycle.changes:on_approval_resolved",
}


def new_id(prefix: str) -> str:
    """Unguessable ids: an approval id travels in links."""
    return f"{prefix}-{os.urandom(10).hex()}"


@dataclass
class Resolution:
    """What the store says about a require_approval decision of one action.

    outcome: `created` (a new request), `pending` (the same action already waits),
    `granted` (an approval or fallback lets it through: see `grant.effect`), or
    `denied` (an approver refused this exact action and the refusal still stands).
    """

    outcome: str
    request: ApprovalRequest
    grant: Grant | None = None


class ApprovalService:
    """Approval requests on a store. Thread-safe; any number of processes may share the store."""

    def __init__(
        self,
        store: Any,
        people: People | Mapping[str, Any] | None = None,
        *,
        notifier: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import bastion.approvals.schema  # noqa: F401 - registers the tables

        self.store = store
        if "approvals" not in store.schema_versions():
            store.migrate()
        self.people = people if isinstance(people, People) else People.from_config(people)
        self.notifier = notifier
        self.clock = clock
        self._changed = threading.Condition()

    # ------------------------------------------------------------------ reading

    def get(self, approval_id: str, *, now: float | None = None) -> ApprovalRequest:
        """The request with its votes and grants (expired first if its time has passed)."""
        now = self.clock() if now is None else now
        with reading(self.store) as r:
            req = self._load(r, approval_id)
        if req.status is Status.PENDING and req.expires_at <= now:
            with audited(self.store) as tx:
                req = self._load(tx, approval_id)
                if req.status is Status.PENDING and req.expires_at <= now:
                    self._expire(tx, req, now)
                    req = self._load(tx, approval_id)
            self._signal()
        return req

    def list(self, status: str | Iterable[str] | None = None, *, limit: int | None = None, now: float | None = None) -> list[ApprovalRequest]:
        """Requests, newest first; `status` one or several of pending/approved/... (None: all)."""
        self.expire_due(now=now)
        statuses = [status] if isinstance(status, str) else list(status or [])
        for s in statuses:
            Status(s)  # ValueError on a typo
        sql = f"SELECT {COLUMNS} FROM bastion_approvals"
        params: list[Any] = []
        if statuses:
            sql += f" WHERE status IN ({', '.join('?' for _ in statuses)})"
            params.extend(statuses)
        sql += " ORDER BY created_ms DESC, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with reading(self.store) as r:
            reqs = [ApprovalRequest.from_row(row) for row in r.execute(sql, params)]
            for req in reqs:
                req.votes = self._votes(r, req.id)
        return reqs

    def _load(self, r: Any, approval_id: str) -> ApprovalRequest:
        rows = r.execute(f"SELECT {COLUMNS} FROM bastion_approvals WHERE id = ?", (approval_id,))
        if not rows:
            raise ApprovalError(f"no approval request {approval_id!r}")
        req = ApprovalRequest.from_row(rows[0])
        req.votes = self._votes(r, approval_id)
        req.grants = self._grants(r, approval_id=approval_id)
        return req

    def _votes(self, r: Any, approval_id: str) -> list[Vote]:
        rows = r.execute(
            "SELECT approver, vote, reason, scope, until_ms, ts_ms FROM bastion_approval_votes WHERE approval_id = ? ORDER BY n",
            (approval_id,),
        )
        return [Vote(a, v, why, s, from_ms(u), from_ms(t) or 0.0) for a, v, why, s, u, t in rows]

    def _grants(self, r: Any, *, approval_id: str | None = None, digest: str | None = None) -> list[Grant]:
        column, value = ("approval_id", approval_id) if approval_id is not None else ("digest", digest)
        rows = r.execute(
            "SELECT id, approval_id, digest, effect, scope, uses_left, until_ms, created_ms, used "
            f"FROM bastion_approval_grants WHERE {column} = ? ORDER BY created_ms, id",
            (value,),
        )
        return [
            Grant(g, a, d, Effect.parse(e), s, None if u is None else int(u), from_ms(un), from_ms(c) or 0.0, int(used))
            for g, a, d, e, s, u, un, c, used in rows
        ]

    # ------------------------------------------------------------------ the engine's question

    def resolve(
        self,
        decision: Decision,
        action: Action | Mapping[str, Any],
        *,
        compiled: Any = None,
        now: float | None = None,
    ) -> Resolution:
        """For a require_approval decision: use a grant, find the waiting request, or create one."""
        action = coerce_action(action)
        now = self.clock() if now is None else now
        digest = action_digest(action)
        with reading(self.store) as r:  # the common repeat (still pending, or denied) needs no write
            pending = self._requests(r, digest=digest, status=Status.PENDING)
            if not any(p.expires_at <= now for p in pending) and not any(g.usable(now) for g in self._grants(r, digest=digest)):
                found = self._waiting(r, digest, pending, now)
                if found is not None:
                    return found
        with audited(self.store) as tx:
            for req in self._requests(tx, digest=digest, status=Status.PENDING):
                if req.expires_at <= now:
                    self._expire(tx, req, now)
            for grant in self._grants(tx, digest=digest):
                if grant.usable(now):
                    self._use(tx, grant, decision, action, now)
                    return Resolution("granted", self._load(tx, grant.approval_id), grant)
            found = self._waiting(tx, digest, self._requests(tx, digest=digest, status=Status.PENDING), now)
            if found is not None:
                return found
            req = self._build(decision, action, digest, now, compiled)
            self._insert(tx, req, now)
        self._signal()
        return Resolution("created", req)

    def peek(self, action: Action | Mapping[str, Any], *, now: float | None = None) -> Resolution | None:
        """What `resolve` would find, without changing anything (for `explain`): a usable
        grant, the request the action waits on, or a standing denial. None otherwise."""
        action = coerce_action(action)
        now = self.clock() if now is None else now
        digest = action_digest(action)
        with reading(self.store) as r:
            for grant in self._grants(r, digest=digest):
                if grant.usable(now):
                    return Resolution("granted", self._load(r, grant.approval_id), grant)
            pending = [p for p in self._requests(r, digest=digest, status=Status.PENDING) if p.expires_at > now]
            return self._waiting(r, digest, pending, now)

    def _waiting(self, r: Any, digest: str, pending: list[ApprovalRequest], now: float) -> Resolution | None:
        """The request this action already waits on, or the denial that still stands."""
        for req in pending:
            if req.kind == KIND_ACTION:
                return Resolution("pending", req)
        for req in self._requests(r, digest=digest, status=Status.DENIED):
            if req.kind == KIND_ACTION and req.expires_at > now:
                return Resolution("denied", req)
        return None

    def create(self, tx: AuditedTx | None = None, /, **fields: Any) -> ApprovalRequest:
        """Create a request of any kind from explicit fields (policy changes use this)."""
        now = fields.pop("now", None)
        now = self.clock() if now is None else now
        timeout = float(fields.pop("timeout_seconds", DEFAULT_TIMEOUT))
        action = coerce_action(fields.pop("action"))
        req = ApprovalRequest(
            id=new_id("ap"),
            digest=action_digest(action),
            status=Status.PENDING,
            created_at=now,
            expires_at=now + timeout,
            action=self._redacted_action(action),
            agent=action.agent.id,
            session=action.session.id,
            owner=action.agent.owner,
            **fields,
        )
        _check_request(req)
        with joined(self.store, tx) as t:
            self._insert(t, req, now)
        self._signal()
        return req

    def _requests(self, r: Any, *, digest: str, status: Status) -> list[ApprovalRequest]:
        rows = r.execute(
            f"SELECT {COLUMNS} FROM bastion_approvals WHERE digest = ? AND status = ? ORDER BY created_ms DESC, id",
            (digest, status.value),
        )
        return [ApprovalRequest.from_row(row) for row in rows]

    def _redacted_text(self, text: str) -> str:
        """Free text people write (reasons) is stored like everything else: secrets redacted."""
        redacted, _ = self.store.get_redactor().redact_value(text)
        return redacted if isinstance(redacted, str) else text

    def _redacted_action(self, action: Action) -> dict[str, Any]:
        redacted, _ = self.store.get_redactor().redact_action(action.to_dict())
        return redacted

    def _build(self, decision: Decision, action: Action, digest: str, now: float, compiled: Any) -> ApprovalRequest:
        approval = decision.approval or {}
        scopes, max_seconds, channel = rule_scope_policy(decision, compiled)
        timeout = approval.get("timeout_seconds")
        timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
        requested_by = action.context.get("requested_by")
        redactor = self.store.get_redactor()
        rules, _ = redactor.redact_value([r.to_dict() for r in decision.rules])
        reason, _ = redactor.redact_value(decision.reason)
        req = ApprovalRequest(
            id=new_id("ap"),
            kind=KIND_ACTION,
            digest=digest,
            status=Status.PENDING,
            created_at=now,
            expires_at=now + timeout,
            on_timeout=Effect.parse(approval.get("on_timeout", "deny")),
            quorum=int(approval.get("quorum", 1)),
            approver_roles=list(decision.approver_roles),
            approvers=list(approval.get("approvers", [])),
            channel=channel,
            owner_may_approve=bool(approval.get("owner_may_approve", True)),
            scopes=scopes,
            max_scope_seconds=max_seconds,
            agent=action.agent.id,
            session=action.session.id,
            owner=action.agent.owner,
            requested_by=requested_by if isinstance(requested_by, str) and requested_by.strip() else None,
            action=self._redacted_action(action),
            rules=rules,
            reason=reason,
            decision_id=decision.decision_id,
        )
        _check_request(req)
        return req

    def _insert(self, tx: AuditedTx, req: ApprovalRequest, now: float) -> None:
        tx.execute(
            f"INSERT INTO bastion_approvals ({COLUMNS}) VALUES ({', '.join('?' for _ in range(15))})",
            (
                req.id, req.kind, req.digest, req.status.value, ms(req.created_at), ms(req.expires_at),
                None, None, None, req.agent, req.session, req.owner, req.on_timeout.label, req.quorum,
                json.dumps(req.body(), sort_keys=True, separators=(",", ":")),
            ),
        )
        tx.event("approval.requested", {**self._event_base(req), "expires_at": iso(req.expires_at),
                                        "on_timeout": req.on_timeout.label, "quorum": req.quorum,
                                        "approver_roles": req.approver_roles, "approvers": req.approvers,
                                        "scopes": req.scopes, "decision_id": req.decision_id,
                                        "action": req.action, "reason": req.reason, "subject": req.subject})
        if self.notifier is not None:
            self.notifier.enqueue(tx, req, now)

    def _event_base(self, req: ApprovalRequest) -> dict[str, Any]:
        first = req.rules[0] if req.rules else {}
        out: dict[str, Any] = {
            "approval_id": req.id,
            "kind": req.kind,
            "digest": req.digest,
            "agent": req.agent,
            "session": req.session,
            "capability": req.capability,
            "policy": req.subject.get("policy") or first.get("policy"),
            "rule": first.get("rule"),
        }
        return {k: v for k, v in out.items() if v is not None}

    # ------------------------------------------------------------------ votes

    def approve(
        self,
        approval_id: str,
        approver: str,
        reason: str,
        *,
        scope: str = "once",
        until: float | None = None,
        now: float | None = None,
        tx: AuditedTx | None = None,
    ) -> ApprovalRequest:
        """Vote to approve. Once `quorum` distinct approvers agree the request is approved."""
        return self._vote(approval_id, approver, reason, "approve", scope, until, now, tx)

    def deny(self, approval_id: str, approver: str, reason: str, *, now: float | None = None, tx: AuditedTx | None = None) -> ApprovalRequest:
        """Refuse. One eligible approver's denial decides the request."""
        return self._vote(approval_id, approver, reason, "deny", "once", None, now, tx)

    def _vote(self, approval_id: str, approver: str, reason: str, vote: str, scope: str, until: float | None, now: float | None, tx: AuditedTx | None) -> ApprovalRequest:
        now = self.clock() if now is None else now
        refused: ApprovalRefused | None = None
        with joined(self.store, tx) as t:
            req = self._load(t, approval_id)
            if req.status is Status.PENDING and req.expires_at <= now:
                self._expire(t, req, now)
                req = self._load(t, approval_id)
            try:
                who = check_voter(req, approver, self.people)
                text = self._redacted_text(check_reason(reason, vote))
                scope, until = check_scope(req, scope, until, now) if vote == "approve" else ("once", None)
            except ApprovalRefused as exc:
                refused = exc
                t.event("approval.refused", {**self._event_base(req), "person": approver, "vote": vote,
                                             "refusal": exc.code, "why": str(exc)}, actor=approver)
            else:
                t.execute(
                    "INSERT INTO bastion_approval_votes (approval_id, approver, n, vote, reason, scope, until_ms, ts_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (req.id, who, len(req.votes) + 1, vote, text, scope, None if until is None else ms(until), ms(now)),
                )
                req.votes.append(Vote(who, vote, text, scope, until, now))
                base = self._event_base(req)
                if vote == "deny":
                    self._resolve(t, req, Status.DENIED, who, text, now)
                    t.event("approval.denied", {**base, "reason": text}, actor=who)
                else:
                    approvals = req.approvals
                    t.event("approval.vote", {**base, "vote": "approve", "reason": text, "scope": scope,
                                              "until": iso(until), "votes": len(approvals), "quorum": req.quorum}, actor=who)
                    if len(approvals) >= req.quorum:
                        self._resolve(t, req, Status.APPROVED, who, text, now)
                        grant = self._grant_for(t, req, approvals, now)
                        t.event("approval.approved", {**base, "approvers": [v.approver for v in approvals],
                                                      "reason": text, **({"grant": grant.to_dict()} if grant else {})}, actor=who)
                if req.status.final:
                    self._hook(t, req, now)
                req = self._load(t, approval_id)
        self._signal()
        if refused is not None:
            raise refused
        return req

    def cancel(self, approval_id: str, actor: str, reason: str | None = None, *, now: float | None = None, tx: AuditedTx | None = None) -> ApprovalRequest:
        """Withdraw a pending request (the agent no longer needs it, or it was raised in error)."""
        now = self.clock() if now is None else now
        with joined(self.store, tx) as t:
            req = self._load(t, approval_id)
            if req.status is Status.PENDING and req.expires_at <= now:
                self._expire(t, req, now)
                req = self._load(t, approval_id)
            check_cancel(req)
            text = self._redacted_text((reason or "").strip() or "cancelled")
            self._resolve(t, req, Status.CANCELLED, actor, text, now)
            t.event("approval.cancelled", {**self._event_base(req), "reason": text}, actor=actor)
            self._hook(t, req, now)
            req = self._load(t, approval_id)
        self._signal()
        return req

    def _resolve(self, tx: AuditedTx, req: ApprovalRequest, status: Status, by: str | None, text: str, at: float) -> None:
        changed = tx.rowcount(
            "UPDATE bastion_approvals SET status = ?, resolved_ms = ?, resolved_by = ?, resolution = ? WHERE id = ? AND status = ?",
            (status.value, ms(at), by, text, req.id, Status.PENDING.value),
        )
        if changed != 1:  # cannot happen under the head lock; never let it pass silently
            raise ApprovalError(f"approval {req.id} changed concurrently")
        req.status, req.resolved_at, req.resolved_by, req.resolution = status, at, by, text

    def _hook(self, tx: AuditedTx, req: ApprovalRequest, now: float) -> None:
        target = KIND_HOOKS.get(req.kind)
        if target is None:
            return
        module, _, attr = target.partition(":")
        getattr(importlib.import_module(module), attr)(self, tx, req, now)

    # ------------------------------------------------------------------ grants

    def _grant_for(self, tx: AuditedTx, req: ApprovalRequest, approvals: list[Vote], now: float) -> Grant | None:
        """The narrowest reach the approvers agreed on: once if any said once, the earliest `until`."""
        if req.kind != KIND_ACTION:
            return None
        scopes = {v.scope for v in approvals}
        scope = next(s for s in SCOPES if s in scopes)
        untils = [v.until for v in approvals if v.until is not None]
        until = min(untils) if untils else None
        uses = 1 if scope == "once" else None
        return self._insert_grant(tx, req, Effect.ALLOW, scope, uses, until, now)

    def _insert_grant(self, tx: AuditedTx, req: ApprovalRequest, effect: Effect, scope: str, uses: int | None, until: float | None, now: float) -> Grant:
        grant = Grant(new_id("gr"), req.id, req.digest, effect, scope, uses, until, now)
        tx.execute(
            "INSERT INTO bastion_approval_grants (id, approval_id, digest, effect, scope, uses_left, until_ms, created_ms, used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (grant.id, req.id, req.digest, effect.label, scope, uses, None if until is None else ms(until), ms(now)),
        )
        return grant

    def _use(self, tx: AuditedTx, grant: Grant, decision: Decision, action: Action, now: float) -> None:
        if grant.uses_left is not None:
            tx.execute("UPDATE bastion_approval_grants SET uses_left = uses_left - 1, used = used + 1 WHERE id = ?", (grant.id,))
            grant.uses_left -= 1
        else:
            tx.execute("UPDATE bastion_approval_grants SET used = used + 1 WHERE id = ?", (grant.id,))
        grant.used += 1
        tx.event("approval.used", {
            "approval_id": grant.approval_id, "grant": grant.id, "digest": grant.digest, "effect": grant.effect.label,
            "scope": grant.scope, "uses_left": grant.uses_left, "decision_id": decision.decision_id,
            "agent": action.agent.id, "session": action.session.id, "capability": action.capability,
        })

    # ------------------------------------------------------------------ expiry

    def expire_due(self, *, now: float | None = None) -> list[str]:
        """Expire every pending request whose time has passed. Returns their ids."""
        now = self.clock() if now is None else now
        with reading(self.store) as r:
            due = r.execute("SELECT id FROM bastion_approvals WHERE status = ? AND expires_ms <= ?", (Status.PENDING.value, ms(now)))
        if not due:
            return []
        done = []
        with audited(self.store) as tx:
            for (rid,) in due:
                req = self._load(tx, rid)
                if req.status is Status.PENDING and req.expires_at <= now:
                    self._expire(tx, req, now)
                    done.append(rid)
        self._signal()
        return done

    def _expire(self, tx: AuditedTx, req: ApprovalRequest, now: float) -> None:
        effect = req.on_timeout
        text = f"no decision within the time allowed; on_timeout: {effect.label}"
        self._resolve(tx, req, Status.EXPIRED, None, text, req.expires_at)
        payload = {**self._event_base(req), "expired_at": iso(req.expires_at), "on_timeout": effect.label,
                   "votes": len(req.approvals), "quorum": req.quorum}
        if req.kind == KIND_ACTION:
            # the fallback applies once, to the next attempt of this exact action, within
            # a window as long as the approval window was
            window = max(req.expires_at - req.created_at, 1.0)
            grant = self._insert_grant(tx, req, effect, "fallback", 1, req.expires_at + window, now)
            payload["fallback"] = grant.to_dict()
            if effect < Effect.REQUIRE_APPROVAL:
                payload["elevated"] = True  # an explicit allow-on-timeout: said loudly
        tx.event("approval.expired", payload)
        if effect < Effect.REQUIRE_APPROVAL:
            log.warning("approval %s expired; its rule's on_timeout lets the action through as %s", req.id, effect.label)
        self._hook(tx, req, now)

    # ------------------------------------------------------------------ waiting

    def _signal(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait(self, approval_id: str, timeout: float | None = None, *, poll: float = 0.25) -> ApprovalRequest:
        """Block until the request is no longer pending or `timeout` seconds pass; return it.

        Polls the store (other processes decide too), waking at once when this process
        changes a request. `timeout=None` waits until the request resolves (it expires
        at the latest).
        """
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        delay = min(0.05, poll)
        while True:
            req = self.get(approval_id)
            if req.status.final:
                return req
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return req
            step = delay if remaining is None else min(delay, remaining)
            with self._changed:
                self._changed.wait(step)
            delay = min(delay * 2, poll)

    async def wait_async(self, approval_id: str, timeout: float | None = None, *, poll: float = 0.25) -> ApprovalRequest:
        """`wait` for asyncio code: store reads run in a thread, sleeping never blocks the loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + max(timeout, 0.0)
        delay = min(0.05, poll)
        while True:
            req = await asyncio.to_thread(self.get, approval_id)
            if req.status.final:
                return req
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return req
            await asyncio.sleep(delay if remaining is None else min(delay, remaining))
            delay = min(delay * 2, poll)

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()


# --------------------------------------------------------------------------- what the rules permit


def rule_scope_policy(decision: Decision, compiled: Any) -> tuple[list[str], float | None, str | None]:
    """(scopes an approver may choose, the furthest reach in seconds, the channel) from the
    winning require_approval rules: the intersection of their scopes (`once` always), the
    shortest `max_duration`, the first `channel`.

    A rule states them as `approvers: {scopes: [...], max_duration: 8h}`; the older spelling
    `metadata: {approval: {scopes: [...], max_duration: 8h}}` is still read when those are unset.
    """
    from bastion.policy.document import parse_duration

    scopes: set[str] | None = None
    limit: float | None = None
    channel: str | None = None
    for m in decision.rules:
        if m.effect != Effect.REQUIRE_APPROVAL or compiled is None:
            continue
        rule = compiled.rule(m.policy, m.rule)
        if rule is None:
            continue
        src = rule.src.rule
        appr = src.approvers
        meta = src.metadata.get("approval") if isinstance(src.metadata, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        explicit = appr.model_fields_set if appr is not None else set()
        these = appr.scopes if "scopes" in explicit else meta.get("scopes")
        if these is not None:
            if isinstance(these, str):
                these = [these]
            bad = [s for s in these if s not in SCOPES]
            if bad or not isinstance(these, list):
                raise ApprovalError(f"rule {m.policy}/{m.rule}: unknown approval scope {bad[0] if bad else these!r} (expected {', '.join(SCOPES)})")
            allowed = set(these) | {"once"}
            scopes = allowed if scopes is None else scopes & allowed
        reach = appr.max_duration if "max_duration" in explicit else meta.get("max_duration")
        if reach is not None:
            try:
                seconds = parse_duration(reach)
            except ValueError as exc:
                raise ApprovalError(f"rule {m.policy}/{m.rule}: approval max_duration: {exc}") from None
            limit = seconds if limit is None else min(limit, seconds)
        if channel is None and appr is not None and appr.channel:
            channel = appr.channel
    ordered = [s for s in SCOPES if s in (scopes or {"once"})]
    return ordered, limit, channel


def _check_request(req: ApprovalRequest) -> None:
    if req.quorum < 1:
        raise ApprovalError("quorum must be at least 1")
    if req.on_timeout == Effect.REQUIRE_APPROVAL:
        raise ApprovalError("on_timeout cannot itself be require_approval")
    if req.expires_at < req.created_at:
        raise ApprovalError("an approval request cannot expire before it is made")
