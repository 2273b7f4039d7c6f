"""CrewAI adapter: a real crew, offline, with a scripted LLM (ReAct text). Runs in .venv-crewai.

CrewAI's pins conflict with the other frameworks, so these tests run in their own
environment; tests/integrations/test_crewai.py runs them there from the main suite.
"""

from __future__ import annotations

import os

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

import json  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("crewai")

from crewai import Agent, Crew, Task  # noqa: E402
from crewai.llms.base_llm import BaseLLM  # noqa: E402
from crewai.tools import tool  # noqa: E402

from bastion.integrations.crewai import BastionCrewHooks  # noqa: E402

SECRET = "AKIAIOSFODNN7EXAMPLE"  # as in ../conftest.py: AWS's documentation example key


class ScriptedLLM(BaseLLM):
    """Answers with the scripted ReAct steps in turn; remembers every prompt."""

    script: list = []
    seen: list = []

    def call(self, messages, tools=None, callbacks=None, available_functions=None, from_task=None, from_agent=None, response_model=None):  # type: ignore[override]
        self.seen.append(json.dumps(messages, default=str))
        return self.script.pop(0)

    def supports_function_calling(self) -> bool:
        return False

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 8192

    def observations(self) -> str:
        """Every tool observation the model was shown."""
        out = []
        for text in self.seen:
            for chunk in text.split("Observation:")[1:]:
                out.append(chunk[:400])
        return "\n".join(out)


def act(tool_name: str, args: dict) -> str:
    return f"Thought: use a tool\nAction: {tool_name}\nAction Input: {json.dumps(args)}"


FINAL = "Thought: I know the answer\nFinal Answer: done"


class Side:
    def __init__(self) -> None:
        self.log: list = []

    def tools(self) -> list:
        side = self

        @tool("read_file")
        def read_file(path: str) -> str:
            """Read a file."""
            side.log.append(("read_file", path))
            return f"contents of {path}: AWS_ACCESS_KEY_ID={SECRET}"

        @tool("send_note")
        def send_note(text: str) -> str:
            """Send a note."""
            side.log.append(("send_note", text))
            return "sent"

        @tool("deploy")
        def deploy(service: str) -> str:
            """Deploy a service."""
            side.log.append(("deploy", service))
            return f"deployed {service}"

        @tool("exfiltrate")
        def exfiltrate() -> str:
            """Never allowed."""
            side.log.append(("exfiltrate", None))
            return "oops"

        return [read_file, send_note, deploy, exfiltrate]


def crew(llm: ScriptedLLM, side: Side) -> Crew:
    agent = Agent(role="coder", goal="do the task", backstory="careful", llm=llm, tools=side.tools(), verbose=False, max_iter=6)
    task = Task(description="do the task", expected_output="done", agent=agent)
    return Crew(agents=[agent], tasks=[task], verbose=False)


@pytest.fixture
def side() -> Side:
    return Side()


def run(llm: ScriptedLLM, side: Side, hooks: BastionCrewHooks) -> str:
    with hooks:
        return str(crew(llm, side).kickoff())


def test_allowed_call_runs_and_its_result_is_redacted(engine, side):
    llm = ScriptedLLM(model="scripted", script=[act("read_file", {"path": "notes.txt"}), FINAL], seen=[])
    assert run(llm, side, BastionCrewHooks(engine)) == "done"
    assert side.log == [("read_file", "notes.txt")]
    obs = llm.observations()
    assert SECRET not in obs and "[REDACTED:aws_access_key:" in obs


def test_denied_call_never_runs_and_the_model_reads_why(engine, side):
    llm = ScriptedLLM(model="scripted", script=[act("read_file", {"path": "/repo/.env"}), FINAL], seen=[])
    run(llm, side, BastionCrewHooks(engine))
    assert side.log == []
    assert "Reading .env files is not allowed" in llm.observations()


def test_redacted_argument_reaches_the_tool_redacted(engine, side):
    llm = ScriptedLLM(model="scripted", script=[act("send_note", {"text": f"key {SECRET}"}), FINAL], seen=[])
    run(llm, side, BastionCrewHooks(engine))
    ((name, text),) = side.log
    assert name == "send_note" and SECRET not in text and "[REDACTED:aws_access_key:" in text


def test_approval_asks_the_approver(engine, side):
    asked = []

    def approver(request: dict, context: Any) -> Any:
        asked.append(request)
        return {"approved": True, "approver": "sam@example.com", "reason": "release"}

    llm = ScriptedLLM(model="scripted", script=[act("deploy", {"service": "api"}), FINAL], seen=[])
    run(llm, side, BastionCrewHooks(engine, approver=approver))
    assert side.log == [("deploy", "api")]
    assert asked[0]["approver_roles"] == ["platform-lead"] and "Deployments need approval" in asked[0]["reason"]


def test_approval_denied(engine, side):
    llm = ScriptedLLM(model="scripted", script=[act("deploy", {"service": "api"}), FINAL], seen=[])
    run(llm, side, BastionCrewHooks(engine, approver=lambda r, c: {"approved": False, "reason": "freeze week"}))
    assert side.log == [] and "freeze week" in llm.observations()


def test_approval_with_a_store(store_engine, approvals, side):
    llm = ScriptedLLM(model="scripted", script=[act("deploy", {"service": "api"}), act("deploy", {"service": "api"}), FINAL], seen=[])

    asked = []

    def approver(request: dict, context: Any) -> Any:
        asked.append(request["approval_id"])
        if len(asked) == 2:
            approvals.approve(request["approval_id"])  # by the second attempt, the store has approved
        return True

    run(llm, side, BastionCrewHooks(store_engine, approver=approver))
    assert asked == ["apr-1", "apr-1"]
    assert "apr-1" in llm.observations()  # first attempt: approved in the crew, still pending in the store
    assert side.log == [("deploy", "api")]  # second attempt, after the store's approval


def test_a_failing_hook_blocks(engine, side):
    def broken(request: dict, context: Any) -> Any:
        raise RuntimeError("approval service down")

    llm = ScriptedLLM(model="scripted", script=[act("deploy", {"service": "api"}), FINAL], seen=[])
    run(llm, side, BastionCrewHooks(engine, approver=broken))
    assert side.log == [] and "failing closed" in llm.observations()


def test_terminate_blocks_the_rest_of_the_session(engine, side):
    llm = ScriptedLLM(model="scripted", script=[act("exfiltrate", {}), act("read_file", {"path": "notes.txt"}), FINAL], seen=[])
    run(llm, side, BastionCrewHooks(engine, session="crew-run-1"))
    assert side.log == []  # neither the terminating call nor any later one ran
    assert "terminated the session" in llm.observations()


def test_the_documented_example(engine):
    """examples/crewai_example.py, with the scripted LLM instead of a hosted one."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("crewai_example", Path(__file__).resolve().parents[3] / "examples" / "crewai_example.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)  # type: ignore[union-attr]
    llm = ScriptedLLM(model="scripted", script=[act("read_file", {"path": ".env"}), FINAL], seen=[])
    with BastionCrewHooks(engine, approver=example.approver):
        assert str(example.build_crew(llm).kickoff()) == "done"
    assert "Reading .env files is not allowed" in llm.observations()
