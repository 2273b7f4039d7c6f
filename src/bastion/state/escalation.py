"""Escalation: a session's denials and alerts, counted in sliding windows.

Policy-level:

    escalation:
      window: 10m
      denials: {alert: 3, terminate: 5}     # the 3rd denial within 10m raises an alert, the 5th terminates
      alerts: {require_approval: 20}         # optional

Counting starts once some policy declares escalation. Every decision of deny or
terminate is a denial, every decision of alert an alert
(as the rules, sub-agent and plan checks made it; a rate limit's own deny is not
counted, so throttling alone never terminates a session). Thresholds are checked each
time one is counted: when the count in the window, this one included, reaches a
threshold, its effect applies to this decision; `alert` adds an escalation alert to
the decision's obligations; `terminate` ends the session. Several policies may each
declare escalation: each applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.model import Action, Decision, Effect
from bastion.state.conditions import human_duration
from bastion.state.decisions import add_alert, tighten
from bastion.state.settings import StateSettings

if TYPE_CHECKING:  # pragma: no cover
    from bastion.state.stage import StateStage

KINDS = ("denials", "alerts")


def event_key(kind: str, sid: str) -> str:
    return f"esc:{kind}:{sid}"


def kind_of(effect: Effect) -> str | None:
    if effect >= Effect.DENY:
        return "denials"
    if effect == Effect.ALERT:
        return "alerts"
    return None


def apply(stage: "StateStage", decision: Decision, action: Action, now: float, sid: str, counted: Effect, settings: StateSettings, notes: dict[str, Any], *, commit: bool) -> None:
    kind = kind_of(counted)
    if kind is None:
        return
    key = event_key(kind, sid)
    windows = settings.event_windows
    if commit:
        counts = stage.backend.add_event(key, now, windows, settings.retention)
    else:  # explain: what this decision would make of the counts
        counts = [n + 1 for n in stage.backend.count_events(key, now, windows)] if windows else []
    out = []
    for (pid, esc), levels, n in zip(settings.escalations, settings.thresholds, counts):
        window = human_duration(esc.window)
        note: dict[str, Any] = {"policy": pid, "kind": kind, "count": n, "window": window, "thresholds": getattr(esc, kind)}
        reached = []
        for effect, threshold in levels[kind]:
            if n < threshold:
                continue
            label = effect.label
            reached.append(label)
            if effect == Effect.ALERT:
                add_alert(decision, f"escalation:{pid}:{kind}")
                continue
            tighten(
                decision,
                action,
                effect,
                f"{n} {kind} within {window} in session {sid} (escalation of {pid}: {label} at {threshold}); last: {decision.reason}",
            )
        if reached:
            note["reached"] = reached
        if reached or not commit:  # a decision reports escalation when it applies; explain always shows the counts
            out.append(note)
    if out:
        notes["escalation"] = out
