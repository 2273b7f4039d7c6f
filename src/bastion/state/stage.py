"""The state stage: where session state meets the engine (see bastion.engine stages).

    before   a terminated session (or one whose ancestor was terminated) -> terminate,
             with the original reason; otherwise resolve and remember the session
    state_view  ctx.state for stateful conditions (session.did, budgets), lazily read
    after    sub-agent inheritance, agent.spawn and plan.submit checks, why a
             session.did/budget rule applied, rate limits, escalation
    record   once every stage is done (approvals may have let the action through):
             termination, and for an action that goes ahead usage, sequence marks,
             spawn grants
    preview  the same for `engine.explain`, without writing anything

One stage per engine (the engine makes it from `state=`); several engines, threads or
processes share state by sharing a backend.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

from bastion.compile.context import EvalContext
from bastion.model import Action, Decision, Effect
from bastion.state import escalation, history, plans, ratelimit, subagents
from bastion.state.backend import StateBackend
from bastion.state.conditions import scope_key
from bastion.state.decisions import iso, redacted
from bastion.state.records import Mark, SessionRecord
from bastion.state.sessions import SessionInfo, resolve
from bastion.state.settings import StateSettings, build_settings
from bastion.state.usage import action_usage, validate_usage
from bastion.state.view import _UNRESOLVED, StateView

#: nested evaluations (sub-agent chains, spawn probes, plan steps) deeper than this are denied
MAX_NESTING = 64
_STASH_LIMIT = 256


class _Local(threading.local):
    def __init__(self) -> None:
        #: id(action) -> (action, session info, the decision `before` returned)
        self.pending: dict[int, tuple[Action, SessionInfo | None, Decision | None]] = {}
        #: id(action) -> (action, view) for the evaluation in progress
        self.views: dict[int, tuple[Action, StateView]] = {}
        #: id(action) -> (action, info, view, grant): what `record` writes once the decision is final
        self.commits: dict[int, tuple[Action, SessionInfo | None, StateView | None, Any]] = {}
        self.depth = 0
        self.mode: str | None = None  # None (a real decision), "step" or "probe"
        self.sim_hits: dict[str, int] | None = None
        self.sim_marks: dict[str, list[Mark]] | None = None


class StateStage:
    def __init__(self, backend: StateBackend, engine: Any = None, *, owns_backend: bool = False) -> None:
        self.backend = backend
        self._engine = engine
        #: close the backend with the engine (it was opened from a spec for this engine)
        self.owns_backend = owns_backend
        self._settings: StateSettings | None = None
        self._local = _Local()

    def bind(self, engine: Any) -> "StateStage":
        self._engine = engine
        return self

    def settings(self, engine: Any = None) -> StateSettings:
        compiled = (engine or self._engine).policies
        s = self._settings
        if s is None or s.compiled is not compiled:
            s = self._settings = build_settings(compiled)
        return s

    def close(self) -> None:
        if self.owns_backend:
            self.backend.close()

    # ------------------------------------------------------------------ the engine's hooks

    def before(self, engine: Any, action: Action, now: float) -> Decision | None:
        if action.session.id is None and action.agent.id is None:
            return None
        with self.backend.batch():
            info = resolve(self.backend, action, now, create=True)
        decision = self._terminated(engine, action, now, info) if info is not None and info.terminated is not None else None
        pending = self._local.pending
        if len(pending) > _STASH_LIMIT:
            pending.clear()  # leftovers of evaluations that raised
        pending[id(action)] = (action, info, decision)
        return decision

    def state_view(self, ctx: EvalContext) -> StateView:
        action = ctx.action
        loc = self._local
        p = loc.pending.get(id(action))
        view = StateView(self, action, ctx.now, ctx, p[1] if p is not None and p[0] is action else _UNRESOLVED)
        if len(loc.views) > _STASH_LIMIT:
            loc.views.clear()
        loc.views[id(action)] = (action, view)
        return view

    def after(self, engine: Any, decision: Decision, action: Action, now: float) -> Decision:
        loc = self._local
        p = loc.pending.pop(id(action), None)
        v = loc.views.pop(id(action), None)
        if p is not None and p[0] is not action:
            p = None
        view = v[1] if v is not None and v[0] is action else None
        if p is not None and p[2] is not None and decision is p[2]:
            return decision  # our own "session terminated": nothing else applies
        with self.backend.batch():  # one transaction for all of it where the backend has them
            if p is not None:
                info = p[1]
            elif view is not None:
                info = view.info
            else:
                info = resolve(self.backend, action, now, create=True)
            return self._apply(engine, decision, action, now, info, view, commit=True)

    def record(self, engine: Any, decision: Decision, action: Action, now: float) -> None:
        """After every stage: write what the final decision implies (termination; for an
        action that goes ahead, usage, sequence marks and spawn grants)."""
        c = self._local.commits.pop(id(action), None)
        if c is None or c[0] is not action:
            return
        _, info, view, grant = c
        with self.backend.batch():
            self._commit(engine, decision, action, now, info, view, self.settings(engine), grant)

    def preview(self, engine: Any, decision: Decision, action: Action, now: float) -> Decision:
        loc = self._local
        v = loc.views.pop(id(action), None)
        view = v[1] if v is not None and v[0] is action else None
        info = view.info if view is not None else self.peek(action, now)
        if info is not None and info.terminated is not None:
            out = self._terminated(engine, action, now, info)
            out.extra["state"]["rules_would_say"] = {"decision": decision.decision.label, "reason": decision.reason}
            return out
        return self._apply(engine, decision, action, now, info, view, commit=False)

    def peek(self, action: Action, now: float) -> SessionInfo | None:
        if action.session.id is None and action.agent.id is None:
            return None
        return resolve(self.backend, action, now, create=False)

    # ------------------------------------------------------------------ deciding

    def _terminated(self, engine: Any, action: Action, now: float, info: SessionInfo) -> Decision:
        t = info.terminated
        assert t is not None
        own = info.stored and t.id == info.record.id
        where = f"session {t.id}" if own else f"parent session {t.id}"
        by = dict(t.terminated_by or {})
        state = {"session": info.id, "status": "terminated", "terminated_session": t.id, "terminated_at": iso(t.terminated_at), "terminated_by": by}
        return engine.new_decision(
            action,
            now,
            Effect.TERMINATE,
            f"{where} was terminated at {iso(t.terminated_at)}: {t.reason}",
            policy_ids=list(by.get("policies") or []),
            extra={"state": state},
        )

    def _apply(self, engine: Any, decision: Decision, action: Action, now: float, info: SessionInfo | None, view: StateView | None, *, commit: bool) -> Decision:
        loc = self._local
        settings = self.settings(engine)
        nested = loc.depth > 0
        notes: dict[str, Any] = {}
        sid = info.id if info is not None else None
        if info is not None and info.record.parent_id is not None:
            subagents.inherit(self, engine, decision, action, now, info, notes)
        grant = None
        if loc.mode != "probe":
            if action.capability == "agent.spawn":
                grant = subagents.check_spawn(self, engine, decision, action, now, info, settings, notes)
            elif action.capability == "plan.submit":
                plans.check_plan(self, engine, decision, action, now, settings)
        if view is not None and (view.evidence or view.budget_hits):
            history.explain(decision, view, settings, notes)
        counted = decision.decision
        if settings.rules and ratelimit.counts_toward_limits(decision.decision):
            ratelimit.apply(self, engine, decision, action, now, settings, notes, commit=commit)
        if sid is not None and not nested:
            escalation.apply(self, decision, action, now, sid, counted, settings, notes, commit=commit)
        if commit:
            commits = loc.commits
            if len(commits) > _STASH_LIMIT:
                commits.clear()
            commits[id(action)] = (action, info, view, grant)
        if notes:
            state: dict[str, Any] = {}
            if sid is not None:
                state["session"] = sid
            if info is not None:
                state["depth"] = info.record.depth
                if info.record.parent_id is not None:
                    state["parent_session"] = info.record.parent_id
            state.update(notes)
            decision.extra["state"] = state
        return decision

    def _commit(self, engine: Any, decision: Decision, action: Action, now: float, info: SessionInfo | None, view: StateView | None,
                settings: StateSettings, grant: Any) -> None:
        sid = info.id if info is not None else None
        if decision.decision == Effect.TERMINATE and sid is not None:
            by = {"decision_id": decision.decision_id, "rules": [f"{r.policy}/{r.rule}" for r in decision.rules], "policies": list(decision.policy_ids)}
            self.backend.terminate(sid, redacted(engine, decision.reason, 2000), now, by, template=info.record if info else None)
            return
        if decision.decision > Effect.REDACT:
            return
        scopes = []
        if info is not None:
            if sid is not None:
                scopes.append("session:" + sid)
            scopes.extend("session:" + a for a in info.record.ancestors)
        scopes.append(scope_key("agent", action))
        scopes.append(scope_key("team", action))
        self.backend.add_usage(scopes, action_usage(action))
        if settings.trackers and sid is not None:
            ctx = view.ctx if view is not None else EvalContext(now, action, getattr(engine, "_secrets_summary", None))
            history.record(self, engine, settings, action, sid, ctx, now)
        if grant is not None:
            self.backend.put_grant(grant)
            if grant.child_session is not None and info is not None:
                parent = info.record
                ancestors = (*parent.ancestors, parent.id) if info.stored else parent.ancestors
                self.backend.create_session(
                    SessionRecord(grant.child_session, parent_id=grant.parent_session, ancestors=ancestors, depth=grant.depth,
                                  agent={"id": grant.agent_id}, started_at=now, granted=grant.capabilities)
                )

    # ------------------------------------------------------------------ nested evaluation

    def evaluate(self, engine: Any, action: Action, now: float, *, mode: str) -> Decision:
        return self.explain(engine, action, now, mode=mode).decision

    def explain(self, engine: Any, action: Action, now: float, *, mode: str = "step") -> Any:
        """engine.explain for an action the stage itself asks about: no side effects."""
        loc = self._local
        if loc.depth >= MAX_NESTING:
            from bastion.engine import Explanation

            d = engine.new_decision(action, now, Effect.DENY, "evaluation nested too deeply (sub-agents, spawns or plans); failing closed")
            return Explanation(d, [], engine.policies)
        saved = loc.mode
        loc.depth += 1
        loc.mode = mode
        try:
            return engine.explain(action, now=now)
        finally:
            loc.depth -= 1
            loc.mode = saved

    def probing(self) -> bool:
        """Inside a capability probe of agent.spawn: "may this agent do X at all"."""
        return self._local.mode == "probe"

    def simulation(self) -> dict[str, int] | None:
        return self._local.sim_hits

    def in_plan(self) -> bool:
        return self._local.sim_marks is not None

    @contextmanager
    def plan_simulation(self) -> Iterator[None]:
        loc = self._local
        saved = (loc.sim_hits, loc.sim_marks)
        loc.sim_hits, loc.sim_marks = {}, {}
        try:
            yield
        finally:
            loc.sim_hits, loc.sim_marks = saved

    def simulated_marks(self) -> dict[str, list[Mark]] | None:
        return self._local.sim_marks

    def simulate_marks(self, engine: Any, settings: StateSettings, step: Action, now: float) -> None:
        marks = self._local.sim_marks
        if marks is None or not settings.trackers:
            return
        found = history.matching_trackers(engine, settings, step, EvalContext(now, step, getattr(engine, "_secrets_summary", None)))
        for tid, detail in found.items():
            marks.setdefault(tid, []).insert(0, Mark(now, f"{detail} (an earlier step of this plan)"))

    # ------------------------------------------------------------------ operators and integrations

    def record_usage(self, *, now: float, session: str | None = None, agent: str | None = None, team: str | None = None, **meters: Any) -> None:
        amounts = validate_usage(meters)
        scopes = []
        if session is not None:
            scopes.append("session:" + session)
            rec = self.backend.get_session(session)
            if rec is not None:
                scopes.extend("session:" + a for a in rec.ancestors)
        if agent is not None:
            scopes.append("agent:" + agent)
        if team is not None:
            scopes.append("team:" + team)
        if not scopes:
            raise ValueError("record_usage needs a session, an agent or a team")
        if amounts:
            self.backend.add_usage(scopes, amounts)

    def terminate_session(self, sid: str, reason: str, *, now: float, actor: str | None = None) -> SessionRecord:
        return self.backend.terminate(sid, reason, now, {"actor": actor} if actor else {}, template=SessionRecord(sid, started_at=now))

    def reopen_session(self, sid: str, *, now: float, actor: str | None = None) -> SessionRecord | None:
        """Make a terminated session active again; its denial and alert counts start afresh."""
        rec = self.backend.reopen(sid, now, actor)
        if rec is not None:
            self.backend.clear([escalation.event_key(k, sid) for k in escalation.KINDS])
        return rec
