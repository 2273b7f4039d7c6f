"""Separation of duties and scope rules: who may vote on a request, and how far an approval reaches.

Pure functions over a request and the people directory, so every rule is tested on
its own and the service applies them inside its transaction:

* only people in the directory vote (an unknown name is nobody);
* the requester never votes on their own request (the agent, or the person who asked);
* the agent's owner does not vote when the rule says `owner_may_approve: false`;
* a voter must hold one of the request's approver roles or be named among its
  approvers; a request that names neither may be decided by anyone in the directory;
* one vote per person: a quorum of 2 needs two different people;
* a reason is required to approve or deny.

Scopes: `once` (the default) lets the exact action through one time; `session` for the
rest of its session (the digest binds the session id, so it is that session only);
`until` up to a time. An approver may choose only among the scopes the rule permits,
and no further than its `max_duration`.
"""

from __future__ import annotations

from bastion.approvals.people import People, norm
from bastion.approvals.request import SCOPES, ApprovalRequest, Status
from bastion.errors import BastionError

#: the longest an approval may reach when the rule sets no limit (session and until scopes)
DEFAULT_MAX_SCOPE_SECONDS = 24 * 3600.0


class ApprovalError(BastionError):
    """A request cannot be found or acted on."""


class ApprovalRefused(ApprovalError):
    """A vote or cancel refused by the rules above. `code` says which rule."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def check_reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ApprovalRefused(f"a written reason is required to {what}", "reason")
    if len(text) > 4000:
        raise ApprovalRefused("the reason is longer than 4000 characters", "reason")
    return text


def check_voter(req: ApprovalRequest, person: str | None, people: People) -> str:
    """The voter's directory identity, or ApprovalRefused saying which rule forbids the vote."""
    if req.status is not Status.PENDING:
        raise ApprovalRefused(f"approval {req.id} is {req.status.value}, not pending", "not-pending")
    if not person or not person.strip():
        raise ApprovalRefused("say who is voting (--as APPROVER)", "unknown-person")
    entry = people.get(person)
    if entry is None:
        if not len(people):
            raise ApprovalRefused("no people are configured: add a 'people' section to the configuration", "unknown-person")
        raise ApprovalRefused(f"{person!r} is not in the configuration's people section", "unknown-person")
    who = norm(entry.id)
    if who in req.requesters:
        raise ApprovalRefused(f"{entry.id} asked for this approval and cannot decide it (separation of duties)", "requester")
    if not req.owner_may_approve and req.owner and who == norm(req.owner):
        raise ApprovalRefused(
            f"{entry.id} owns agent {req.agent or '?'} and the rule does not let the owner approve (owner_may_approve: false)",
            "owner",
        )
    if req.approver_roles or req.approvers:
        named = {norm(p) for p in req.approvers}
        if who not in named and not (entry.roles & set(req.approver_roles)):
            wanted = ", ".join([*(f"role {r}" for r in req.approver_roles), *req.approvers])
            raise ApprovalRefused(f"{entry.id} is not among the approvers of {req.id} ({wanted})", "not-approver")
    if any(norm(v.approver) == who for v in req.votes):
        raise ApprovalRefused(f"{entry.id} has already voted on {req.id}", "already-voted")
    return entry.id


def check_scope(req: ApprovalRequest, scope: str, until: float | None, now: float) -> tuple[str, float | None]:
    """The (scope, until) an approval will carry, or ApprovalRefused."""
    if scope not in SCOPES:
        raise ApprovalRefused(f"unknown scope {scope!r} (expected {', '.join(SCOPES)})", "scope")
    if scope not in req.scopes:
        raise ApprovalRefused(
            f"the rule permits only {', '.join(req.scopes)} approvals for {req.id}, not {scope}", "scope"
        )
    limit = req.max_scope_seconds if req.max_scope_seconds is not None else DEFAULT_MAX_SCOPE_SECONDS
    if scope == "once":
        if until is not None:
            raise ApprovalRefused("--until applies to the 'until' scope only", "scope")
        return scope, None
    if scope == "session":
        if not req.session:
            raise ApprovalRefused(f"{req.id}'s action names no session: a session-wide approval has nothing to bind to", "scope")
        if until is not None:
            raise ApprovalRefused("--until applies to the 'until' scope only", "scope")
        return scope, now + limit
    if until is None:
        raise ApprovalRefused("the 'until' scope needs a time (--until)", "scope")
    if until <= now:
        raise ApprovalRefused("the 'until' time is in the past", "scope")
    if until - now > limit + 1e-6:
        raise ApprovalRefused(f"the rule lets an approval reach at most {limit:g}s ahead", "scope")
    return scope, until


def check_cancel(req: ApprovalRequest) -> None:
    if req.status is not Status.PENDING:
        raise ApprovalRefused(f"approval {req.id} is {req.status.value}, not pending", "not-pending")
