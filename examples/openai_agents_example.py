"""OpenAI Agents SDK: guarded function tools, approvals through the SDK's interruptions (offline)."""

import asyncio

from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from bastion.engine import Engine
from bastion.integrations.openai_agents import guard_agent

set_tracing_disabled(True)


@function_tool
def read_file(path: str) -> str:
    """Read a file."""
    return f"contents of {path}"


@function_tool
def write_file(path: str, content: str) -> str:
    """Write a file."""
    return f"wrote {path}"


async def main() -> None:
    model = ScriptedModel([  # stands in for a real model: the tool calls it would make
        [function_call("read_file", {"path": ".env"}, call_id="c1")],
        [function_call("write_file", {"path": "src/auth/login.py", "content": "x = 1"}, call_id="c2")],
        [assistant_message("done")],
    ])
    agent = guard_agent(Agent(name="coder", model=model, tools=[read_file, write_file]), Engine.from_paths(["builtin:coding-agent"]))
    result = await Runner.run(agent, "tidy up")
    for item in result.interruptions:  # require_approval pauses the run
        print("approval needed for", item.tool_name)
        state = result.to_state()
        state.approve(item)  # or state.reject(item, rejection_message="...")
        result = await Runner.run(agent, state)
    print(result.final_output)


asyncio.run(main())
