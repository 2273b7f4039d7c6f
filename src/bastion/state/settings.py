"""Everything the state stage needs from one compiled policy set, gathered once.

Rebuilt whenever the engine's compiled set changes (reload, run-time rule changes):
which rules have rate limits, budgets and `session.did` conditions, the trackers to
test actions against, and the policy-level escalation, sub-agent and plan settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    escalations: list[tuple[str, Escalation]] = field(default_factory=list)
    #: the smallest max_depth any policy sets, and which policy sets it
    max_depth: int | None = None
    max_depth_policy: str | None = None
    plans: list[tuple[str, Plans]] = field(default_factory=list)
    #: capability names the policies mention exactly (to expand globs in agent.spawn)
    capabilities: frozenset[str] = frozenset()

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
    out.trackers = list(seen.values())
    out.tracker_ids = list(seen)
    out.capabilities = frozenset(caps)
    for lp in compiled.loaded:
        doc = lp.doc
        if doc.escalation is not None:
            out.escalations.append((lp.id, doc.escalation))
        if doc.sub_agents is not None and doc.sub_agents.max_depth is not None:
            if out.max_depth is None or doc.sub_agents.max_depth < out.max_depth:
                out.max_depth = doc.sub_agents.max_depth
                out.max_depth_policy = lp.id
        if doc.plans is not None:
            out.plans.append((lp.id, doc.plans))
    return out
