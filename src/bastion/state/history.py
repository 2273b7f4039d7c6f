"""Sequence rules: recording what a session did, and saying why a `session.did` rule applied."""

from __future__ import annotations

from typing import Any

from bastion.compile.context import EvalContext
from bastion.model import Action, Decision
from bastion.state.conditions import human_duration
from bastion.state.decisions import iso, redacted
from bastion.state.settings import StateSettings
from bastion.state.view import StateView


#: marks under this prefix record the data classifications a session touched
CLASSIFICATION = "classification:"


def describe_action(engine: Any, action: Action) -> str:
    text = f"{action.capability} {action.target}" if action.target is not None else action.capability
    return redacted(engine, text)


def describe_subject(engine: Any, s: Any) -> str:
    text = s.describe()
    if s.origin is not None:
        text = f"{text} (from {s.origin})"
    return redacted(engine, text)


def matching_trackers(engine: Any, settings: StateSettings, action: Action, ctx: EvalContext) -> dict[str, str]:
    """tracker id -> what the action (or an action derived from it) did, for every tracker it matches."""
    found: dict[str, str] = {}
    index = settings.tracker_index
    if index is None:
        return found
    subjects = ctx.subjects if ctx.subjects is not None else engine.analyzer.analyze(action)
    for s in subjects:
        for r in index.candidates(s):
            tid = r.metadata["tracker"]
            if tid in found:
                continue
            for check in r.checks:
                if not check(s, ctx):
                    break
            else:
                found[tid] = describe_subject(engine, s)
    return found


def explain(decision: Decision, view: StateView, settings: StateSettings, notes: dict[str, Any]) -> None:
    """Add to the decision which earlier actions and which budgets made its rules apply."""
    winners: list[str] = []
    history: list[dict[str, Any]] = []
    budgets: list[dict[str, Any]] = []
    for m, rs in settings.matched(decision):
        winner = m.effect == decision.decision
        for q in rs.did:
            ev = view.evidence.get(q)
            if ev is None:
                continue
            mark, n = ev
            item = {"rule": f"{m.policy}/{m.rule}", "did": mark.detail, "at": iso(mark.ts)}
            if q.at_least > 1 or q.within is not None:
                item["count"] = n
                item["condition"] = q.describe()
            history.append(item)
            if winner:
                times = f" ({n} matching actions{' within ' + human_duration(q.within) if q.within else ''})" if q.at_least > 1 else ""
                winners.append(f"at {iso(mark.ts)} this session did {mark.detail}{times}")
        if rs.budget is not None:
            for budget, meter, used, limit in view.budget_hits:
                if budget is rs.budget:
                    budgets.append({"rule": f"{m.policy}/{m.rule}", "per": budget.per, "meter": meter, "used": round(used, 6), "limit": limit})
                    if winner:
                        winners.append(f"{budget.per} {meter} {_fmt(meter, used)} is above the budget of {_fmt(meter, limit)}")
                    break
    if history:
        notes["history"] = history
    if budgets:
        notes["budgets"] = budgets
    if winners:
        decision.reason = f"{decision.reason} (because {'; '.join(dict.fromkeys(winners))})"


def _fmt(meter: str, value: float) -> str:
    from bastion.state.conditions import format_limit

    return format_limit(meter, round(value, 6))
