"""Everything the state stage needs from one compiled policy set, gathered once.

Rebuilt whenever the engine's compiled set changes (reload, run-time rule changes):
which rules have rate limits, budgets and `session.did` conditions, the trackers to
test actions against, and the policy-level escalation, sub-agent and plan settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from bastion.model import Decision, Effect, RuleMatch
from bastion.policy.document import Escalation, Plans
from bastion.state.conditions import RuleState, Tracker


@dataclass(eq=False)
class StateSettings:
    compiled: Any
    #: (policy, rule id) -> RuleState, for stateful rules only
    rules: dict[tuple[str, str], RuleState] = field(default_factory=dict)
    #: (policy, rule id) -> the compiled rule (approvers, timeouts for on_exceed)
    compiled_rules: dict[tuple[str, str], Any] = field(default_factory=dict)
    trackers: list[Tracker] = field(default_factory=list)
    tracker_ids: list[str] = field(default_factory=list)
    #: every tracker's blocks compiled as rules (metadata["tracker"] = tracker id): the
    #: engine's capability index and combined RE2 target sets find the trackers an action matches
    tracker_index: Any = None
    escalations: list[tuple[str, Escalation]] = field(default_factory=list)
    #: the smallest max_depth any policy sets, and which policy sets it
    max_depth: int | None = None
    max_depth_policy: str | None = None
    plans: list[tuple[str, Plans]] = field(default_factory=list)
    #: capability names the policies mention exactly (to expand globs in agent.spawn)
    capabilities: frozenset[str] = frozenset()
    #: some rule reads state while matching (session.did, budget): conditions need ctx.state
    needs_view: bool = False
    #: some rule has a budget: usage is metered for every action that goes ahead
    meter: bool = False
    #: the meters and scopes budgets use (only those are metered)
    meters: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    #: (policy, rule id) of the rules with a rate limit
    rate_limited: frozenset[tuple[str, str]] = frozenset()
    #: `active`, computed once
    is_active: bool = False
    #: per escalation: (kind, [(effect, count)] in rising effect order)
    thresholds: list[dict[str, list[tuple[Effect, int]]]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Some rule or policy setting needs more than session termination."""
        return bool(self.rules or self.escalations or self.plans or self.max_depth is not None)

    def matched(self, decision: Decision) -> Iterator[tuple[RuleMatch, RuleState]]:
        """The stateful rules a decision matched, each once (a rule may match several derived actions)."""
        seen: set[tuple[str, str]] = set()
        for m in decision.rules:
            key = (m.policy, m.rule)
            if key in seen:
                continue
            seen.add(key)
            rs = self.rules.get(key)
            if rs is not None:
                yield m, rs

    @property
    def event_windows(self) -> list[float]:
        return [e.window for _, e in self.escalations]

    @property
    def retention(self) -> float:
        """How long denial/alert events are kept: the longest window, at least an hour."""
        return max([3600.0, *self.event_windows])


def build_settings(compiled: Any) -> StateSettings:
    out = StateSettings(compiled)
    seen: dict[str, Tracker] = {}
    caps: set[str] = set()
    meters: set[str] = set()
    scopes: set[str] = set()
    limited: set[tuple[str, str]] = set()
    for r in compiled.rules:
        if r.capability_exact:
            caps.update(r.capability_exact)
        if r.state is None:
            continue
        key = (r.policy, r.rule_id)
        out.rules[key] = r.state
        out.compiled_rules[key] = r
        for q in (*r.state.did, *r.state.unless_did):
            seen.setdefault(q.tracker.id, q.tracker)
        if r.state.did or r.state.unless_did or r.state.budget is not None:
            out.needs_view = True
        if r.state.budget is not None:
            out.meter = True
            meters.update(r.state.budget.limits)
            scopes.add(r.state.budget.per)
        if r.state.rate_limit is not None:
            limited.add(key)
    meters.discard("time")  # the session's age is not metered
    out.meters, out.scopes, out.rate_limited = frozenset(meters), frozenset(scopes), frozenset(limited)
    out.trackers = list(seen.values())
    out.tracker_ids = list(seen)
    if out.trackers:
        out.tracker_index = _tracker_index(out.trackers)
    out.capabilities = frozenset(caps)
    for lp in compiled.loaded:
        doc = lp.doc
        if doc.escalation is not None:
            out.escalations.append((lp.id, doc.escalation))
            out.thresholds.append(
                {kind: sorted(((Effect.parse(k), n) for k, n in getattr(doc.escalation, kind).items()), key=lambda t: t[0]) for kind in ("denials", "alerts")}
            )
        if doc.sub_agents is not None and doc.sub_agents.max_depth is not None:
            if out.max_depth is None or doc.sub_agents.max_depth < out.max_depth:
                out.max_depth = doc.sub_agents.max_depth
                out.max_depth_policy = lp.id
        if doc.plans is not None:
            out.plans.append((lp.id, doc.plans))
    out.is_active = out.active
    return out


def _tracker_index(trackers: list[Tracker]) -> Any:
    from bastion.compile.compiler import compile_policies
    from bastion.policy.document import Policy, Rule
    from bastion.policy.loader import LoadedPolicy, RuleSource

    rules = []
    for t in trackers:
        for block in t.spec if isinstance(t.spec, list) else [t.spec]:
            rules.append(Rule(id=f"t{len(rules)}", match=block, effect=Effect.ALLOW, metadata={"tracker": t.id}))
    doc = Policy(policy="session.did", rules=rules)
    sources = [RuleSource(r, "<session.did>", {}, ("rules", i)) for i, r in enumerate(rules)]
    return compile_policies([LoadedPolicy(doc, "<session.did>", {}, sources)])
