"""CrewAI: Bastion's before/after tool-call hooks (run it in the CrewAI environment, .venv-crewai)."""

from crewai import Agent, Crew, Task
from crewai.tools import tool

from bastion.engine import Engine
from bastion.integrations.crewai import BastionCrewHooks


@tool("read_file")
def read_file(path: str) -> str:
    """Read a file."""
    return open(path).read()


def approver(request: dict, context) -> dict:  # default: CrewAI's console prompt
    print("approval needed:", request["reason"])
    return {"approved": False, "approver": "sam@example.com", "reason": "not now"}


def build_crew(llm) -> Crew:
    agent = Agent(role="coder", goal="read the config", backstory="careful", llm=llm, tools=[read_file])
    return Crew(agents=[agent], tasks=[Task(description="Read .env", expected_output="its content", agent=agent)])


if __name__ == "__main__":
    with BastionCrewHooks(Engine.from_paths(["builtin:coding-agent"]), approver=approver):
        print(build_crew(llm="gpt-4o-mini").kickoff())  # any CrewAI LLM; reading .env is blocked
