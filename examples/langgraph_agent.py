"""An offline LangGraph agent under builtin:coding-agent: what was allowed, blocked and redacted.

    .venv/bin/python examples/langgraph_agent.py

A scripted chat model (no network, no API key) plays a coding agent that reads files,
runs commands and edits code. Every tool call goes through Bastion's ToolNode wrapper:
reading `.env` and `rm -rf` are blocked (the model reads why), a secret in a tool result
is redacted before the model sees it, and an edit to authentication code pauses the
graph with `interrupt()` until an approver (here: this script) answers.
"""

from __future__ import annotations

import itertools
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import tools_condition
from langgraph.types import Command

from bastion.engine import Engine
from bastion.integrations.enforce import Enforcer, Verdict
from bastion.integrations.langgraph import tool_node

# A pretend repository: the tools never touch the real filesystem.
FILES = {
    "README.md": "# demo\nRun the tests with pytest.\n",
    ".env": "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    "config/settings.py": "DEBUG = True\nAWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE'\n",
    "src/auth/session.py": "SESSION_TTL = 3600\n",
}


@tool
def read_file(path: str) -> str:
    """Read a file of the repository."""
    return FILES.get(path, f"no such file: {path}")


@tool
def write_file(path: str, content: str) -> str:
    """Write a file of the repository."""
    FILES[path] = content
    return f"wrote {len(content)} bytes to {path}"


@tool
def bash(command: str) -> str:
    """Run a shell command."""
    return f"$ {command}\n(pretend output)"


class ScriptedModel(GenericFakeChatModel):
    """A fake chat model that can 'bind tools' and replays scripted turns."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedModel":
        return self


_ids = itertools.count(1)


def call(name: str, **args: Any) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{next(_ids)}", "type": "tool_call"}])


def main() -> None:
    model = ScriptedModel(messages=iter([
        call("read_file", path="README.md"),
        call("read_file", path=".env"),
        call("read_file", path="config/settings.py"),
        call("bash", command="pytest -q"),
        call("bash", command="rm -rf /"),
        call("write_file", path="src/auth/session.py", content="SESSION_TTL = 600\n"),
        AIMessage(content="All done."),
    ]))

    verdicts: list[Verdict] = []
    engine = Engine.from_paths(["builtin:coding-agent"])
    enforcer = Enforcer(engine, agent={"id": "demo-agent"}, session="demo-session", on_decision=verdicts.append)

    graph = StateGraph(MessagesState)
    graph.add_node("agent", lambda state: {"messages": [model.invoke(state["messages"])]})
    graph.add_node("tools", tool_node([read_file, write_file, bash], enforcer))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    app = graph.compile(checkpointer=InMemorySaver())

    config = {"configurable": {"thread_id": "demo"}}
    result = app.invoke({"messages": [HumanMessage("Tidy up the repository.")]}, config)
    while "__interrupt__" in result:  # require_approval: the graph paused; an approver answers
        request = result["__interrupt__"][0].value
        print(f"APPROVAL  {request['tool']} {request['arguments']}: {request['reason']} (approvers: {', '.join(request['approver_roles'])})")
        print("          -> approved by sam@example.com")
        result = app.invoke(Command(resume={"approved": True, "approver": "sam@example.com", "reason": "reviewed"}), config)

    print()
    for v in verdicts:
        what = "; ".join(f"{a.capability} {a.target or ''}".strip() for a in v.actions)
        if v.approved_by is not None:
            status = f"approved by {v.approved_by.approver}"
        else:
            status = "allowed" if v.proceed else ("needs approval" if v.needs_approval else "blocked")
        print(f"{status.upper():30} {what:40} {v.decision.reason}")
    print()
    for m in result["messages"]:
        if isinstance(m, ToolMessage):
            flag = "REDACTED" if "[REDACTED:" in str(m.content) else ("BLOCKED" if m.status == "error" else "ok")
            first = str(m.content).splitlines()[0] if str(m.content) else ""
            print(f"model saw [{flag:8}] {m.name}: {first[:110]}")
            if flag == "REDACTED":
                for line in str(m.content).splitlines():
                    if "[REDACTED:" in line:
                        print(f"{'':20}{line}")
    print(f"\nfinal answer: {result['messages'][-1].content}")
    print(f"src/auth/session.py is now: {FILES['src/auth/session.py']!r}")


if __name__ == "__main__":
    main()
