"""Bastion: a deterministic policy engine and enforcement point for AI-agent actions.

    from bastion import Engine
    engine = Engine.from_paths(["builtin:coding-agent"])
    engine.decide({"capability": "filesystem.read", "target": ".env"}).decision  # Effect.DENY

The public API is re-exported here; heavier pieces load on first use, so that
`import bastion` stays cheap (a coding-agent hook runs once per tool call).
"""

from __future__ import annotations

from typing import Any

from bastion.errors import ActionError, BastionError, PolicyError, Problem

_LAZY = {
    "Action": ("bastion.model", "Action"),
    "Decision": ("bastion.model", "Decision"),
    "Effect": ("bastion.model", "Effect"),
    "Layer": ("bastion.model", "Layer"),
    "Severity": ("bastion.model", "Severity"),
    "Subject": ("bastion.model", "Subject"),
    "Engine": ("bastion.engine", "Engine"),
    "PolicyEvent": ("bastion.engine", "PolicyEvent"),
    "guard": ("bastion.integrations.guard", "guard"),
    "guarded": ("bastion.integrations.guard", "guarded"),
    "ActionDenied": ("bastion.integrations.guard", "ActionDenied"),
    "ApprovalRequired": ("bastion.integrations.guard", "ApprovalRequired"),
    "RateLimited": ("bastion.integrations.guard", "RateLimited"),
    "SessionTerminated": ("bastion.integrations.guard", "SessionTerminated"),
}

__all__ = ["ActionError", "BastionError", "PolicyError", "Problem", *_LAZY]


def __dir__() -> list[str]:
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bastion' has no attribute {name!r}")
