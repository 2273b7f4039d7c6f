"""OpenAI Agents SDK adapter: a real Runner loop, offline, with the SDK's ScriptedModel."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("agents")

from agents import Agent, Runner, function_tool, set_tracing_disabled  # noqa: E402
from agents.testing import ScriptedModel, assistant_message, function_call  # noqa: E402

from bastion.integrations.enforce import Enforcer  # noqa: E402
from bastion.integrations.guard import SessionTerminated  # noqa: E402
from bastion.integrations.openai_agents import bastion_tool_guardrail, guard_agent  # noqa: E402

from .conftest import SECRET, Side  # noqa: E402

set_tracing_disabled(True)


def as_tools(side: Side) -> list:
    return [function_tool(f) for f in side.functions()]


def model_saw(model: ScriptedModel) -> str:
    return "\n".join(json.dumps(c.input, default=str) for c in model.calls)


def tool_outputs(model: ScriptedModel) -> str:
    """What the tools returned to the model (the model's own calls are left out)."""
    out = []
    for c in model.calls:
        for item in c.input if isinstance(c.input, list) else []:
            if isinstance(item, dict) and item.get("type") == "function_call_output":
                out.append(json.dumps(item.get("output"), default=str))
    return "\n".join(out)


def run(agent, prompt="go"):
    return asyncio.run(Runner.run(agent, prompt))


def test_allow_deny_redact(engine, side):
    model = ScriptedModel([
        [function_call("read_file", {"path": "notes.txt"}, call_id="c1"), function_call("read_file", {"path": "/repo/.env"}, call_id="c2")],
        [function_call("send_note", {"text": f"the key is {SECRET}"}, call_id="c3")],
        [assistant_message("done")],
    ])
    agent = guard_agent(Agent(name="coder", model=model, tools=as_tools(side)), engine)
    result = run(agent)
    assert result.final_output == "done"
    assert [e for e in side.log if e[0] == "read_file"] == [("read_file", "notes.txt")]
    (note,) = [t for n, t in side.log if n == "send_note"]
    assert SECRET not in note and "[REDACTED:aws_access_key:" in note
    saw = tool_outputs(model)
    assert "Reading .env files is not allowed" in saw
    assert SECRET not in saw and "[REDACTED:aws_access_key:" in saw


def test_approval_through_sdk_interruptions(engine, side):
    model = ScriptedModel([[function_call("deploy", {"service": "api"}, call_id="d1")], [assistant_message("deployed")]])
    agent = guard_agent(Agent(name="ops", model=model, tools=as_tools(side)), engine)
    result = run(agent)
    assert [i.tool_name for i in result.interruptions] == ["deploy"] and side.log == []
    state = result.to_state()
    state.approve(result.interruptions[0])
    result = asyncio.run(Runner.run(agent, state))
    assert side.log == [("deploy", "api")] and result.final_output == "deployed"


def test_approval_rejected(engine, side):
    model = ScriptedModel([[function_call("deploy", {"service": "api"}, call_id="d1")], [assistant_message("not deployed")]])
    agent = guard_agent(Agent(name="ops", model=model, tools=as_tools(side)), engine)
    result = run(agent)
    state = result.to_state()
    state.reject(result.interruptions[0], rejection_message="freeze week")
    result = asyncio.run(Runner.run(agent, state))
    assert side.log == [] and "freeze week" in model_saw(model)


def test_approval_with_a_store(store_engine, approvals, side):
    model = ScriptedModel([[function_call("deploy", {"service": "api"}, call_id="d1")], [assistant_message("ok")]])
    agent = guard_agent(Agent(name="ops", model=model, tools=as_tools(side)), store_engine)
    result = run(agent)
    assert approvals.pending() == ["apr-1"]
    approvals.approve("apr-1")  # the approver answers in the store...
    state = result.to_state()
    state.approve(result.interruptions[0])  # ...and the app resumes the run
    asyncio.run(Runner.run(agent, state))
    assert side.log == [("deploy", "api")] and approvals.requests["apr-1"]["status"] == "consumed"


def test_sdk_approval_alone_does_not_satisfy_a_store(store_engine, approvals, side):
    model = ScriptedModel([[function_call("deploy", {"service": "api"}, call_id="d1")], [assistant_message("waiting")]])
    agent = guard_agent(Agent(name="ops", model=model, tools=as_tools(side)), store_engine)
    result = run(agent)
    state = result.to_state()
    state.approve(result.interruptions[0])
    asyncio.run(Runner.run(agent, state))
    assert side.log == [] and "apr-1" in model_saw(model)


def test_terminate_stops_the_run(engine, side):
    model = ScriptedModel([[function_call("exfiltrate", {}, call_id="x1")], [assistant_message("never")]])
    agent = guard_agent(Agent(name="bad", model=model, tools=as_tools(side)), engine)
    with pytest.raises(SessionTerminated):
        run(agent)
    assert side.log == []


def test_input_guardrail_allows_and_rejects(engine, side):
    guardrail = bastion_tool_guardrail(Enforcer(engine))
    tools = as_tools(side)
    for t in tools:
        t.tool_input_guardrails = [guardrail]
    model = ScriptedModel([
        [function_call("read_file", {"path": "a.txt"}, call_id="g1"), function_call("read_file", {"path": ".env"}, call_id="g2")],
        [function_call("send_note", {"text": f"key {SECRET}"}, call_id="g3")],
        [assistant_message("done")],
    ])
    result = run(Agent(name="g", model=model, tools=tools))
    assert result.final_output == "done"
    assert side.log == [("read_file", "a.txt")]  # the secret-bearing note was refused, not sent
    assert "Reading .env files is not allowed" in model_saw(model)
