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
from bastion.state.usage import metered_usage, validate_usage
from bastion.state.view import _UNRESOLVED, StateAccess, StateView

#: nested evaluations (sub-agent chains, spawn probes, plan steps) deeper than this are denied
MAX_NESTING = 64
#: capabilities the stage itself checks (structure of spawns and plans)
_SPECIAL = frozenset({"agent.spawn", "plan.submit"})
_STASH_LIMIT = 256


class _Local(threading.local):
    def __init__(self) -> None:
        #: (action, session info, the decision `before` returned) between before and after
        self.pending: tuple[Action, SessionInfo | None, Decision | None] | None = None
        #: the EvalContext of the evaluation in progress (state_view -> after/preview)
        self.ctx: EvalContext | None = None
        #: id(action) -> (action, info, ctx, grant, usage): what `record` writes once the decision is final
        self.commits: dict[int, tuple[Any, ...]] = {}
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
        self._batches = type(backend).batch is not StateBackend.batch
        self._settings: StateSettings | None = None
        self._local = _Local()
        self._access = StateAccess(self)

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

    def inert_for(self, compiled: Any) -> bool:
        """True when this stage cannot change any decision of `compiled`: no rule or policy
        setting uses state, no rule can terminate a session, and the backend is this
        process's memory (a shared backend may hold a session another process ended).
        The engine then skips the stage for actions other than plans and spawns, as long as
        no session of the backend has been terminated."""
        from bastion.model import Effect
        from bastion.state.memory import MemoryState

        return (
            isinstance(self.backend, MemoryState)
            and not compiled.needs_state
            and not any(r.effect == Effect.TERMINATE for r in compiled.rules)
        )

    def before(self, engine: Any, action: Action, now: float) -> Decision | None:
        if action.session.id is None and action.agent.id is None:
            self._local.pending = None
            return None
        if self._batches:
            with self.backend.batch():
                info = resolve(self.backend, action, now, create=True)
        else:
            info = resolve(self.backend, action, now, create=True)
        decision = self._terminated(engine, action, now, info) if info is not None and info.terminated is not None else None
        self._local.pending = (action, info, decision)
        return decision

    def state_view(self, ctx: EvalContext) -> "StateAccess | None":
        """ctx.state: a shared accessor; the decision's StateView is made on first use."""
        if not self.settings().needs_view:
            return None  # no rule reads state while matching
        self._local.ctx = ctx
        return self._access

    def pending_info(self, action: Action) -> Any:
        p = self._local.pending
        return p[1] if p is not None and p[0] is action else _UNRESOLVED

    def _take_ctx(self, action: Action) -> tuple[EvalContext | None, StateView | None]:
        loc = self._local
        ctx = loc.ctx
        if ctx is None:
            return None, None
        loc.ctx = None
        if ctx.action is not action:
            return None, None
        view = ctx.state if type(ctx.state) is StateView else None
        return ctx, view

    def after(self, engine: Any, decision: Decision, action: Action, now: float) -> Decision:
        loc = self._local
        p = loc.pending
        loc.pending = None
        if p is not None and p[0] is not action:
            p = None
        if p is not None and p[2] is not None and decision is p[2]:
            return decision  # our own "session terminated": nothing else applies
        ctx, view = self._take_ctx(action)
        settings = self.settings(engine)
        if not settings.is_active and action.capability not in _SPECIAL and (p is None or p[1] is None or p[1].record.parent_id is None):
            # nothing stateful applies beyond termination: the fast path of stateless policies
            if p is not None and p[1] is not None and (decision.decision == Effect.TERMINATE or action.resource.classification):
                self._prepare_commit(engine, decision, action, p[1], p[1].id, ctx, None, settings)
            return decision
        if p is not None:
            info = p[1]
        elif view is not None:
            info = view.info
        elif action.session.id is None and action.agent.id is None:
            info = None
        else:
            info = resolve(self.backend, action, now, create=True)
        if not self._batches:
            if self._plain(decision, action, info, view, settings):
                self._prepare_commit(engine, decision, action, info, info.id if info is not None else None, ctx, None, settings)
                return decision
            return self._apply(engine, decision, action, now, info, ctx, view, commit=True, settings=settings)
        with self.backend.batch():  # one transaction for all of it where the backend has them
            return self._apply(engine, decision, action, now, info, ctx, view, commit=True, settings=settings)

    @staticmethod
    def _plain(decision: Decision, action: Action, info: SessionInfo | None, view: StateView | None, settings: StateSettings) -> bool:
        """No control applies to this decision beyond recording (the common case)."""
        if info is not None and info.record.parent_id is not None:
            return False
        if action.capability in _SPECIAL or (view is not None and (view.evidence or view.budget_hits)):
            return False
        eff = decision.decision
        if eff >= Effect.DENY or eff == Effect.ALERT:
            return not settings.escalations or info is None or not info.stored
        limited = settings.rate_limited
        if limited:
            for m in decision.rules:
                if (m.policy, m.rule) in limited:
                    return False
        return True

    def _stash(self, action: Action, item: tuple[Any, ...]) -> None:
        commits = self._local.commits
        if len(commits) > _STASH_LIMIT:
            commits.clear()  # leftovers of evaluations that raised
        commits[id(action)] = item

    def record(self, engine: Any, decision: Decision, action: Action, now: float) -> None:
        """After every stage: write what the final decision implies (termination; for an
        action that goes ahead, usage, sequence marks and spawn grants)."""
        commits = self._local.commits
        if not commits:
            return
        c = commits.pop(id(action), None)
        if c is None or c[0] is not action:
            return
        if not self._batches:
            self._commit(engine, decision, now, c)
            return
        with self.backend.batch():
            self._commit(engine, decision, now, c)

    def preview(self, engine: Any, decision: Decision, action: Action, now: float) -> Decision:
        ctx, view = self._take_ctx(action)
        info = view.info if view is not None else self.peek(action, now)
        if info is not None and info.terminated is not None:
            out = self._terminated(engine, action, now, info)
            out.extra["state"]["rules_would_say"] = {"decision": decision.decision.label, "reason": decision.reason}
            return out
        return self._apply(engine, decision, action, now, info, ctx, view, commit=False)

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

    def _apply(self, engine: Any, decision: Decision, action: Action, now: float, info: SessionInfo | None, ctx: EvalContext | None,
               view: StateView | None, *, commit: bool, settings: StateSettings | None = None) -> Decision:
        loc = self._local
        if settings is None:
            settings = self.settings(engine)
        notes: dict[str, Any] = {}
        sid = info.id if info is not None else None
        if info is not None and info.record.parent_id is not None:
            subagents.inherit(self, engine, decision, action, now, info, notes)
        grant = None
        cap = action.capability
        if cap in _SPECIAL and loc.mode != "probe":
            if cap == "agent.spawn":
                grant = subagents.check_spawn(self, engine, decision, action, now, info, settings, notes)
            else:
                plans.check_plan(self, engine, decision, action, now, settings)
        if view is not None and (view.evidence or view.budget_hits):
            history.explain(decision, view, settings, notes)
        counted = decision.decision
        limited = settings.rate_limited
        if limited and counted < Effect.DENY:
            for m in decision.rules:
                if (m.policy, m.rule) in limited:
                    ratelimit.apply(self, engine, decision, action, now, settings, notes, commit=commit)
                    break
        if (counted >= Effect.DENY or counted == Effect.ALERT) and sid is not None and settings.escalations and not loc.depth:
            escalation.apply(self, decision, action, now, sid, counted, settings, notes, commit=commit)
        if commit:
            self._prepare_commit(engine, decision, action, info, sid, ctx, grant, settings)
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

    def _prepare_commit(self, engine: Any, decision: Decision, action: Action, info: SessionInfo | None, sid: str | None, ctx: EvalContext | None,
                        grant: Any, settings: StateSettings) -> None:
        """Work out now what `record` will write if the final decision lets the action go
        ahead (or terminates); stash it only when there is something to write."""
        final = decision.decision
        usage = metered_usage(action, settings.meters) if settings.meter else None
        marks = None
        if sid is not None and final <= Effect.REQUIRE_APPROVAL:
            if settings.trackers:
                if ctx is None:
                    ctx = EvalContext(decision.timestamp, action, getattr(engine, "_secrets_summary", None))
                marks = history.matching_trackers(engine, settings, action, ctx) or None
            classification = action.resource.classification
            if classification:  # the data classifications a session touched (bastion sessions show)
                marks = marks or {}
                marks[history.CLASSIFICATION + classification] = history.describe_action(engine, action)
        if grant is not None or usage or marks or final == Effect.TERMINATE:
            self._stash(action, (action, info, marks, grant, usage))

    def _commit(self, engine: Any, decision: Decision, now: float, c: tuple[Any, ...]) -> None:
        action, info, marks, grant, usage = c
        settings = self.settings(engine)
        sid = info.id if info is not None else None
        if decision.decision == Effect.TERMINATE and sid is not None:
            by = {"decision_id": decision.decision_id, "rules": [f"{r.policy}/{r.rule}" for r in decision.rules], "policies": list(decision.policy_ids)}
            self.backend.terminate(sid, redacted(engine, decision.reason, 2000), now, by, template=info.record if info else None)
            return
        if decision.decision > Effect.REDACT:
            return  # the action does not go ahead (now, or not yet: an approval may let it through later)
        if usage:
            scopes = []
            if info is not None and "session" in settings.scopes:
                if sid is not None:
                    scopes.append("session:" + sid)
                scopes.extend("session:" + a for a in info.record.ancestors)
            if "agent" in settings.scopes:
                scopes.append(scope_key("agent", action))
            if "team" in settings.scopes:
                scopes.append(scope_key("team", action))
            if scopes:
                self.backend.add_usage(scopes, usage)
        if marks and sid is not None:
            self.backend.add_marks(sid, marks, now)
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
