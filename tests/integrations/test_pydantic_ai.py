"""Pydantic AI adapter: a real agent run, offline, with FunctionModel scripting the tool calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("pydantic_ai")

from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, FunctionToolset, ToolDenied  # noqa: E402
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart  # noqa: E402
from pydantic_ai.models.function import AgentInfo, FunctionModel  # noqa: E402

from bastion.integrations.guard import SessionTerminated  # noqa: E402
from bastion.integrations.pydantic_ai import BastionToolset  # noqa: E402

from .conftest import SECRET, Side  # noqa: E402


class Script:
    """A FunctionModel body: emits the scripted responses in turn, records what it was shown."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.seen: list[list[ModelMessage]] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.seen.append(list(messages))
        step = self.steps.pop(0)
        if isinstance(step, str):
            return ModelResponse(parts=[TextPart(step)])
        return ModelResponse(parts=[ToolCallPart(name, args, tool_call_id=cid) for name, args, cid in step])

    def tool_returns(self) -> str:
        out = []
        for batch in self.seen:
            for m in batch:
                for p in getattr(m, "parts", []):
                    if isinstance(p, ToolReturnPart):
                        out.append(json.dumps(p.content, default=str))
        return "\n".join(out)


def as_toolset(side: Side) -> FunctionToolset:
    return FunctionToolset(side.functions())


@pytest.fixture
def side() -> Side:
    """deploy returns a dict holding a secret: structured tool results are redacted too."""
    return Side(deployed=lambda service: {"deployed": service, "token": SECRET})


def agent_for(script: Script, toolset) -> Agent:
    return Agent(FunctionModel(script), toolsets=[toolset], output_type=[str, DeferredToolRequests])


def test_allow_deny_redact(engine, side):
    script = Script(
        [("read_file", {"path": "notes.txt"}, "c1"), ("read_file", {"path": "/repo/.env"}, "c2")],
        [("send_note", {"text": f"the key is {SECRET}"}, "c3")],
        "done",
    )
    result = agent_for(script, BastionToolset(as_toolset(side), engine)).run_sync("go")
    assert result.output == "done"
    assert [e for e in side.log if e[0] == "read_file"] == [("read_file", "notes.txt")]
    (note,) = [t for n, t in side.log if n == "send_note"]
    assert SECRET not in note and "[REDACTED:aws_access_key:" in note
    saw = script.tool_returns()
    assert "Reading .env files is not allowed" in saw
    assert SECRET not in saw and "[REDACTED:aws_access_key:" in saw


def test_approval_through_deferred_tool_requests(engine, side):
    script = Script([("deploy", {"service": "api"}, "d1")], "deployed")
    agent = agent_for(script, BastionToolset(as_toolset(side), engine))
    result = agent.run_sync("go")
    assert isinstance(result.output, DeferredToolRequests) and side.log == []
    (call,) = result.output.approvals
    meta = result.output.metadata[call.tool_call_id]["bastion"]
    assert meta["approver_roles"] == ["platform-lead"] and "Deployments need approval" in meta["reason"]
    result = agent.run_sync(message_history=result.all_messages(), deferred_tool_results=DeferredToolResults(approvals={call.tool_call_id: True}))
    assert side.log == [("deploy", "api")] and result.output == "deployed"
    assert SECRET not in script.tool_returns()  # the dict result was redacted too


def test_approval_denied(engine, side):
    script = Script([("deploy", {"service": "api"}, "d1")], "not deployed")
    agent = agent_for(script, BastionToolset(as_toolset(side), engine))
    result = agent.run_sync("go")
    call = result.output.approvals[0]
    result = agent.run_sync(message_history=result.all_messages(),
                            deferred_tool_results=DeferredToolResults(approvals={call.tool_call_id: ToolDenied("freeze week")}))
    assert side.log == [] and "freeze week" in script.tool_returns()


def test_approval_with_a_store(store_engine, approvals, side):
    script = Script([("deploy", {"service": "api"}, "d1")], [("deploy", {"service": "api"}, "d2")], "done")
    agent = agent_for(script, BastionToolset(as_toolset(side), store_engine))
    result = agent.run_sync("go")
    assert result.output.metadata["d1"]["bastion"]["approval_id"] == "apr-1"
    # approved in the run but not in the store: the call stays paused (the model is told)
    result = agent.run_sync(message_history=result.all_messages(), deferred_tool_results=DeferredToolResults(approvals={"d1": True}))
    assert side.log == [] and "apr-1" in script.tool_returns()
    # the store approves; the retried call goes through
    approvals.approve("apr-1")
    result = agent.run_sync(message_history=result.all_messages(), deferred_tool_results=DeferredToolResults(approvals={"d2": True}))
    assert side.log == [("deploy", "api")] and result.output == "done"


def test_terminate(engine, side):
    script = Script([("exfiltrate", {}, "x1")], "never")
    with pytest.raises(SessionTerminated):
        agent_for(script, BastionToolset(as_toolset(side), engine)).run_sync("go")
    assert side.log == []
