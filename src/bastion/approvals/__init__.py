"""Approvals bound to the exact action: requests, votes, quorum, scopes, expiry, notifications.

    from bastion.approvals import ApprovalService, ApprovalStage, People
    service = ApprovalService(store, People.from_config(cfg["people"]))
    engine = Engine.from_paths([...], store=store, stages=[ApprovalStage(service)])
    d = engine.decide(action)                       # require_approval, d.extra["approval_id"]
    service.approve(d.extra["approval_id"], "sam@example.com", "looked at it")
    engine.decide(action).decision                  # allow (once)

See docs/approvals.md. Names load on first use so that importing a submodule (the
engine's `ApprovalWaits` mixin) stays cheap.
"""

from __future__ import annotations

from bastion import _lazy

_LAZY = {
    "ApprovalService": "bastion.approvals.service",
    "Resolution": "bastion.approvals.service",
    "ApprovalStage": "bastion.approvals.stage",
    "apply_resolution": "bastion.approvals.stage",
    "ApprovalRequest": "bastion.approvals.request",
    "Grant": "bastion.approvals.request",
    "Status": "bastion.approvals.request",
    "Vote": "bastion.approvals.request",
    "SCOPES": "bastion.approvals.request",
    "ApprovalError": "bastion.approvals.duties",
    "ApprovalRefused": "bastion.approvals.duties",
    "People": "bastion.approvals.people",
    "PeopleError": "bastion.approvals.people",
    "Notifier": "bastion.approvals.notify",
    "Target": "bastion.approvals.notify",
    "NotificationConfigError": "bastion.approvals.notify",
    "targets_from_config": "bastion.approvals.notify",
    "service_from_config": "bastion.approvals.setup",
    "approval_stage": "bastion.approvals.setup",
    "stage_for_check": "bastion.approvals.setup",
    "wait_for_approval": "bastion.approvals.waiting",
    "wait_for_approval_async": "bastion.approvals.waiting",
    "ApprovalWaits": "bastion.approvals.waiting",
}

__all__ = sorted(_LAZY)


__getattr__ = _lazy.lazy_exports(__name__, _LAZY, globals())
