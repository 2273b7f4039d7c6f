"""`ctx.state`: what stateful conditions read during one decision. Lazy and read-only.

Created by the state stage for every evaluation (decide, explain, plan steps). It reads
the session's marks and usage on first use, at most once per decision, and remembers
which earlier action satisfied each `session.did` condition and which budget was
crossed, so that the decision can say why ("at 10:02 this session read .env").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.model import Action
from bastion.state.conditions import CompiledBudget, DidQuery, scope_key
from bastion.state.records import Mark
from bastion.state.usage import action_usage

if TYPE_CHECKING:  # pragma: no cover
    from bastion.state.sessions import SessionInfo
    from bastion.state.stage import StateStage

_UNRESOLVED: Any = object()


class StateAccess:
    """`ctx.state` until a stateful condition is evaluated; then it puts the decision's own
    StateView in its place. Shared by all decisions: a decision that no stateful rule
    gets to costs no allocation."""

    __slots__ = ("stage",)

    def __init__(self, stage: "StateStage") -> None:
        self.stage = stage

    def view(self, c: Any) -> "StateView":
        v = StateView(self.stage, c.action, c.now, c, self.stage.pending_info(c.action))
        c.state = v
        return v

    def did(self, q: DidQuery, c: Any) -> bool:
        return self.view(c).did(q, c)

    def over_budget(self, budget: CompiledBudget, c: Any) -> bool:
        return self.view(c).over_budget(budget, c)


class StateView:
    __slots__ = ("stage", "action", "now", "ctx", "_info", "_marks", "evidence", "_usage", "budget_hits")

    def __init__(self, stage: "StateStage", action: Action, now: float, ctx: Any, info: Any = _UNRESOLVED) -> None:
        self.stage = stage
        self.action = action
        self.now = now
        self.ctx = ctx
        self._info = info
        self._marks: dict[str, list[Mark]] | None = None
        #: DidQuery -> (the newest qualifying mark, how many qualified)
        self.evidence: dict[DidQuery, tuple[Mark, int]] = {}
        self._usage: dict[str, dict[str, float]] | None = None
        #: (budget, meter, used, limit) for every budget found crossed
        self.budget_hits: list[tuple[CompiledBudget, str, float, float]] = []

    def view(self, c: Any) -> "StateView":
        return self

    @property
    def info(self) -> "SessionInfo | None":
        if self._info is _UNRESOLVED:
            self._info = self.stage.peek(self.action, self.now)
        return self._info

    # ------------------------------------------------------------------ session.did

    def did(self, q: DidQuery, c: Any = None) -> bool:
        sid = self.action.session.id
        if sid is None:
            return False
        if self._marks is None:
            self._marks = self.stage.backend.get_marks(sid, self.stage.settings().tracker_ids)
        marks = self._marks.get(q.tracker.id)
        simulated = self.stage.simulated_marks()  # earlier steps of a plan being evaluated
        if simulated and q.tracker.id in simulated:
            marks = simulated[q.tracker.id] + (marks or [])
        if not marks:
            return False
        cutoff = self.now - q.within if q.within is not None else None
        n = 0
        newest: Mark | None = None
        for m in marks:  # newest first
            if m.ts > self.now:
                continue  # recorded "later" than now (a clock set back): not before this action
            if cutoff is not None and m.ts <= cutoff:
                break
            n += 1
            if newest is None:
                newest = m
            if n >= q.at_least:
                self.evidence[q] = (newest, n)
                return True
        return False

    # ------------------------------------------------------------------ budgets

    def usage(self, scope: str) -> dict[str, float]:
        if self._usage is None:
            self._usage = {}
        got = self._usage.get(scope)
        if got is None:
            got = self._usage[scope] = self.stage.backend.get_usage([scope])[scope]
        return got

    def over_budget(self, budget: CompiledBudget, c: Any = None) -> bool:
        own = action_usage(self.action)
        used = None
        for meter, limit in budget.limits.items():
            if meter == "time":
                info = self.info
                if info is None or not info.stored:
                    continue
                value = self.now - info.record.started_at
            else:
                if used is None:
                    used = self.usage(scope_key(budget.per, self.action))
                value = used.get(meter, 0.0) + own.get(meter, 0.0)
            if value > limit:
                self.budget_hits.append((budget, meter, value, limit))
                return True
        return False
