"""decide(): analyse -> candidate rules -> conditions -> combine -> obligations -> Decision.

The hot path reads one immutable CompiledPolicySet (swapped atomically on reload or
rule changes), does no I/O, and never raises for a valid action: any internal error
becomes a `deny` whose reason names the error (fail closed). Recording (audit) and
hooks run after the decision is made.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from bastion.combine import combine
from bastion.compile.compiler import CompiledPolicySet, CompiledRule, build_redactor, compile_policies
from bastion.compile.context import EvalContext
from bastion.errors import PolicyError, Problem
from bastion.model import (
    DEFAULT_SEVERITY,
    Action,
    Decision,
    Effect,
    Overridden,
    RuleMatch,
    Severity,
    Subject,
    coerce_action,
    new_id,
)
from bastion.policy.document import Rule
from bastion.policy.loader import LoadedPolicy, RuleSource, load_policies, load_policy_texts
from bastion.risk import risk_score

log = logging.getLogger("bastion.engine")

#: capabilities the state stage always handles (plans are decided step by step; spawns
#: record what the child may do)
_STATE_CAPABILITIES = frozenset({"plan.submit", "agent.spawn"})

#: effects whose decisions carry more than the rule itself (approval details, redactions)
_SLOW_EFFECTS = frozenset({Effect.REQUIRE_APPROVAL, Effect.REDACT})


@dataclass(frozen=True)
class PolicyEvent:
    """Sent to subscribers when the active policies change, or a change fails."""

    kind: str  # loaded | reloaded | reload_failed | rule_added | rule_removed | rule_enabled | rule_disabled
    policies: tuple[str, ...]
    error: PolicyError | None = None
    detail: str | None = None


@dataclass
class SubjectTrace:
    subject: Subject
    effect: Effect | None  # None: a derived action that no rule matched (it adds nothing)
    default: bool


@dataclass
class Explanation:
    decision: Decision
    subjects: list[SubjectTrace]
    policies: CompiledPolicySet

    def to_dict(self) -> dict[str, Any]:
        """The trace as JSON; it quotes the action (targets, facts), so it is redacted."""
        data = self._raw_dict()
        redactor = self.policies.redactor
        return redactor.redact_value(data)[0] if redactor is not None else data

    def _raw_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.to_dict(),
            "policies": [
                {"id": p.id, "version": p.version, "layer": p.layer.label, "file": p.file, "combine": p.combine,
                 "defaults": p.defaults.label if p.defaults is not None else None, "rules": p.rule_count}
                for p in self.policies.policies
            ],
            "subjects": [
                {"capability": t.subject.capability, "target": t.subject.target, "origin": t.subject.origin,
                 "facts": dict(t.subject.facts), "effect": t.effect.label if t.effect is not None else None, "default": t.default}
                for t in self.subjects
            ],
        }


class _IdentityAnalyzer:
    """Used when no analysis stage is available: the action is its only subject."""

    def analyze(self, action: Action) -> tuple[Subject, ...]:
        return (Subject(action),)


def default_analyzer() -> Any:
    try:
        from bastion.analysis import Analyzer
    except ImportError:  # analysis is an optional stage of the pipeline
        return _IdentityAnalyzer()
    return Analyzer()


def _summary_fn(redactor: Any) -> Callable[[Action], dict[str, Any]]:
    return lambda action: redactor.summarise(action.to_dict())


class Engine:
    """Decides actions against compiled policies. Thread-safe.

    Build one with `Engine.from_paths([...])` (files, directories, `builtin:NAME`) or
    `Engine.from_texts({...})`; then `decide(action)`.
    """

    def __init__(
        self,
        policies: Sequence[LoadedPolicy],
        *,
        sources: Sequence[str] | None = None,
        analyzer: Any = None,
        redactor: Any = None,
        clock: Callable[[], float] = time.time,
        audit: Any = None,
        store: Any = None,
        stages: Sequence[Any] = (),
        check_examples: bool = True,
        state: Any = "memory",
    ) -> None:
        self._sources = list(sources) if sources is not None else None
        self._analyzer = analyzer if analyzer is not None else default_analyzer()
        self._redactor_given = redactor
        self._clock = clock
        self._check_examples = check_examples
        self._lock = threading.RLock()
        self._loaded: list[LoadedPolicy] = list(policies)
        self._runtime_rules: dict[str, list[Rule]] = {}
        self._removed: set[tuple[str, str]] = set()
        self._disabled: set[tuple[str, str]] = set()
        self._subscribers: list[Callable[[PolicyEvent], None]] = []
        self._violation_hooks: list[tuple[Effect, Callable[[Decision, Action], None]]] = []
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        if audit is None and store is not None:
            from bastion.store import AuditWriter

            audit = AuditWriter(store)
        self._audit = audit
        self._stages: list[Any] = []
        self._state_view: Callable[[EvalContext], Any] | None = None
        #: session state (bastion.state.StateStage: sessions, escalation, rate limits, budgets,
        #: sequence rules, sub-agents, plans); `state=` takes "memory" (default), a SQLite path,
        #: "redis://...", a backend or a stage; None turns it off (stateful policies then fail to load)
        self.state: Any = None
        if state is not None:
            from bastion.state import state_stage

            self.state = state_stage(state, self)
            self.add_stage(self.state)
        for stage in stages:
            self.add_stage(stage)
        self._compiled: CompiledPolicySet = self._build()

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path], **kwargs: Any) -> "Engine":
        sources = [str(p) for p in paths]
        if not sources:
            raise PolicyError([Problem("(policies)", None, None, None, "no policy given")])
        return cls(load_policies(sources), sources=sources, **kwargs)

    @classmethod
    def from_texts(cls, texts: Mapping[str, str], **kwargs: Any) -> "Engine":
        return cls(load_policy_texts(dict(texts)), **kwargs)

    # ------------------------------------------------------------------ compiling

    def _effective_policies(self) -> list[LoadedPolicy]:
        out: list[LoadedPolicy] = []
        for lp in self._loaded:
            extra = self._runtime_rules.get(lp.id, [])
            if not extra and not any(p == lp.id for p, _ in self._removed):
                out.append(lp)
                continue
            rules = [r for r in lp.rules if (lp.id, r.rule.id) not in self._removed]
            rules.extend(RuleSource(r, "<runtime>", {}, ("rules", i)) for i, r in enumerate(extra))
            out.append(LoadedPolicy(lp.doc, lp.file, lp.positions, rules, lp.defaults, lp.secrets, lp.parents))
        return out

    def _build(self, loaded: list[LoadedPolicy] | None = None) -> CompiledPolicySet:
        if loaded is not None:
            saved, self._loaded = self._loaded, loaded
            try:
                return self._build()
            finally:
                self._loaded = saved
        effective = self._effective_policies()
        compiled = compile_policies(effective, disabled=self._disabled)
        # the redactor follows the policies' `secrets:` sections, so it swaps with them
        compiled.redactor = self._redactor_given if self._redactor_given is not None else build_redactor(effective)
        compiled.state_inert = self.state is not None and self.state.inert_for(compiled)
        if compiled.needs_state and self.state is None:
            raise PolicyError([Problem("(policies)", None, None, None, "these policies use session state (rate_limit, budget, session.did, escalation, sub_agents or plans) but the engine has none (state=None)")])
        if self._check_examples:
            from bastion.examples import check_rule_examples

            problems = check_rule_examples(compiled, self._analyzer, _summary_fn(compiled.redactor))
            if problems:
                raise PolicyError(problems)
        return compiled

    @property
    def _redactor(self) -> Any:
        """The redactor of the active policies (or the one given to the constructor)."""
        if self._redactor_given is not None:
            return self._redactor_given
        compiled = getattr(self, "_compiled", None)
        return compiled.redactor if compiled is not None else None

    @property
    def policies(self) -> CompiledPolicySet:
        return self._compiled

    # ------------------------------------------------------------------ deciding

    def decide(self, action: Action | Mapping[str, Any]) -> Decision:
        """Decide one action. Raises ActionError for a malformed action dict; otherwise never raises."""
        if type(action) is not Action:
            action = coerce_action(action)
        compiled = self._compiled
        now = self._clock()
        try:
            if self._stages and not (
                compiled.state_inert  # the state stage is the only stage and can change nothing here
                and len(self._stages) == 1
                and action.capability not in _STATE_CAPABILITIES
                and not self.state.backend.terminations
            ):
                decision = self._decide_with_stages(compiled, action, now)
            else:
                decision = self._decide(compiled, action, now)
        except Exception as exc:  # fail closed: an internal error is a deny
            decision = self._failed(compiled, action, now, exc)
            # the exception text may quote the action: log only its redacted form
            log.error("internal error while deciding action %s; denied: %s", action.id, decision.error)
        if self._violation_hooks or self._audit is not None:
            self._after(decision, action)
        return decision

    def _decide_with_stages(self, compiled: CompiledPolicySet, action: Action, now: float) -> Decision:
        """Stages wrap evaluation: `before` may decide outright (a terminated session, a
        granted approval); `after` may only add to a decision or make it more restrictive
        (escalation, rate limits, approval requests)."""
        decision = None
        for stage in self._stages:
            before = getattr(stage, "before", None)
            if before is not None:
                decision = before(self, action, now)
                if decision is not None:
                    break
        if decision is None:
            decision = self._decide(compiled, action, now)
        for stage in self._stages:
            after = getattr(stage, "after", None)
            if after is not None:
                decision = after(self, decision, action, now) or decision
        if self.state is not None:  # session state records the final decision (usage, sequence marks, termination)
            self.state.record(self, decision, action, now)
        return decision

    def add_stage(self, stage: Any) -> None:
        """Add a stage with optional `before(engine, action, now) -> Decision | None` and
        `after(engine, decision, action, now) -> Decision | None` methods."""
        if not (hasattr(stage, "before") or hasattr(stage, "after")):
            raise TypeError("a stage needs a before() or an after() method")
        self._stages.append(stage)
        view = getattr(stage, "state_view", None)  # state_view(ctx) -> what stateful conditions read as ctx.state
        if view is not None and self._state_view is None:
            self._state_view = view

    def new_decision(self, action: Action, now: float, effect: Effect, reason: str, **fields: Any) -> Decision:
        """A decision made by a stage rather than by rules (e.g. a terminated session)."""
        severity = fields.pop("severity", DEFAULT_SEVERITY[effect])
        return Decision(
            decision_id=new_id("d"),
            action_id=action.id,
            decision=effect,
            reason=reason,
            policy_ids=fields.pop("policy_ids", []),
            rules=fields.pop("rules", []),
            severity=severity,
            risk_score=risk_score(severity, action),
            timestamp=now,
            **fields,
        )

    def decide_many(self, actions: Iterable[Action | Mapping[str, Any]]) -> list[Decision]:
        return [self.decide(a) for a in actions]

    def explain(self, action: Action | Mapping[str, Any], *, now: float | None = None) -> "Explanation":
        """Decide `action` and keep the trace: every subject analysed and how each was decided.

        Like decide() but does not record or run violation hooks: explaining is not acting.
        Stages with a `preview(engine, decision, action, now)` method show what they would
        do (a terminated session, a rate limit) without changing any state.
        """
        action = coerce_action(action)
        compiled = self._compiled
        now = self._clock() if now is None else now
        ctx = EvalContext(now, action, self._secrets_summary)
        try:
            if self._state_view is not None:
                ctx.state = self._state_view(ctx)
            subjects = self._analyzer.analyze(action)
            results = []
            trace = []
            for s in subjects:
                matched = self._match(compiled, s, ctx)
                if not matched and s.origin is not None:
                    trace.append(SubjectTrace(s, None, False))
                    continue
                comb = combine(matched, compiled.default_effect)
                results.append((s, comb))
                trace.append(SubjectTrace(s, comb.effect, comb.default))
            final = max(comb.effect for _, comb in results)
            decision = self._build_decision(compiled, action, now, final, results)
            for stage in self._stages:
                preview = getattr(stage, "preview", None)
                if preview is not None:
                    decision = preview(self, decision, action, now) or decision
        except Exception as exc:
            return Explanation(self._failed(compiled, action, now, exc), [], compiled)
        return Explanation(decision, trace, compiled)

    def _secrets_summary(self, action: Action) -> dict[str, Any]:
        return self._redactor.summarise(action.to_dict())

    def _match(self, compiled: CompiledPolicySet, s: Subject, ctx: EvalContext) -> list[CompiledRule]:
        out: list[CompiledRule] = []
        decided: set[int] | None = None
        now = ctx.now
        for r in compiled.candidates(s):
            if r.first_match and decided is not None and r.policy_index in decided:
                continue
            if r.expires is not None and now >= r.expires:
                continue
            for check in r.checks:
                if not check(s, ctx):
                    break
            else:
                if r.unless and any(all(chk(s, ctx) for chk in block) for block in r.unless):
                    continue
                if r.when is not None and not r.when(s, ctx):
                    continue
                out.append(r)
                if r.first_match:
                    if decided is None:
                        decided = set()
                    decided.add(r.policy_index)
        return out

    def _decide(self, compiled: CompiledPolicySet, action: Action, now: float) -> Decision:
        ctx = EvalContext(now, action, self._secrets_summary)
        if self._state_view is not None and not compiled.state_inert:
            ctx.state = self._state_view(ctx)
        subjects = ctx.subjects = self._analyzer.analyze(action)
        default = compiled.default_effect
        if len(subjects) == 1:
            s = subjects[0]
            matched = self._match(compiled, s, ctx)
            if len(matched) == 1 and s.origin is None:  # the common case, built directly
                r = matched[0]
                return Decision(
                    decision_id=new_id("d"),
                    action_id=action.id,
                    decision=r.effect,
                    reason=r.reason_text,
                    policy_ids=[r.policy],
                    rules=[r.ref],
                    severity=r.effective_severity,
                    risk_score=risk_score(r.effective_severity, action),
                    timestamp=now,
                    obligations=dict(r.obligations),
                ) if r.effect not in _SLOW_EFFECTS else self._build_decision(compiled, action, now, r.effect, ((s, combine(matched, default)),))
            comb = combine(matched, default)
            return self._build_decision(compiled, action, now, comb.effect, ((s, comb),))
        results = []
        final = Effect.ALLOW
        for s in subjects:
            matched = self._match(compiled, s, ctx)
            if not matched and s.origin is not None:
                continue  # a derived action no rule speaks about adds nothing
            comb = combine(matched, default)
            results.append((s, comb))
            if comb.effect > final:
                final = comb.effect
        return self._build_decision(compiled, action, now, final, results)

    def _build_decision(self, compiled: CompiledPolicySet, action: Action, now: float, final: Effect, results: Sequence[tuple[Subject, Any]]) -> Decision:
        rules: list[RuleMatch] = []
        matched: list[CompiledRule] = []
        overridden: list[Overridden] = []
        winners: list[tuple[CompiledRule, Subject]] = []
        default_hit: Subject | None = None
        for s, comb in results:
            for r in comb.counted:
                rules.append(r.match_for(s, compiled.redactor))
                matched.append(r)
            for r, why in comb.overridden:
                overridden.append(Overridden(r.match_for(s, compiled.redactor), why))
            if comb.effect == final:
                if comb.default:
                    if default_hit is None:
                        default_hit = s
                else:
                    winners.extend((r, s) for r in comb.winners)
        if winners:
            first, subject = winners[0]
            severity = first.effective_severity
            for r, _ in winners:
                if r.effective_severity > severity:
                    severity = r.effective_severity
            reason = first.reason or f"{final.label} by rule {first.key}"
            if subject.origin is not None:  # text taken from the action: never echo a secret
                reason = compiled.redactor.redact_text(f"{reason} [{subject.describe()}, from {subject.origin}]")[0]
        else:
            severity = DEFAULT_SEVERITY[final]
            where = f" for {default_hit.describe()}" if default_hit is not None and default_hit.origin else ""
            if compiled.default_policy:
                reason = f"no rule matched{where}; default {final.label} of policy {compiled.default_policy}"
            else:
                reason = f"no rule matched{where}; no policy declares a default, so deny"
        obligations: dict[str, Any] = {}
        redact = final == Effect.REDACT
        if matched:
            log_severity = Severity.LOW
            alerts: list[str] | None = None
            for r in matched:
                if r.effective_severity > log_severity:
                    log_severity = r.effective_severity
                if r.effect == Effect.ALERT:
                    alerts = alerts or []
                    alerts.append(r.key)
                elif r.effect == Effect.REDACT:
                    redact = True
            if alerts:
                obligations["alert"] = _unique(alerts)
            if redact:
                obligations["redact"] = True
            obligations["log_severity"] = log_severity.label
            policy_ids = _unique(r.policy for r in matched)
        else:
            policy_ids = [compiled.default_policy] if compiled.default_policy else []
        decision = Decision(
            decision_id=new_id("d"),
            action_id=action.id,
            decision=final,
            reason=reason,
            policy_ids=policy_ids,
            rules=rules,
            severity=severity,
            risk_score=risk_score(severity, action),
            timestamp=now,
            overridden=overridden,
            obligations=obligations,
            default=not winners,
        )
        if final == Effect.REQUIRE_APPROVAL:
            _approval(decision, [r for r, _ in winners])
        if redact and compiled.redactor is not None:
            redacted, redactions = compiled.redactor.redact_action(action.to_dict())
            decision.redactions = redactions
            decision.redacted_action = redacted
        return decision

    def _failed(self, compiled: CompiledPolicySet, action: Action, now: float, exc: BaseException) -> Decision:
        message = f"{type(exc).__name__}: {exc}"
        try:
            message, _ = compiled.redactor.redact_text(message)
        except Exception:  # the error text may hold input; never echo it unredacted
            message = type(exc).__name__
        return Decision(
            decision_id=new_id("d"),
            action_id=action.id,
            decision=Effect.DENY,
            reason=f"internal error while deciding; failing closed ({message})",
            policy_ids=[p.id for p in compiled.policies],
            rules=[],
            severity=Severity.HIGH,
            risk_score=risk_score(Severity.HIGH, action),
            timestamp=now,
            error=message,
        )

    def _after(self, decision: Decision, action: Action) -> None:
        for min_effect, hook in self._violation_hooks:
            if decision.decision >= min_effect:
                try:
                    hook(decision, action)
                except Exception:
                    log.exception("violation hook failed")
        if self._audit is not None:
            try:
                self._audit.record(decision, action)
            except Exception as exc:  # fail closed: an unrecorded decision may not allow
                log.error("audit record failed: %s", type(exc).__name__)
                if decision.decision < Effect.DENY:
                    decision.decision = Effect.DENY
                    decision.reason = f"audit log unavailable; failing closed ({type(exc).__name__}: {exc})"
                    decision.error = str(exc)

    @property
    def analyzer(self) -> Any:
        """The analysis stage (action -> subjects), for stages that look at derived actions."""
        return self._analyzer

    def record_usage(self, **usage: Any) -> None:
        """Add usage (tokens, cost_usd, llm_calls, tool_calls, actions) to a session, agent
        and team, for budgets: `record_usage(session="s-1", agent="a", cost_usd=0.12)`."""
        if self.state is None:
            raise RuntimeError("this engine has no session state (state=None)")
        now = usage.pop("now", None)
        self.state.record_usage(now=self._clock() if now is None else now, **usage)

    # ------------------------------------------------------------------ approvals

    def wait_for_approval(self, approval_id: str, timeout: float | None = None) -> Any:
        """Block until approval request `approval_id` is decided or `timeout` seconds pass;
        return the request (`.status`). Needs an approval stage (docs/approvals.md)."""
        from bastion.approvals.waiting import wait_for_approval

        return wait_for_approval(self, approval_id, timeout)

    async def wait_for_approval_async(self, approval_id: str, timeout: float | None = None) -> Any:
        """`wait_for_approval` for asyncio code."""
        from bastion.approvals.waiting import wait_for_approval_async

        return await wait_for_approval_async(self, approval_id, timeout)

    # ------------------------------------------------------------------ redaction

    def redact(self, value: Any) -> Any:
        """Redact secrets from a tool result (or any JSON-like value) before a model sees it."""
        redacted, _ = self._redactor.redact_value(value)
        return redacted

    # ------------------------------------------------------------------ hooks

    def subscribe(self, callback: Callable[[PolicyEvent], None]) -> Callable[[], None]:
        """Call `callback` on every policy change; returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def on_violation(self, callback: Callable[[Decision, Action], None], min_effect: Effect | str = Effect.DENY) -> None:
        """Run `callback(decision, action)` for every decision at least as restrictive as `min_effect`."""
        self._violation_hooks.append((Effect.parse(min_effect), callback))

    def _notify(self, event: PolicyEvent) -> None:
        for cb in list(self._subscribers):
            try:
                cb(event)
            except Exception:
                log.exception("policy subscriber failed")

    # ------------------------------------------------------------------ run-time changes

    def _swap(self, kind: str, detail: str | None = None) -> None:
        compiled = self._build()
        self._compiled = compiled
        self._notify(PolicyEvent(kind, tuple(p.id for p in compiled.policies), detail=detail))

    def _policy(self, policy_id: str) -> LoadedPolicy:
        for lp in self._loaded:
            if lp.id == policy_id:
                return lp
        raise KeyError(f"no loaded policy {policy_id!r}")

    def add_rule(self, policy_id: str, rule: Mapping[str, Any] | Rule) -> None:
        """Add a rule to a loaded policy at run time (validated and compiled like a file rule)."""
        from pydantic import ValidationError

        lp = self._policy(policy_id)
        try:
            parsed = rule if isinstance(rule, Rule) else Rule.model_validate(dict(rule))
        except ValidationError as exc:
            from bastion.policy.loader import _pydantic_problems

            raise PolicyError(_pydantic_problems(exc, "<runtime>", {})) from None
        existing = {r.rule.id for r in lp.rules if (lp.id, r.rule.id) not in self._removed}
        existing |= {r.id for r in self._runtime_rules.get(policy_id, [])}
        if parsed.id in existing:
            raise PolicyError([Problem("<runtime>", None, None, "id", f"policy {policy_id!r} already has a rule {parsed.id!r}")])
        with self._lock:
            self._runtime_rules.setdefault(policy_id, []).append(parsed)
            try:
                self._swap("rule_added", f"{policy_id}/{parsed.id}")
            except PolicyError:
                self._runtime_rules[policy_id].remove(parsed)
                raise

    def remove_rule(self, policy_id: str, rule_id: str) -> None:
        with self._lock:
            extra = self._runtime_rules.get(policy_id, [])
            for r in extra:
                if r.id == rule_id:
                    extra.remove(r)
                    break
            else:
                lp = self._policy(policy_id)
                if not any(r.rule.id == rule_id for r in lp.rules):
                    raise KeyError(f"policy {policy_id!r} has no rule {rule_id!r}")
                self._removed.add((policy_id, rule_id))
            self._swap("rule_removed", f"{policy_id}/{rule_id}")

    def disable_rule(self, policy_id: str, rule_id: str) -> None:
        with self._lock:
            self._require_rule(policy_id, rule_id)
            self._disabled.add((policy_id, rule_id))
            self._swap("rule_disabled", f"{policy_id}/{rule_id}")

    def enable_rule(self, policy_id: str, rule_id: str) -> None:
        with self._lock:
            self._require_rule(policy_id, rule_id)
            self._disabled.discard((policy_id, rule_id))
            self._swap("rule_enabled", f"{policy_id}/{rule_id}")

    def _require_rule(self, policy_id: str, rule_id: str) -> None:
        lp = self._policy(policy_id)
        ids = {r.rule.id for r in lp.rules} | {r.id for r in self._runtime_rules.get(policy_id, [])}
        if rule_id not in ids:
            raise KeyError(f"policy {policy_id!r} has no rule {rule_id!r}")

    # ------------------------------------------------------------------ reload

    def reload(self) -> bool:
        """Re-read the policy sources. On failure keep the last good policies and notify."""
        if self._sources is None:
            return False
        with self._lock:
            try:
                loaded = load_policies(self._sources)
                compiled = self._build(loaded)
            except PolicyError as exc:
                log.error("policy reload failed; keeping the last good policies:\n%s", exc)
                self._notify(PolicyEvent("reload_failed", tuple(p.id for p in self._compiled.policies), error=exc))
                return False
            self._loaded = loaded
            self._compiled = compiled
        self._notify(PolicyEvent("reloaded", tuple(p.id for p in compiled.policies)))
        return True

    def watch(self, *, debounce_ms: int = 200) -> None:
        """Reload whenever a policy file changes (a background thread using watchfiles)."""
        if self._sources is None or self._watcher is not None:
            return
        paths = [s for s in self._sources if not s.startswith("builtin:")]
        if not paths:
            return
        import watchfiles

        def is_policy(change: Any, path: str) -> bool:
            return path.endswith((".yaml", ".yml"))

        ready = threading.Event()

        def run() -> None:
            ready.set()
            for _changes in watchfiles.watch(*paths, watch_filter=is_policy, debounce=debounce_ms, stop_event=self._stop, yield_on_timeout=False):
                self.reload()

        self._watcher = threading.Thread(target=run, name="bastion-policy-watch", daemon=True)
        self._watcher.start()
        ready.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        if self._audit is not None and hasattr(self._audit, "close"):
            self._audit.close()
        for stage in self._stages:
            if hasattr(stage, "close"):
                try:
                    stage.close()
                except Exception:
                    log.exception("stage close failed")

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _approval(decision: Decision, winners: list[CompiledRule]) -> None:
    roles: list[str] = []
    people: list[str] = []
    quorum = 1
    timeout: float | None = None
    on_timeout = Effect.ALLOW
    owner_may = True
    for r in winners:
        if r.approvers is not None:
            roles.extend(r.approvers.roles)
            people.extend(r.approvers.people)
            quorum = max(quorum, r.approvers.quorum)
            owner_may = owner_may and r.approvers.owner_may_approve
        timeout = r.timeout if timeout is None else min(timeout, r.timeout)
        on_timeout = max(on_timeout, r.on_timeout)
    decision.approver_roles = _unique(roles)
    decision.approval = {
        "timeout_seconds": timeout if timeout is not None else 4 * 3600.0,
        "on_timeout": (on_timeout if winners else Effect.DENY).label,
        "quorum": quorum,
    }
    if people:
        decision.approval["approvers"] = _unique(people)
    if not owner_may:
        decision.approval["owner_may_approve"] = False


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for x in items:
        seen.setdefault(x, None)
    return list(seen)
