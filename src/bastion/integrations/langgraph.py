"""LangGraph / LangChain: enforce Bastion decisions on every tool call of a graph.

Two native interception points, same behaviour:

    from bastion.integrations.langgraph import tool_node, BastionMiddleware

    node = tool_node(tools, engine)                        # a langgraph ToolNode
    agent = create_agent(model, tools, middleware=[BastionMiddleware(engine)],
                         checkpointer=InMemorySaver())     # langchain's create_agent

For each tool call: denied calls never run and the model gets a `ToolMessage` (status
"error") with the reason; `redact` forwards the arguments with secrets replaced;
`require_approval` calls LangGraph's `interrupt()` with the approval request (tool,
redacted arguments, reason, approver roles, `approval_id` when approvals are stored),
and the graph resumes with `Command(resume=answer)`, where the answer is `True`/`False`
or `{"approved": bool, "approver": ..., "reason": ...}`; `terminate` ends the run by
raising `SessionTerminated` out of `invoke()`.
Every tool result is redacted before it goes back into the messages.

Interrupts need a checkpointer. On resume LangGraph runs the tool step again; the
verdict of a call is cached by tool-call id (and action ids derive from it), so the
repeat neither re-decides nor double-records.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from langchain_core.messages import ToolMessage
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, interrupt

from bastion.integrations.enforce import Enforcer, Verdict
from bastion.model import Effect

__all__ = ["BastionToolWrapper", "BastionMiddleware", "tool_node", "wrap_tool_call", "approval_request"]

#: `interrupt()` payloads Bastion raises carry this type
INTERRUPT_TYPE = "bastion.approval"


def _enforcer(engine_or_enforcer: Any, **kwargs: Any) -> Enforcer:
    if isinstance(engine_or_enforcer, Enforcer):
        return engine_or_enforcer
    kwargs.setdefault("agent", {"id": "langgraph"})
    return Enforcer(engine_or_enforcer, **kwargs)


def approval_request(verdict: Verdict, enforcer: Enforcer, tool_call_id: str | None) -> dict[str, Any]:
    """What the approver sees (arguments redacted: an approval request is no place for secrets)."""
    return {
        "type": INTERRUPT_TYPE,
        "tool": verdict.tool,
        "tool_call_id": tool_call_id,
        "arguments": enforcer.redact_result(verdict.arguments),
        "reason": verdict.decision.reason,
        "message": verdict.message,
        "approval_id": verdict.approval_id,
        "approver_roles": sorted({r for d in verdict.decisions for r in d.approver_roles}),
        "actions": [f"{a.capability} {a.target or ''}".strip() for a in verdict.actions],
        "answer": "resume with True/False or {'approved': bool, 'approver': str, 'reason': str}",
    }


class BastionToolWrapper:
    """A `ToolNode(wrap_tool_call=..., awrap_tool_call=...)` interceptor."""

    def __init__(self, enforcer: Enforcer) -> None:
        self.enforcer = enforcer

    # -- the decision, shared by sync and async
    def _decide(self, request: Any) -> tuple[Verdict, Any]:
        call = request.tool_call
        name, args, call_id = call.get("name", ""), call.get("args") or {}, call.get("id")
        verdict = self.enforcer.check_tool(name, args, call_id=call_id)
        if verdict.needs_approval:
            answer = interrupt(approval_request(verdict, self.enforcer, call_id))  # raises on first run
            verdict = self.enforcer.resume(name, args, answer, requested=verdict, call_id=call_id)
        if verdict.proceed and verdict.redacted:
            request = request.override(tool_call={**call, "args": verdict.arguments_to_forward})
        return verdict, request

    def _refusal(self, verdict: Verdict, request: Any) -> Any:
        call = request.tool_call
        msg = ToolMessage(content=verdict.message, tool_call_id=call.get("id") or "", name=call.get("name"), status="error")
        if verdict.effect == Effect.TERMINATE:
            from bastion.integrations.guard import SessionTerminated

            raise SessionTerminated(verdict.message, verdict)  # ends the run: the caller of invoke() gets it
        return msg

    def __call__(self, request: Any, execute: Callable[[Any], Any]) -> Any:
        verdict, request = self._decide(request)
        if not verdict.proceed:
            return self._refusal(verdict, request)
        return self._redact(execute(request))

    async def acall(self, request: Any, execute: Callable[[Any], Awaitable[Any]]) -> Any:
        verdict, request = self._decide(request)
        if not verdict.proceed:
            return self._refusal(verdict, request)
        return self._redact(await execute(request))

    # -- results
    def _redact(self, result: Any) -> Any:
        if isinstance(result, ToolMessage):
            return _redact_message(self.enforcer, result)
        if isinstance(result, Command):
            update = result.update
            if isinstance(update, dict) and "messages" in update:
                msgs = update["messages"]
                new = [_redact_message(self.enforcer, m) if hasattr(m, "content") else m for m in (msgs if isinstance(msgs, list) else [msgs])]
                return Command(graph=result.graph, update={**update, "messages": new}, resume=result.resume, goto=result.goto)
            return result
        return self.enforcer.redact_result(result)


def _redact_message(enforcer: Enforcer, msg: Any) -> Any:
    content = msg.content
    red = enforcer.redact_result(content)
    if red == content:
        return msg
    return msg.model_copy(update={"content": red})


def wrap_tool_call(engine_or_enforcer: Any, **enforcer_kwargs: Any) -> BastionToolWrapper:
    """The interceptor alone, for a `ToolNode` you build yourself."""
    return BastionToolWrapper(_enforcer(engine_or_enforcer, **enforcer_kwargs))


def tool_node(tools: Any, engine_or_enforcer: Any, **kwargs: Any) -> ToolNode:
    """A `ToolNode` whose every call is decided by Bastion. Extra kwargs go to ToolNode."""
    enforcer_kwargs = {k: kwargs.pop(k) for k in ("agent", "session", "environment", "context", "toolmap", "on_decision", "on_approval") if k in kwargs}
    w = wrap_tool_call(engine_or_enforcer, **enforcer_kwargs)
    return ToolNode(tools, wrap_tool_call=w, awrap_tool_call=w.acall, **kwargs)


def BastionMiddleware(engine_or_enforcer: Any, **enforcer_kwargs: Any) -> Any:
    """A `langchain.agents.create_agent` middleware enforcing Bastion on every tool call."""
    from langchain.agents.middleware import AgentMiddleware

    wrapper = wrap_tool_call(engine_or_enforcer, **enforcer_kwargs)

    class _Bastion(AgentMiddleware):  # type: ignore[misc]
        @property
        def name(self) -> str:
            return "bastion"

        def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
            return wrapper(request, handler)

        async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
            return await wrapper.acall(request, handler)

    mw = _Bastion()
    mw.enforcer = wrapper.enforcer  # type: ignore[attr-defined]
    return mw
