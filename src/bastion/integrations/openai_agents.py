"""OpenAI Agents SDK: Bastion on every function tool call.

    from bastion.integrations.openai_agents import guard_agent, guard_tool, bastion_tool_guardrail

    agent = guard_agent(Agent(name="coder", tools=[read_file, deploy]), engine)

`guard_tool` wraps a `FunctionTool` (and `guard_agent` every function tool of an agent):

* `needs_approval` asks Bastion, so `require_approval` becomes the SDK's own approval
  interruption: `result.interruptions` lists the call, and the run resumes from
  `state = result.to_state()` after `state.approve(item)` or `state.reject(item)`;
* denied calls never run: the model receives the reason as the tool's output;
  `terminate` raises `SessionTerminated` out of `Runner.run`;
* `redact` forwards the arguments with secrets replaced, and every result is
  redacted before the model sees it.

`bastion_tool_guardrail(engine)` is the SDK's tool input guardrail: it can allow or
reject (the model gets the reason) but cannot rewrite arguments or pause for approval
(a `require_approval` call is rejected with the approval message); prefer `guard_tool`
when redaction or approvals matter.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from agents import Agent, FunctionTool
from agents.exceptions import AgentsException
from agents.tool_guardrails import ToolGuardrailFunctionOutput, ToolInputGuardrail, ToolInputGuardrailData

from bastion.integrations.enforce import ApprovalAnswer, Enforcer, Verdict
from bastion.integrations.guard import SessionTerminated
from bastion.model import Effect

__all__ = ["guard_tool", "guard_agent", "bastion_tool_guardrail", "AgentSessionTerminated"]


def _enforcer(engine_or_enforcer: Any, **kwargs: Any) -> Enforcer:
    if isinstance(engine_or_enforcer, Enforcer):
        return engine_or_enforcer
    kwargs.setdefault("agent", {"id": "openai-agents"})
    return Enforcer(engine_or_enforcer, **kwargs)


def _args(raw: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"input": raw}
    return parsed if isinstance(parsed, dict) else {"input": parsed}


def _redact_output(enforcer: Enforcer, output: Any) -> Any:
    """Tool outputs the SDK accepts: text, lists of them, structured outputs with `.text`."""
    if isinstance(output, (str, dict, list, tuple)):
        return enforcer.redact_result(output)
    text = getattr(output, "text", None)
    if isinstance(text, str):
        red = enforcer.redact_result(text)
        if dataclasses.is_dataclass(output):
            return dataclasses.replace(output, text=red)
        copy = getattr(output, "model_copy", None)
        if callable(copy):
            return copy(update={"text": red})
    if output is None or isinstance(output, (int, float, bool)):
        return output
    return enforcer.redact_result(str(output))  # the SDK would str() it for the model anyway


def guard_tool(tool: FunctionTool, engine_or_enforcer: Any, **enforcer_kwargs: Any) -> FunctionTool:
    """A copy of `tool` whose every call is decided by Bastion."""
    if not isinstance(tool, FunctionTool):
        raise TypeError(f"guard_tool wraps FunctionTool, not {type(tool).__name__} (hosted tools run at the provider)")
    enforcer = _enforcer(engine_or_enforcer, **enforcer_kwargs)
    original_invoke = tool.on_invoke_tool
    original_needs = tool.needs_approval
    name = tool.name

    async def needs_approval(ctx: Any, params: dict[str, Any], call_id: str) -> bool:
        verdict = enforcer.check_tool(name, params, call_id=call_id)
        if verdict.needs_approval:
            return True
        if callable(original_needs):
            return bool(await original_needs(ctx, params, call_id))
        return bool(original_needs)

    async def on_invoke_tool(ctx: Any, raw: str) -> Any:
        args = _args(raw)
        call_id = getattr(ctx, "tool_call_id", None)
        verdict = enforcer.check_tool(name, args, call_id=call_id)
        if verdict.needs_approval:
            # The SDK invokes an approval-gated tool only after RunState.approve(): that is the
            # approver's answer (with an approval store, only the store's approval counts).
            verdict = enforcer.resume(name, args, ApprovalAnswer(True, approver="openai-agents:RunState.approve"), requested=verdict, call_id=call_id)
        if not verdict.proceed:
            return _refuse(verdict)
        forwarded = json.dumps(verdict.arguments_to_forward) if verdict.redacted else raw
        return _redact_output(enforcer, await original_invoke(ctx, forwarded))

    return dataclasses.replace(tool, on_invoke_tool=on_invoke_tool, needs_approval=needs_approval)


class AgentSessionTerminated(SessionTerminated, AgentsException):
    """`SessionTerminated` that the SDK lets through `Runner.run` unwrapped."""


def _refuse(verdict: Verdict) -> str:
    if verdict.effect == Effect.TERMINATE:
        raise AgentSessionTerminated(verdict.message, verdict)
    return verdict.message


def guard_agent(agent: Agent[Any], engine_or_enforcer: Any, **enforcer_kwargs: Any) -> Agent[Any]:
    """A clone of `agent` with every function tool guarded (hosted tools are left as they are)."""
    enforcer = _enforcer(engine_or_enforcer, **enforcer_kwargs)
    tools = [guard_tool(t, enforcer) if isinstance(t, FunctionTool) else t for t in agent.tools]
    return agent.clone(tools=tools)


def bastion_tool_guardrail(engine_or_enforcer: Any, **enforcer_kwargs: Any) -> ToolInputGuardrail[Any]:
    """A tool input guardrail: allow, or reject with the reason (no rewriting, no pausing)."""
    enforcer = _enforcer(engine_or_enforcer, **enforcer_kwargs)

    def check(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        ctx = data.context
        verdict = enforcer.check_tool(ctx.tool_name, _args(ctx.tool_arguments), call_id=ctx.tool_call_id)
        info = verdict.to_dict()
        if verdict.proceed and not verdict.redacted:
            return ToolGuardrailFunctionOutput.allow(output_info=info)
        if verdict.effect == Effect.TERMINATE:
            return ToolGuardrailFunctionOutput.raise_exception(output_info=info)
        if verdict.redacted:  # a guardrail cannot forward redacted arguments: refuse instead
            return ToolGuardrailFunctionOutput.reject_content(
                "Bastion blocked this call: its arguments hold secrets and this guardrail cannot redact them. Retry without the secret.", output_info=info)
        return ToolGuardrailFunctionOutput.reject_content(verdict.message, output_info=info)

    return ToolInputGuardrail(guardrail_function=check, name="bastion")
