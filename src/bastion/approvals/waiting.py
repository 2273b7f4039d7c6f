"""The agent side: wait for a decision on an approval request.

    decision = engine.decide(action)                 # require_approval, extra["approval_id"]
    req = engine.wait_for_approval(decision.extra["approval_id"], timeout=300)
    if req.status.value == "approved":
        engine.decide(action)                        # allow, once (the approval is used up)

`ApprovalWaits` is a mixin for `Engine` (it imports nothing at module load, so the
engine's import cost does not change); the functions work on any engine whose stages
include an `ApprovalStage`.
"""

from __future__ import annotations

from typing import Any


def approvals_of(engine: Any) -> Any:
    """The ApprovalService behind an engine's approval stage (LookupError when it has none)."""
    for stage in getattr(engine, "_stages", ()):
        service = getattr(stage, "service", None)
        if service is not None and hasattr(service, "wait") and hasattr(service, "resolve"):
            return service
    raise LookupError("this engine has no approval stage: build it with stages=[ApprovalStage(...)]")


def wait_for_approval(engine: Any, approval_id: str, timeout: float | None = None) -> Any:
    """Block until request `approval_id` is approved, denied, expired or cancelled, or
    `timeout` seconds pass; return the request (`.status`, `.outcome_effect()`)."""
    return approvals_of(engine).wait(approval_id, timeout)


async def wait_for_approval_async(engine: Any, approval_id: str, timeout: float | None = None) -> Any:
    """`wait_for_approval` for asyncio code."""
    return await approvals_of(engine).wait_async(approval_id, timeout)


class ApprovalWaits:
    """Engine methods: `wait_for_approval(id, timeout)` and `wait_for_approval_async(id, timeout)`."""

    def wait_for_approval(self, approval_id: str, timeout: float | None = None) -> Any:
        return wait_for_approval(self, approval_id, timeout)

    async def wait_for_approval_async(self, approval_id: str, timeout: float | None = None) -> Any:
        return await wait_for_approval_async(self, approval_id, timeout)
