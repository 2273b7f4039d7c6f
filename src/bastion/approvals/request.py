"""An approval request, its votes and the grants an approval creates: plain data.

A request is created once and its body never changes; what moves is its status:

    pending ─► approved | denied | expired | cancelled

and every move is an audit record (see service.py). `digest` is the canonical digest
of the action (`bastion.canonical.action_digest`): an approval lets through only an
action with the same digest, so an approval for `rm build/tmp` is no approval for
`rm -rf /`. The stored `action` is the redacted action, for people to read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from bastion.approvals.people import norm
from bastion.model import Effect

#: How far an approval reaches, narrowest first.
SCOPES = ("once", "session", "until")

KIND_ACTION = "action"
KIND_POLICY_CHANGE = "policy.change"


class Status(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        return self is not Status.PENDING


def ms(t: float) -> int:
    return int(round(t * 1000))


def from_ms(v: int | None) -> float | None:
    return None if v is None else int(v) / 1000.0


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Vote:
    approver: str
    vote: str  # approve | deny
    reason: str
    scope: str
    until: float | None
    at: float

    def to_dict(self) -> dict[str, Any]:
        out = {"approver": self.approver, "vote": self.vote, "reason": self.reason, "scope": self.scope, "at": iso(self.at)}
        if self.until is not None:
            out["until"] = iso(self.until)
        return out


@dataclass
class Grant:
    """What an approval lets through: `effect` for actions with `digest`."""

    id: str
    approval_id: str
    digest: str
    effect: Effect
    scope: str  # once | session | until | fallback
    uses_left: int | None
    until: float | None
    created_at: float
    used: int = 0

    def usable(self, now: float) -> bool:
        return (self.uses_left is None or self.uses_left > 0) and (self.until is None or now < self.until)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "effect": self.effect.label,
            "scope": self.scope,
            "uses_left": self.uses_left,
            "until": iso(self.until),
            "used": self.used,
            "created_at": iso(self.created_at),
        }


#: the columns of bastion_approvals, in the order every query selects them
COLUMNS = (
    "id, kind, digest, status, created_ms, expires_ms, resolved_ms, resolved_by, resolution, "
    "agent, session, owner, on_timeout, quorum, body"
)


@dataclass
class ApprovalRequest:
    id: str
    kind: str
    digest: str
    status: Status
    created_at: float
    expires_at: float
    on_timeout: Effect
    quorum: int
    approver_roles: list[str] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)
    channel: str | None = None
    owner_may_approve: bool = True
    #: the scopes an approver may choose (the rule's permission), and the longest reach
    scopes: list[str] = field(default_factory=lambda: ["once"])
    max_scope_seconds: float | None = None
    agent: str | None = None
    session: str | None = None
    owner: str | None = None
    #: a person who asked on the agent's behalf (an integration may say), if any
    requested_by: str | None = None
    action: dict[str, Any] = field(default_factory=dict)
    rules: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    decision_id: str | None = None
    #: kind-specific details (policy changes: {"policy": ..., "version": ...})
    subject: dict[str, Any] = field(default_factory=dict)
    resolved_at: float | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    votes: list[Vote] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)

    # ------------------------------------------------------------------ identities

    @property
    def requesters(self) -> set[str]:
        """Identities that asked: they may never approve their own request."""
        return {norm(x) for x in (self.agent, self.requested_by) if x}

    @property
    def approvals(self) -> list[Vote]:
        return [v for v in self.votes if v.vote == "approve"]

    @property
    def capability(self) -> str | None:
        return self.action.get("capability")

    @property
    def target(self) -> str | None:
        t = self.action.get("target")
        return t if isinstance(t, str) else None

    def outcome_effect(self) -> Effect:
        """What the request means for the action now: allow once approved, the
        fallback once expired, deny once denied or cancelled, else still require_approval."""
        if self.status is Status.APPROVED:
            return Effect.ALLOW
        if self.status is Status.EXPIRED:
            return self.on_timeout
        if self.status in (Status.DENIED, Status.CANCELLED):
            return Effect.DENY
        return Effect.REQUIRE_APPROVAL

    # ------------------------------------------------------------------ storage

    def body(self) -> dict[str, Any]:
        """The immutable part, stored as JSON."""
        return {
            "approver_roles": self.approver_roles,
            "approvers": self.approvers,
            "channel": self.channel,
            "owner_may_approve": self.owner_may_approve,
            "scopes": self.scopes,
            "max_scope_seconds": self.max_scope_seconds,
            "requested_by": self.requested_by,
            "action": self.action,
            "rules": self.rules,
            "reason": self.reason,
            "decision_id": self.decision_id,
            "subject": self.subject,
        }

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "ApprovalRequest":
        (rid, kind, digest, status, created, expires, resolved, resolved_by, resolution,
         agent, session, owner, on_timeout, quorum, body) = row
        b = json.loads(body)
        return cls(
            id=rid,
            kind=kind,
            digest=digest,
            status=Status(status),
            created_at=from_ms(created) or 0.0,
            expires_at=from_ms(expires) or 0.0,
            on_timeout=Effect.parse(on_timeout),
            quorum=int(quorum),
            approver_roles=list(b.get("approver_roles") or []),
            approvers=list(b.get("approvers") or []),
            channel=b.get("channel"),
            owner_may_approve=bool(b.get("owner_may_approve", True)),
            scopes=list(b.get("scopes") or ["once"]),
            max_scope_seconds=b.get("max_scope_seconds"),
            agent=agent,
            session=session,
            owner=owner,
            requested_by=b.get("requested_by"),
            action=b.get("action") or {},
            rules=list(b.get("rules") or []),
            reason=b.get("reason") or "",
            decision_id=b.get("decision_id"),
            subject=b.get("subject") or {},
            resolved_at=from_ms(resolved),
            resolved_by=resolved_by,
            resolution=resolution,
        )

    def to_dict(self) -> dict[str, Any]:
        """The request as people and tools see it (the action is already redacted)."""
        out: dict[str, Any] = {
            "approval_id": self.id,
            "kind": self.kind,
            "status": self.status.value,
            "digest": self.digest,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "on_timeout": self.on_timeout.label,
            "quorum": self.quorum,
            "approver_roles": list(self.approver_roles),
            "approvers": list(self.approvers),
            "owner_may_approve": self.owner_may_approve,
            "scopes": list(self.scopes),
            "requester": {"agent": self.agent, "session": self.session, "owner": self.owner, "requested_by": self.requested_by},
            "action": self.action,
            "rules": self.rules,
            "reason": self.reason,
            "decision_id": self.decision_id,
            "votes": [v.to_dict() for v in self.votes],
        }
        if self.channel:
            out["channel"] = self.channel
        if self.max_scope_seconds is not None:
            out["max_scope_seconds"] = self.max_scope_seconds
        if self.subject:
            out["subject"] = self.subject
        if self.status.final:
            out["resolved_at"] = iso(self.resolved_at)
            out["resolved_by"] = self.resolved_by
            out["resolution"] = self.resolution
        if self.grants:
            out["grants"] = [g.to_dict() for g in self.grants]
        return out

    def summary(self) -> str:
        """One line for lists and notifications."""
        what = f"{self.capability or '?'} {self.target}" if self.target else (self.capability or "?")
        if len(what) > 200:
            what = what[:197] + "..."
        who = self.agent or "an agent"
        return f"{what} (by {who})"
