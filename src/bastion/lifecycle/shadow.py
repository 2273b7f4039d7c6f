"""Shadow mode: a candidate policy set decides live traffic beside the active one, silently.

    engine = policy_store.engine(shadow=True)   # or stages=[ShadowStage(candidate_texts, store, policy=...)]

For every action the live engine decides, the stage decides it again under the
candidate and, only where the two effects differ, records a `policy.shadow_diff` audit
event (the action redacted, both decisions, the rules behind each). It never changes
the live decision. Recording happens on a background thread with a bounded queue: the
live decision never waits for the store, and if the queue overflows the loss is counted
and written as a `policy.shadow_dropped` event (shadow mode observes; it must not slow
or block enforcement).

The live effect compared is the one the rules gave: an approval that turned
require_approval into allow is compared as require_approval. Put this stage before
stages that change decisions for other reasons (rate limits) to compare rules with rules.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from bastion.canonical import action_digest
from bastion.model import Action, Decision, Effect

log = logging.getLogger("bastion.lifecycle.shadow")


def _deciding_rules(decision: Decision, effect: Effect) -> list[str]:
    found = [f"{m.policy}/{m.rule}" for m in decision.rules if m.effect == effect]
    return found or ["(default)"]


def live_effect(decision: Decision) -> Effect:
    original = decision.extra.get("approval_original")
    return Effect.parse(original) if original else decision.decision


class ShadowStage:
    """Decides each action again under a candidate engine; records only the differences."""

    def __init__(self, candidate: dict[str, str], store: Any, *, policy: str, version: int | None = None,
                 queue_size: int = 10_000, **engine_kwargs: Any) -> None:
        """`candidate`: the candidate policy set as texts ({key: YAML}, see policyset.py)."""
        from bastion.lifecycle.policyset import build_engine

        self._now = threading.local()
        # the candidate decides at the live decision's instant, not at its own clock's
        self.candidate = build_engine(candidate, clock=self._clock, **engine_kwargs)
        self.store = store
        self.policy = policy
        self.version = version
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue(queue_size)
        self.dropped = 0
        self.recorded = 0
        self.differences = 0
        self._thread = threading.Thread(target=self._run, name="bastion-shadow", daemon=True)
        self._thread.start()

    def _clock(self) -> float:
        import time

        value = getattr(self._now, "value", None)
        return time.time() if value is None else value

    def after(self, engine: Any, decision: Decision, action: Action, now: float) -> None:
        self._now.value = now
        try:
            shadow = self.candidate.decide(action)
        finally:
            self._now.value = None
        live = live_effect(decision)
        if shadow.decision == live:
            return None
        self.differences += 1
        redacted = decision.redacted_action
        if redacted is None:
            redacted = action.to_dict()  # redacted by the store's redactor when recorded
        payload = {
            "policy": self.policy,
            "version": self.version,
            "agent": action.agent.id,
            "session": action.session.id,
            "capability": action.capability,
            "digest": action_digest(action),
            "action": redacted,
            "decision_id": decision.decision_id,
            "at": decision.timestamp_iso,
            "live": {"decision": live.label, "rules": _deciding_rules(decision, live), "reason": decision.reason},
            "shadow": {"decision": shadow.decision.label, "rules": _deciding_rules(shadow, shadow.decision), "reason": shadow.reason},
        }
        try:
            self._q.put_nowait(payload)
        except queue.Full:
            self.dropped += 1
        return None

    def _run(self) -> None:
        reported = 0
        while True:
            item = self._q.get()
            if item is None:
                return
            try:
                self.store.append_event("policy.shadow_diff", item)
                self.recorded += 1
                if self.dropped > reported:
                    self.store.append_event("policy.shadow_dropped", {"policy": self.policy, "version": self.version, "count": self.dropped - reported})
                    reported = self.dropped
            except Exception:  # noqa: BLE001 - observing must never break enforcement
                log.exception("shadow mode could not record a difference")
                self.dropped += 1
            finally:
                self._q.task_done()

    def flush(self) -> None:
        """Wait until every difference seen so far is recorded."""
        self._q.join()

    def close(self) -> None:
        self.flush()
        self._q.put(None)
        self._thread.join(5.0)
        self.candidate.close()


def summarise(store: Any, *, policy: str | None = None, examples: int = 5, **filters: Any) -> Any:
    """The recorded shadow differences as a report grouped by rule (like replay's)."""
    from bastion.lifecycle.replay import ReplayItem, ReplayReport

    report = ReplayReport(against="the live decisions (shadow mode)")
    for rec in store.query(kinds=("policy.shadow_diff",), policy=policy, **filters):
        p = rec.record.get("payload") or {}
        live, shadow = p.get("live") or {}, p.get("shadow") or {}
        before, after = str(live.get("decision")), str(shadow.get("decision"))
        report.total += 1
        report.first_ts = report.first_ts or rec.ts
        report.last_ts = rec.ts
        before_rules, after_rules = list(live.get("rules") or []), list(shadow.get("rules") or [])
        key = f"{p.get('policy')} v{p.get('version')}: {', '.join(before_rules)} → {', '.join(after_rules)}"
        group = report.count_change(before, after, key)
        if len(group.examples) < examples:
            a = p.get("action") or {}
            what = f"{a.get('capability')} {a.get('target')}" if a.get("target") is not None else str(a.get("capability"))
            group.examples.append(ReplayItem(rec.seq, str(p.get("at") or rec.ts), p.get("agent"), what[:160], before, after, before_rules, after_rules))
    return report
