"""Pydantic AI: a wrapper toolset that puts Bastion in front of every tool of the toolset.

    from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, FunctionToolset
    from bastion.integrations.pydantic_ai import BastionToolset

    tools = BastionToolset(FunctionToolset([read_file, deploy]), engine)
    agent = Agent(model, toolsets=[tools], output_type=[str, DeferredToolRequests])

For each call: denied calls never run and the model receives the reason as the tool's
result (`terminate` raises `SessionTerminated` out of the run); `redact` forwards the
arguments with secrets replaced; every result is redacted before the model sees it.
`require_approval` raises Pydantic AI's own `ApprovalRequired`, so the run ends with a
`DeferredToolRequests` output whose `metadata[tool_call_id]` holds Bastion's request
(reason, approver roles, `approval_id` when approvals are stored). The next run, given
`DeferredToolResults(approvals={tool_call_id: True | ToolDenied(...)})`, resumes it:
Pydantic AI runs the tool only when approved, and with an approval store only the
store's approval counts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic_ai.exceptions import ApprovalRequired
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset

from bastion.integrations.enforce import ApprovalAnswer, Enforcer, Verdict
from bastion.model import Effect

__all__ = ["BastionToolset", "guard_toolset", "approval_metadata"]


def _enforcer(engine_or_enforcer: Any, **kwargs: Any) -> Enforcer:
    if isinstance(engine_or_enforcer, Enforcer):
        return engine_or_enforcer
    kwargs.setdefault("agent", {"id": "pydantic-ai"})
    return Enforcer(engine_or_enforcer, **kwargs)


def approval_metadata(verdict: Verdict, enforcer: Enforcer) -> dict[str, Any]:
    """What `DeferredToolRequests.metadata[tool_call_id]` carries (no raw arguments)."""
    return {
        "bastion": {
            "reason": verdict.decision.reason,
            "message": verdict.message,
            "approval_id": verdict.approval_id,
            "approver_roles": sorted({r for d in verdict.decisions for r in d.approver_roles}),
            "arguments": enforcer.redact_result(verdict.arguments),
            "actions": [f"{a.capability} {a.target or ''}".strip() for a in verdict.actions],
        }
    }


@dataclass
class BastionToolset(WrapperToolset[Any]):
    """Wraps any toolset (function tools, MCP servers, ...) with Bastion's decisions."""

    enforcer: Enforcer = field(default=None, kw_only=True)  # type: ignore[assignment]

    def __init__(self, wrapped: AbstractToolset[Any], engine_or_enforcer: Any = None, *, enforcer: Enforcer | None = None, **enforcer_kwargs: Any) -> None:
        chosen = enforcer if enforcer is not None else engine_or_enforcer
        if chosen is None:
            raise TypeError("BastionToolset needs an engine or an Enforcer")
        super().__init__(wrapped)
        self.enforcer = _enforcer(chosen, **enforcer_kwargs)

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: Any, tool: Any) -> Any:
        enforcer = self.enforcer
        call_id = getattr(ctx, "tool_call_id", None)
        verdict = enforcer.check_tool(name, tool_args, call_id=call_id)
        if verdict.needs_approval:
            if getattr(ctx, "tool_call_approved", False):
                # resumed with DeferredToolResults(approvals={id: True}): the approver's answer
                meta = getattr(ctx, "tool_call_metadata", None) or {}
                approver = meta.get("approver") if isinstance(meta, dict) else None
                verdict = enforcer.resume(name, tool_args, ApprovalAnswer(True, approver=approver or "pydantic-ai:DeferredToolResults"), requested=verdict, call_id=call_id)
            else:
                raise ApprovalRequired(metadata=approval_metadata(verdict, enforcer))
        if not verdict.proceed:
            if verdict.effect == Effect.TERMINATE:
                from bastion.integrations.guard import SessionTerminated

                raise SessionTerminated(verdict.message, verdict)
            return verdict.message
        result = await super().call_tool(name, verdict.arguments_to_forward, ctx, tool)
        return _redact_output(enforcer, result)

    def visit_and_replace(self, visitor: Any) -> AbstractToolset[Any]:
        new = dataclasses.replace(self, wrapped=self.wrapped.visit_and_replace(visitor))
        return new


def _redact_output(enforcer: Enforcer, result: Any) -> Any:
    if result is None or isinstance(result, (bool, int, float)):
        return result
    if isinstance(result, (str, dict, list, tuple)):
        return enforcer.redact_result(result)
    if isinstance(result, BaseModel):
        return enforcer.redact_result(result.model_dump(mode="json"))
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        from bastion.integrations.enforce import jsonable

        return enforcer.redact_result(jsonable(dataclasses.asdict(result)))
    return enforcer.redact_result(str(result))


def guard_toolset(toolset: AbstractToolset[Any], engine_or_enforcer: Any, **enforcer_kwargs: Any) -> BastionToolset:
    return BastionToolset(toolset, engine_or_enforcer, **enforcer_kwargs)
