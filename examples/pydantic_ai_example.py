"""Pydantic AI: a Bastion wrapper toolset; approvals through deferred tool requests (offline)."""

from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, FunctionToolset
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import FunctionModel

from bastion.engine import Engine
from bastion.integrations.pydantic_ai import BastionToolset


def read_file(path: str) -> str:
    """Read a file."""
    return f"contents of {path}"


def write_file(path: str, content: str) -> str:
    """Write a file."""
    return f"wrote {path}"


steps = [  # stands in for a real model: the tool calls it would make
    [ToolCallPart("read_file", {"path": ".env"}, tool_call_id="c1")],
    [ToolCallPart("write_file", {"path": "src/auth/login.py", "content": "x = 1"}, tool_call_id="c2")],
    "done",
]


def model(messages, info):
    step = steps.pop(0)
    return ModelResponse(parts=[TextPart(step)] if isinstance(step, str) else step)


tools = BastionToolset(FunctionToolset([read_file, write_file]), Engine.from_paths(["builtin:coding-agent"]))
agent = Agent(FunctionModel(model), toolsets=[tools], output_type=[str, DeferredToolRequests])
result = agent.run_sync("tidy up")
while isinstance(result.output, DeferredToolRequests):  # require_approval: the run ends with requests
    answers = {}
    for call in result.output.approvals:
        print("approval needed:", result.output.metadata[call.tool_call_id]["bastion"]["reason"])
        answers[call.tool_call_id] = True  # or ToolDenied("why")
    result = agent.run_sync(message_history=result.all_messages(), deferred_tool_results=DeferredToolResults(approvals=answers))
print(result.output)
