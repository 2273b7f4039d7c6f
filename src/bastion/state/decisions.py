"""Small helpers the state stage uses to change a decision: only ever more restrictive."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from bastion.model import DEFAULT_SEVERITY, Action, Decision, Effect
from bastion.risk import risk_score

DEFAULT_APPROVAL_TIMEOUT = 4 * 3600.0


def tighten(decision: Decision, action: Action, effect: Effect, reason: str, *, rule: Any = None) -> bool:
    """Raise `decision` to `effect` with `reason` when that is more restrictive. `rule` (a
    CompiledRule) supplies approvers and timeouts when the new effect is require_approval."""
    if effect <= decision.decision:
        return False
    decision.decision = effect
    decision.reason = reason
    decision.default = False
    severity = DEFAULT_SEVERITY[effect]
    if severity > decision.severity:
        decision.severity = severity
        decision.risk_score = risk_score(severity, action)
    if effect == Effect.REQUIRE_APPROVAL and decision.approval is None:
        _approval(decision, rule)
    return True


def _approval(decision: Decision, rule: Any) -> None:
    approvers = getattr(rule, "approvers", None)
    decision.approval = {
        "timeout_seconds": getattr(rule, "timeout", DEFAULT_APPROVAL_TIMEOUT) if rule is not None else DEFAULT_APPROVAL_TIMEOUT,
        "on_timeout": (getattr(rule, "on_timeout", Effect.DENY) if rule is not None else Effect.DENY).label,
        "quorum": approvers.quorum if approvers is not None else 1,
    }
    if approvers is not None:
        decision.approver_roles = list(dict.fromkeys([*decision.approver_roles, *approvers.roles]))
        if approvers.people:
            decision.approval["approvers"] = list(approvers.people)
        if not approvers.owner_may_approve:
            decision.approval["owner_may_approve"] = False


def add_alert(decision: Decision, name: str) -> None:
    alerts = decision.obligations.setdefault("alert", [])
    if name not in alerts:
        alerts.append(name)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def cap_glob(pattern: str, name: str) -> bool:
    """`*` matches any run of characters (capability globs such as `filesystem.*`). Linear time."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == name
    first, *middle, last = parts
    if not name.startswith(first) or not name.endswith(last) or len(name) < len(first) + len(last):
        return False
    pos, end = len(first), len(name) - len(last)
    for part in middle:
        i = name.find(part, pos, end)
        if i < 0:
            return False
        pos = i + len(part)
    return True


def redacted(engine: Any, text: str, limit: int = 240) -> str:
    """`text` with secrets replaced, cut to `limit` characters (for stored details and reasons)."""
    try:
        out = engine.redact(text)
        if not isinstance(out, str):
            out = str(out)
    except Exception:  # no scanner: keep no free text that could hold a secret
        return "(details withheld: no secret scanner)"
    return out if len(out) <= limit else out[: limit - 1] + "…"
