"""Replay: re-decide recorded actions under a candidate policy set and report what would change.

    report = replay(store, candidate_texts, baseline=active_texts, since="2026-11-14T00:00:00Z")
    print(report.text())

Each decision record in the window is decided again under the baseline with the
candidate's policies in place (same clock reading as the recorded decision, so time
windows replay faithfully). Every action whose effect would differ is reported, grouped
by rule: which rule decided before and which decides now. That is the evidence a
reviewer needs before approving a change.

Compared against (`against`):
* `recorded` (default): what was actually decided then (for an action an approval let
  through, the require_approval the rules gave);
* `current`: a fresh decision under the baseline policies, so that only the
  candidate's own effect shows, not drift since the actions were recorded.

Recorded actions are stored redacted: a rule that looks for a secret's value cannot
match a marker, and such differences are the redaction's, not the candidate's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from bastion.lifecycle.policyset import Texts, build_engine, replace
from bastion.model import Action, Effect


@dataclass
class ReplayItem:
    seq: int
    at: str
    agent: str | None
    action: str
    before: str
    after: str
    before_rules: list[str]
    after_rules: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ReplayGroup:
    key: str
    count: int = 0
    transitions: Counter = field(default_factory=Counter)
    examples: list[ReplayItem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rules": self.key, "count": self.count, "transitions": dict(self.transitions),
                "examples": [e.to_dict() for e in self.examples]}


@dataclass
class ReplayReport:
    against: str
    total: int = 0
    changed: int = 0
    skipped: int = 0
    first_ts: str | None = None
    last_ts: str | None = None
    transitions: Counter = field(default_factory=Counter)
    groups: dict[str, ReplayGroup] = field(default_factory=dict)
    tighter: int = 0
    looser: int = 0

    def count_change(self, before: str, after: str, group_key: str) -> ReplayGroup:
        """Count one decision that changes from `before` to `after` (an effect that does not
        parse counts as tighter) in the totals and in its rule group, which it returns."""
        self.changed += 1
        move = f"{before} → {after}"
        self.transitions[move] += 1
        try:
            tighter = Effect.parse(after) > Effect.parse(before)
        except ValueError:
            tighter = True
        if tighter:
            self.tighter += 1
        else:
            self.looser += 1
        group = self.groups.setdefault(group_key, ReplayGroup(group_key))
        group.count += 1
        group.transitions[move] += 1
        return group

    def to_dict(self) -> dict[str, Any]:
        return {
            "against": self.against,
            "replayed": self.total,
            "changed": self.changed,
            "tighter": self.tighter,
            "looser": self.looser,
            "skipped": self.skipped,
            "window": {"first": self.first_ts, "last": self.last_ts},
            "transitions": dict(self.transitions),
            "groups": [g.to_dict() for g in sorted(self.groups.values(), key=lambda g: (-g.count, g.key))],
        }

    def text(self) -> str:
        window = f" ({self.first_ts} .. {self.last_ts})" if self.first_ts else ""
        lines = [f"replayed {self.total} recorded decision(s){window} against {self.against}: {self.changed} would change"
                 + (f" ({self.tighter} tighter, {self.looser} looser)" if self.changed else "")]
        if self.skipped:
            lines.append(f"  {self.skipped} record(s) could not be replayed (not a valid action)")
        if self.transitions:
            lines.append("  " + "   ".join(f"{k}: {v}" for k, v in sorted(self.transitions.items(), key=lambda kv: -kv[1])))
        for g in sorted(self.groups.values(), key=lambda g: (-g.count, g.key)):
            moves = ", ".join(f"{k} {v}" for k, v in g.transitions.items())
            lines.append(f"  [{g.count}] {g.key}   ({moves})")
            for e in g.examples:
                lines.append(f"      #{e.seq} {e.at} {e.agent or '-'}  {e.action}")
            if g.count > len(g.examples):
                lines.append(f"      ... and {g.count - len(g.examples)} more")
        return "\n".join(lines)


def _deciding(decision: Mapping[str, Any], effect: str) -> list[str]:
    found = [f"{r.get('policy')}/{r.get('rule')}" for r in decision.get("rules") or () if isinstance(r, Mapping) and r.get("effect") == effect]
    return sorted(set(found)) or ["(default)"]


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def _summary(action: Action) -> str:
    text = f"{action.capability} {action.target}" if action.target is not None else action.capability
    return text if len(text) <= 160 else text[:157] + "..."


def replay(
    store: Any,
    candidate: Texts,
    *,
    baseline: Texts,
    against: str = "recorded",
    examples: int = 5,
    **filters: Any,
) -> ReplayReport:
    """Re-decide the decision records selected by `filters` (AuditFilter fields: since,
    until, agent, capability, ...) under `baseline` with `candidate` in place."""
    if against not in ("recorded", "current"):
        raise ValueError("against must be 'recorded' or 'current'")
    clock = _Clock()
    new_engine = build_engine(replace(baseline, candidate), clock=clock)
    old_engine = build_engine(baseline, clock=clock) if against == "current" else None
    report = ReplayReport(against="the recorded decisions" if against == "recorded" else "the current policies")
    try:
        for rec in store.query(kinds=("decision",), **filters):
            body = rec.record
            recorded = body.get("decision") if isinstance(body.get("decision"), Mapping) else None
            raw = body.get("action")
            if recorded is None or not isinstance(raw, Mapping) or not isinstance(recorded.get("timestamp"), str):
                report.skipped += 1
                continue
            try:
                action = Action.from_dict({**raw, "id": str(recorded.get("action_id") or f"replay-{rec.seq}")})
                clock.now = _epoch(recorded["timestamp"])
            except (ValueError, TypeError):
                report.skipped += 1
                continue
            report.total += 1
            report.first_ts = report.first_ts or recorded["timestamp"]
            report.last_ts = recorded["timestamp"]
            if old_engine is not None:
                old = old_engine.decide(action).to_dict()
                before = old["decision"]
            else:
                old = recorded
                before = str(recorded.get("approval_original") or recorded.get("decision"))
            new = new_engine.decide(action).to_dict()
            after = new["decision"]
            if after == before:
                continue
            before_rules, after_rules = _deciding(old, before), _deciding(new, after)
            group = report.count_change(before, after, f"{', '.join(before_rules)} → {', '.join(after_rules)}")
            if len(group.examples) < examples:
                agent = action.agent.id
                group.examples.append(ReplayItem(rec.seq, recorded["timestamp"], agent, _summary(action), before, after, before_rules, after_rules))
    finally:
        new_engine.close()
        if old_engine is not None:
            old_engine.close()
    return report


class _Clock:
    """The replay's clock: each recorded decision is re-decided at its own instant."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
