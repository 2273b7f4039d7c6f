"""Enforcement points: where Bastion's decisions meet the agent's tools.

One module per framework, each importing its framework lazily, so that `import bastion`
(and `import bastion.integrations`) never pulls a framework in:

- `guard`: `@guard` for plain Python functions, and the typed exceptions
- `toolmap`: tool names and arguments -> capabilities and targets
- `enforce`: the shared core (`Enforcer`, `Verdict`)
- `claude_code`: the Claude Code PreToolUse hook (`bastion hook claude-code`)
- `mcp_proxy`: a policy-enforcing stdio MCP proxy (`bastion mcp-proxy`)
- `langgraph`, `openai_agents`, `pydantic_ai`, `crewai`: framework adapters
"""

from __future__ import annotations

from bastion import _lazy

_LAZY = {
    "Enforcer": "bastion.integrations.enforce",
    "Verdict": "bastion.integrations.enforce",
    "ApprovalAnswer": "bastion.integrations.enforce",
    "ToolMap": "bastion.integrations.toolmap",
    "guard": "bastion.integrations.guard",
    "guarded": "bastion.integrations.guard",
    "configure": "bastion.integrations.guard",
    "GuardError": "bastion.integrations.guard",
    "ActionDenied": "bastion.integrations.guard",
    "ApprovalRequired": "bastion.integrations.guard",
    "RateLimited": "bastion.integrations.guard",
    "SessionTerminated": "bastion.integrations.guard",
}

__all__ = sorted(_LAZY)


# not kept in globals(): `guard` is both a name here and a submodule, which importing rebinds
__getattr__ = _lazy.lazy_exports(__name__, _LAZY)
