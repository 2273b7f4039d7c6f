"""State for rule examples: what the session did before, and its usage.

    examples:
      match:
        - action: {capability: network.request, target: "https://x.example"}
          history: [{capability: filesystem.read, target: /repo/.env}]
        - action: {capability: llm.call, target: m, args: {cost_usd: 1}}
          usage: {cost_usd: 4.5}
      no_match:
        - {capability: network.request, target: "https://x.example"}   # no history: no earlier read

History entries are actions (or `{action, ago: 10m}`; without `ago`, a second
before the example), analysed like real ones, so `shell.exec "cat .env"` counts as
reading `.env`. `usage` gives the scope's usage before the example (meters, and
`time` for the session's age). Nothing here touches a real state backend.
"""

from __future__ import annotations

from typing import Any

from bastion.compile.context import EvalContext
from bastion.errors import ActionError
from bastion.model import Action
from bastion.policy.document import BUDGET_METERS, parse_duration
from bastion.state.conditions import CompiledBudget, DidQuery
from bastion.state.usage import action_usage, amount


class ExampleState:
    """Implements what stateful conditions ask of `ctx.state`, from an example's history."""

    def __init__(self, history: list[tuple[Action, float]], usage: dict[str, float], now: float, analyzer: Any) -> None:
        self.history = history
        self.usage = usage
        self.now = now
        self.analyzer = analyzer

    def did(self, q: DidQuery, c: Any = None) -> bool:
        n = 0
        for action, ts in self.history:
            if q.within is not None and ts <= self.now - q.within:
                continue
            ctx = EvalContext(ts, action)
            if any(q.tracker.matches(s, ctx) for s in self.analyzer.analyze(action)):
                n += 1
        return n >= q.at_least

    def over_budget(self, budget: CompiledBudget, c: Any = None) -> bool:
        own = action_usage(c.action) if c is not None else {}
        for meter, limit in budget.limits.items():
            if self.usage.get(meter, 0.0) + own.get(meter, 0.0) > limit:
                return True
        return False


def example_state(history: Any, usage: Any, now: float, analyzer: Any) -> ExampleState:
    """Build the state of one example; raise ActionError (a failing example) on bad input."""
    items: list[tuple[Action, float]] = []
    if history is not None:
        if not isinstance(history, list):
            raise ActionError("history is a list of earlier actions")
        for i, h in enumerate(history):
            ago = 1.0
            if isinstance(h, dict) and "action" in h and "capability" not in h:
                extra = set(h) - {"action", "ago"}
                if extra:
                    raise ActionError(f"history[{i}]: unknown key {sorted(extra)[0]!r} (expected action, ago)")
                try:
                    ago = parse_duration(h.get("ago", 1.0))
                except ValueError as exc:
                    raise ActionError(f"history[{i}].ago: {exc}") from None
                h = h["action"]
            items.append((Action.from_dict(h), now - ago))
    meters: dict[str, float] = {}
    if usage is not None:
        if not isinstance(usage, dict):
            raise ActionError("usage maps meters to amounts, e.g. {cost_usd: 4.5}")
        for k, v in usage.items():
            if k not in BUDGET_METERS:
                raise ActionError(f"usage: unknown meter {k!r} (expected one of {', '.join(BUDGET_METERS)})")
            n = parse_duration(v) if k == "time" else amount(v)
            if n is None:
                raise ActionError(f"usage: {k} must be a non-negative number")
            meters[k] = n
    return ExampleState(items, meters, now, analyzer)
