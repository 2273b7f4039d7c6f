"""Bastion: a deterministic policy engine and enforcement point for AI-agent actions.

    from bastion import Engine
    engine = Engine.from_paths(["builtin:coding-agent"])
    engine.decide({"capability": "filesystem.read", "target": ".env"}).decision  # Effect.DENY

The public API is re-exported here; heavier pieces load on first use, so that
`import bastion` stays cheap (a coding-agent hook runs once per tool call).
"""

from __future__ import annotations

from bastion import _lazy
from bastion.errors import ActionError, BastionError, PolicyError, Problem

_LAZY = {
    "Action": "bastion.model",
    "Decision": "bastion.model",
    "Effect": "bastion.model",
    "Layer": "bastion.model",
    "Severity": "bastion.model",
    "Subject": "bastion.model",
    "Engine": "bastion.engine",
    "PolicyEvent": "bastion.engine",
    "guard": "bastion.integrations.guard",
    "guarded": "bastion.integrations.guard",
    "ActionDenied": "bastion.integrations.guard",
    "ApprovalRequired": "bastion.integrations.guard",
    "RateLimited": "bastion.integrations.guard",
    "SessionTerminated": "bastion.integrations.guard",
}

__all__ = ["ActionError", "BastionError", "PolicyError", "Problem", *_LAZY]


def __dir__() -> list[str]:
    return sorted(__all__)


__getattr__ = _lazy.lazy_exports(__name__, _LAZY, globals())
