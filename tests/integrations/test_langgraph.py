"""LangGraph / LangChain adapter: a real agent loop, offline, with a scripted chat model."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("langchain")

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import tools_condition  # noqa: E402
from langgraph.types import Command  # noqa: E402
from pydantic import Field  # noqa: E402

from bastion.integrations.enforce import Enforcer  # noqa: E402
from bastion.integrations.langgraph import INTERRUPT_TYPE, BastionMiddleware, tool_node  # noqa: E402

from .conftest import SECRET, Side  # noqa: E402


class ScriptedChatModel(GenericFakeChatModel):
    """Emits the scripted messages in turn and remembers every input it was given."""

    seen: list = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedChatModel":
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
        self.seen.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def saw(self) -> str:
        return "\n".join(str(m.content) for batch in self.seen for m in batch)


_ids = itertools.count(1)


def calls(*specs: tuple[str, dict]) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": n, "args": a, "id": f"call-{next(_ids)}", "type": "tool_call"} for n, a in specs])


def as_tools(side: Side) -> list:
    return [tool(f) for f in side.functions()]


def graph(model: ScriptedChatModel, node: Any):
    g = StateGraph(MessagesState)
    g.add_node("agent", lambda s: {"messages": [model.invoke(s["messages"])]})
    g.add_node("tools", node)
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g.compile(checkpointer=InMemorySaver())


def run(app, text: str = "go", thread: str = "t1", resume: Any = None):
    cfg = {"configurable": {"thread_id": thread}}
    if resume is not None:
        return app.invoke(Command(resume=resume), cfg)
    return app.invoke({"messages": [HumanMessage(text)]}, cfg)


def test_allow_deny_redact_in_one_loop(engine, side):
    model = ScriptedChatModel(messages=iter([
        calls(("read_file", {"path": "notes.txt"}), ("read_file", {"path": "/repo/.env"})),
        calls(("send_note", {"text": f"the key is {SECRET}"})),
        "done",
    ]))
    app = graph(model, tool_node(as_tools(side), engine))
    out = run(app)
    assert out["messages"][-1].content == "done"
    # the allowed read ran, the denied one never did; the redacted note reached the tool redacted
    assert [e for e in side.log if e[0] == "read_file"] == [("read_file", "notes.txt")]
    (note,) = [t for n, t in side.log if n == "send_note"]
    assert SECRET not in note and "[REDACTED:aws_access_key:" in note
    # the model saw the reason, and never the secret from the tool result
    saw = model.saw()
    assert "Reading .env files is not allowed" in saw
    assert SECRET not in saw and "[REDACTED:aws_access_key:" in saw
    denied = [m for m in out["messages"] if isinstance(m, ToolMessage) and m.status == "error"]
    assert len(denied) == 1


def test_approval_interrupts_and_resumes_approved(engine, side):
    model = ScriptedChatModel(messages=iter([calls(("deploy", {"service": "api"})), "done"]))
    app = graph(model, tool_node(as_tools(side), engine))
    out = run(app)
    (intr,) = out["__interrupt__"]
    req = intr.value
    assert req["type"] == INTERRUPT_TYPE and req["tool"] == "deploy" and req["approver_roles"] == ["platform-lead"]
    assert "Deployments need approval" in req["reason"] and req["approval_id"] is None
    assert side.log == []  # paused: nothing ran
    out = run(app, resume={"approved": True, "approver": "sam@example.com", "reason": "release 4.2"})
    assert side.log == [("deploy", "api")]
    assert out["messages"][-1].content == "done"


def test_approval_denied_on_resume(engine, side):
    model = ScriptedChatModel(messages=iter([calls(("deploy", {"service": "api"})), "ok, not deploying"]))
    app = graph(model, tool_node(as_tools(side), engine))
    run(app)
    out = run(app, resume={"approved": False, "approver": "sam@example.com", "reason": "freeze week"})
    assert side.log == []
    assert "freeze week" in model.saw()
    assert out["messages"][-1].content == "ok, not deploying"


def test_approval_with_a_store_needs_the_stores_approval(store_engine, approvals, side):
    model = ScriptedChatModel(messages=iter([calls(("deploy", {"service": "api"})), "done"]))
    app = graph(model, tool_node(as_tools(side), store_engine))
    out = run(app)
    aid = out["__interrupt__"][0].value["approval_id"]
    assert aid == "apr-1" and approvals.pending() == ["apr-1"]
    approvals.approve(aid)  # the approver answers in the store (bastion approvals approve ...)
    run(app, resume=True)
    assert side.log == [("deploy", "api")]
    assert approvals.requests[aid]["status"] == "consumed"


def test_resume_reruns_the_step_without_deciding_twice(engine, side):
    verdicts = []
    enf = Enforcer(engine, on_decision=verdicts.append)
    model = ScriptedChatModel(messages=iter([calls(("deploy", {"service": "api"})), "done"]))
    app = graph(model, tool_node(as_tools(side), enf))
    run(app)
    run(app, resume=True)
    # one decision when the call was made, one re-decision for the approval; none for the re-run
    assert [v.effect.label for v in verdicts] == ["require_approval", "require_approval"]
    assert verdicts[1].proceed and verdicts[0].actions[0].id == verdicts[1].actions[0].id


def test_terminate_ends_the_run(engine, side):
    model = ScriptedChatModel(messages=iter([calls(("exfiltrate", {})), "must not be reached"]))
    app = graph(model, tool_node(as_tools(side), engine))
    from bastion.integrations.guard import SessionTerminated

    with pytest.raises(SessionTerminated) as err:
        run(app)
    assert side.log == [] and "Exfiltration ends the session" in str(err.value)
    assert len(model.seen) == 1  # the model was not called again


def test_create_agent_middleware(engine, side):
    from langchain.agents import create_agent

    model = ScriptedChatModel(messages=iter([
        calls(("read_file", {"path": "/repo/.env"}), ("deploy", {"service": "web"})),
        "done",
    ]))
    agent = create_agent(model, as_tools(side), middleware=[BastionMiddleware(engine)], checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "m1"}}
    out = agent.invoke({"messages": [HumanMessage("go")]}, cfg)
    assert out["__interrupt__"][0].value["tool"] == "deploy"
    out = agent.invoke(Command(resume=True), cfg)
    assert side.log == [("deploy", "web")]
    assert "Reading .env files is not allowed" in model.saw()
    assert out["messages"][-1].content == "done"


def test_async_graph(engine, side):
    model = ScriptedChatModel(messages=iter([calls(("read_file", {"path": "a.txt"}), ("read_file", {"path": ".env"})), "done"]))
    app = graph(model, tool_node(as_tools(side), engine))
    out = asyncio.run(app.ainvoke({"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "a"}}))
    assert side.log == [("read_file", "a.txt")]
    assert SECRET not in model.saw() and out["messages"][-1].content == "done"
