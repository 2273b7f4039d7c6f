"""Usage meters for budgets: what an action costs, and where usage is counted.

Meters: `tokens`, `cost_usd`, `llm_calls` (fed by `llm.call` actions: `args.tokens`,
or `args.input_tokens` + `args.output_tokens`, and `args.cost_usd`), `tool_calls`
(`tool.call` actions), `actions` (every action). Usage is counted when a decision lets
the action proceed, and by `engine.record_usage(...)`, in the action's session (and
every ancestor session, so a parent's budget covers its sub-agents), agent and team.
Amounts must be finite and non-negative: usage never goes down.
"""

from __future__ import annotations

import math
from typing import Any

from bastion.model import Action

METERS = ("tokens", "cost_usd", "llm_calls", "tool_calls", "actions")


def amount(value: Any) -> float | None:
    """A usable usage amount, or None (booleans, strings, NaN, negatives are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    if not math.isfinite(value) or value < 0:
        return None
    return value


def action_usage(action: Action) -> dict[str, float]:
    out = {"actions": 1.0}
    cap = action.capability
    if cap == "tool.call":
        out["tool_calls"] = 1.0
    elif cap == "llm.call":
        out["llm_calls"] = 1.0
        args = action.args
        tokens = amount(args.get("tokens"))
        if tokens is None:
            parts = [amount(args.get(k)) for k in ("input_tokens", "output_tokens")]
            if any(p is not None for p in parts):
                tokens = sum(p for p in parts if p is not None)
        if tokens:
            out["tokens"] = tokens
        cost = amount(args.get("cost_usd"))
        if cost:
            out["cost_usd"] = cost
    return out


def metered_usage(action: Action, meters: frozenset[str]) -> dict[str, float] | None:
    """The usage of `action` in the meters budgets use; None when it adds nothing to them."""
    cap = action.capability
    if "actions" not in meters and not (cap == "llm.call" or (cap == "tool.call" and "tool_calls" in meters)):
        return None
    out = {m: v for m, v in action_usage(action).items() if m in meters}
    return out or None


def validate_usage(usage: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for meter, value in usage.items():
        if meter not in METERS:
            raise ValueError(f"unknown usage meter {meter!r} (expected one of {', '.join(METERS)})")
        n = amount(value)
        if n is None:
            raise ValueError(f"usage {meter} must be a finite, non-negative number, got {value!r}")
        if n:
            out[meter] = n
    return out
