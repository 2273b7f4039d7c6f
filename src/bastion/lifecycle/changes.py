"""Change management: a policy change is itself an action, decided by policy.

Each proposed version becomes a `policy.edit` action

    {"capability": "policy.edit", "target": "<policy id>",
     "agent": {"id": "<author>", "role": "policy-author"},
     "args": {"change": "push|revert|enable|fork", "version": 4, "content_hash": "sha256:...",
              "layer": "team", "first_version": false, "may_loosen": true, "loosening": [...],
              "rules_added": [...], "rules_removed": [...], "rules_changed": [...]},
     "context": {"message": "..."}}

decided by the *governance* policies: active store policies whose metadata says
`governs: [policy-changes]` (`builtin:change-management` does). `allow` (or log_only,
alert) activates the version at once; `require_approval` turns it into an approval
request (bound to this action's digest, so to this exact content) that only someone
other than its author may approve; `deny` refuses the change. With no governance
policy active, versions activate at once; either way activation is audited.
"""

from __future__ import annotations

from typing import Any

from bastion.approvals.request import ApprovalRequest, Status
from bastion.lifecycle.diff import PolicyDiff
from bastion.lifecycle.policyset import Texts
from bastion.policy.document import Policy

GOVERNS_KEY = "governs"
POLICY_CHANGES = "policy-changes"


def is_governance(doc: Policy) -> bool:
    value = doc.metadata.get(GOVERNS_KEY) if isinstance(doc.metadata, dict) else None
    if isinstance(value, str):
        value = [value]
    return isinstance(value, list) and POLICY_CHANGES in value


def edit_action(name: str, version: int, content_hash: str, author: str, origin: str, message: str,
                doc: Policy, diff: PolicyDiff, first: bool) -> dict[str, Any]:
    return {
        "capability": "policy.edit",
        "target": name,
        "agent": {"id": author, "role": "policy-author"},
        "args": {
            "change": origin,
            "version": version,
            "content_hash": content_hash,
            "layer": doc.layer.label,
            "first_version": first,
            "governance": is_governance(doc),
            "may_loosen": diff.may_loosen,
            "loosening": list(diff.loosening),
            "rules_added": diff.ids("added"),
            "rules_removed": diff.ids("removed"),
            "rules_changed": diff.ids("changed"),
        },
        "context": {"message": message},
    }


def governance_engine(texts: Texts) -> Any:
    """An engine over the governance policies among `texts` (None when there are none)."""
    from bastion.lifecycle.policyset import build_engine, parse_all

    docs = parse_all(texts)
    chosen = {k: texts[k] for k, doc in docs.items() if is_governance(doc)}
    if not chosen:
        return None
    return build_engine(chosen)


def on_approval_resolved(service: Any, tx: Any, req: ApprovalRequest, now: float) -> None:
    """KIND_HOOKS entry for "policy.change": approval activates the version; a denial,
    expiry or cancellation closes it (in the same transaction as the approval's record)."""
    from bastion.lifecycle.versions import PolicyStore

    ps = PolicyStore(service.store, approvals=service)
    name = req.subject.get("policy")
    version = req.subject.get("version")
    if not isinstance(name, str) or not isinstance(version, int):
        raise ValueError(f"approval {req.id} names no policy version")
    if req.status is Status.APPROVED:
        approvers = [v.approver for v in req.approvals]
        ps._activate(tx, name, version, by=req.resolved_by or approvers[-1], now=now, approval=req, approvers=approvers)
    else:
        state = {Status.DENIED: "rejected", Status.EXPIRED: "expired", Status.CANCELLED: "withdrawn"}[req.status]
        ps._close(tx, name, version, state, by=req.resolved_by, reason=req.resolution or "", now=now, approval_id=req.id)
