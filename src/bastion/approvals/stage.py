"""The approval stage of the engine: a require_approval decision meets the approval store.

    engine = Engine.from_paths([...], store=store, stages=[ApprovalStage(service)])

`after(engine, decision, action, now)` acts only on `require_approval` decisions:

* the same action (same digest) was approved: the decision becomes `allow`, and a
  single-use approval is used up (`approval_status: approved`);
* its request expired: the rule's `on_timeout` applies once (`deny` unless the rule
  explicitly says otherwise; a looser fallback is logged at high severity with an alert);
* an approver denied it (and the request's time has not run out): `deny`;
* otherwise the durable request is created, or found if the action already waits, and
  `decision.extra["approval_id"]` names it.

Why `after` and not `before`: rules are evaluated first, so an approval only ever turns
a `require_approval` *that the current policy still asks for* into `allow`. If the
policy has since changed to `deny`, or another stage's `before` has terminated the
session, the approval does not apply. It also keeps the hot path free of I/O: only
decisions that need a human touch the store. Add this stage after stages that may make
a decision more restrictive (rate limits), so an approval is not used up by an action
they then deny.
"""

from __future__ import annotations

from typing import Any

from bastion.approvals.request import Status, iso
from bastion.approvals.service import ApprovalService, Resolution
from bastion.model import DEFAULT_SEVERITY, Action, Decision, Effect, Severity
from bastion.risk import risk_score


class ApprovalStage:
    """Creates approval requests and lets approved actions through (see module doc)."""

    def __init__(self, service: ApprovalService) -> None:
        self.service = service

    def after(self, engine: Any, decision: Decision, action: Action, now: float) -> Decision | None:
        if decision.decision != Effect.REQUIRE_APPROVAL:
            return None
        res = self.service.resolve(decision, action, compiled=engine.policies, now=now)
        apply_resolution(decision, res, action)
        return decision

    def preview(self, engine: Any, decision: Decision, action: Action, now: float) -> Decision | None:
        """For `engine.explain`: what the approval store would do, changing nothing (no
        request is created, no approval used up)."""
        if decision.decision != Effect.REQUIRE_APPROVAL:
            return None
        res = self.service.peek(action, now=now)
        if res is None:
            decision.extra["approval_status"] = "would_request"
            return decision
        apply_resolution(decision, res, action)
        return decision

    def close(self) -> None:
        self.service.close()


def apply_resolution(decision: Decision, res: Resolution, action: Action) -> None:
    """Change a require_approval decision according to what the approval store says."""
    req = res.request
    extra = decision.extra
    extra["approval_id"] = req.id
    if res.outcome in ("created", "pending"):
        extra["approval_status"] = Status.PENDING.value
        extra["approval_expires_at"] = iso(req.expires_at)
        return
    if res.outcome == "denied":
        who = req.resolved_by or "an approver"
        _set(decision, action, Effect.DENY, f"denied by {who}: {req.resolution} (approval {req.id})")
        extra["approval_status"] = Status.DENIED.value
        return
    grant = res.grant
    assert grant is not None
    extra["approval_original"] = Effect.REQUIRE_APPROVAL.label
    if grant.scope != "fallback":
        approvers = [v.approver for v in req.approvals]
        _set(decision, action, grant.effect, f"approved by {', '.join(approvers)} (approval {req.id}): {decision.reason}")
        extra["approval_status"] = Status.APPROVED.value
        extra["approved_by"] = approvers
        extra["approval_scope"] = grant.scope
        decision.approval = None
        return
    extra["approval_status"] = Status.EXPIRED.value
    extra["approval_fallback"] = grant.effect.label
    if grant.effect < Effect.REQUIRE_APPROVAL:
        # an explicit "on_timeout: allow" (or log_only/alert): let it through, loudly
        _set(decision, action, grant.effect, f"approval {req.id} expired without a decision; the rule's on_timeout lets the action through as {grant.effect.label}")
        decision.severity = max(decision.severity, Severity.HIGH)
        decision.risk_score = risk_score(decision.severity, action)
        decision.obligations["log_severity"] = Severity.HIGH.label
        alerts = list(decision.obligations.get("alert", []))
        alerts.append(f"approval-timeout:{req.id}")
        decision.obligations["alert"] = alerts
        decision.approval = None
    else:
        _set(decision, action, grant.effect, f"approval {req.id} expired without a decision; on_timeout: {grant.effect.label}")


def _set(decision: Decision, action: Action, effect: Effect, reason: str) -> None:
    decision.decision = effect
    decision.reason = reason
    if effect > Effect.REQUIRE_APPROVAL:
        decision.severity = max(decision.severity, DEFAULT_SEVERITY[effect])
        decision.risk_score = risk_score(decision.severity, action)
