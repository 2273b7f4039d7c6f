"""Rate limits: `rate_limit: {max, per, key, on_exceed}` on any rule.

Algorithm: an exact sliding window (a log of admitted hits per key): an action is
admitted when fewer than `max` hits of the same key fall in (now - per, now]. Every
limit an action meets is checked and recorded in one atomic backend operation, all or
nothing, so concurrent processes sharing Redis admit exactly `max` per window. Only
actions that go ahead are counted (a decision below deny); an action over the limit
is not counted. `retry_after` is when the oldest hit leaves the window.

The `limits` library implements the same moving window, but reads the wall clock
itself; Bastion's decisions use the engine's clock (injectable, recorded in every
decision, replayable), so the window is implemented here on each backend.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from bastion.model import Action, Decision, Effect
from bastion.state.conditions import human_duration
from bastion.state.decisions import redacted, tighten
from bastion.state.records import WindowCheck
from bastion.state.settings import StateSettings

if TYPE_CHECKING:  # pragma: no cover
    from bastion.state.stage import StateStage


_KEYS: dict[tuple[str, ...], str] = {}
_KEYS_MAX = 65536


def window_key(policy: str, rule: str, names: tuple[str, ...], values: list[str]) -> str:
    """A fixed-length key per (rule, key values); length prefixes keep it unambiguous."""
    parts = (policy, rule, *names, *values)
    key = _KEYS.get(parts)
    if key is None:
        raw = "".join(f"{len(x)}:{x}" for x in parts)
        key = "rl:" + hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        _KEYS[parts] = key
    return key


def apply(stage: "StateStage", engine: Any, decision: Decision, action: Action, now: float, settings: StateSettings, notes: dict[str, Any], *, commit: bool) -> None:
    items = []
    for m, rs in settings.matched(decision):
        rl = rs.rate_limit
        if rl is None:
            continue
        values = rl.key_values(action)
        items.append(((m.policy, m.rule), rl, values, WindowCheck(window_key(m.policy, m.rule, rl.key_names, values), rl.max, rl.per)))
    if not items:
        return
    sim = stage.simulation()
    result = stage.backend.hit([i[3] for i in items], now, commit=commit and sim is None)
    if sim is not None:  # inside a plan: earlier steps' hits count too
        for j, (_, rl, _, chk) in enumerate(items):
            result.counts[j] += sim.get(chk.key, 0)
            if result.counts[j] >= rl.max and result.retry_at[j] is None:
                result.admitted = False
                result.retry_at[j] = now + rl.per  # at the latest, when the simulated hits expire
        if result.admitted:
            for _, _, _, chk in items:
                sim[chk.key] = sim.get(chk.key, 0) + 1
    if result.admitted and commit:
        return  # within every limit: nothing to report (explain shows the counts)
    out = []
    retry_after: float | None = None
    for (key, rl, values, chk), count, retry_at in zip(items, result.counts, result.retry_at):
        who = ", ".join(f"{n}={redacted(engine, v, 80) if rl.is_field(i) else v}" for i, (n, v) in enumerate(zip(rl.key_names, values)))
        note: dict[str, Any] = {"rule": f"{key[0]}/{key[1]}", "max": rl.max, "per_seconds": rl.per, "key": who}
        if retry_at is not None:
            wait = max(0.0, retry_at - now)
            note.update(count=count, exceeded=True, retry_after=round(wait, 3))
            retry_after = wait if retry_after is None else max(retry_after, wait)
            tighten(
                decision,
                action,
                rl.on_exceed,
                f"rate limit of {key[0]}/{key[1]} exceeded: {rl.max} per {human_duration(rl.per)} for {who}; retry in {wait:.1f}s",
                rule=settings.compiled_rules.get(key),
            )
        else:
            note.update(count=count + (1 if result.admitted else 0), exceeded=False)
        out.append(note)
    if retry_after is not None:
        decision.extra["retry_after"] = round(max(retry_after, float(decision.extra.get("retry_after") or 0.0)), 3)
    notes["rate_limits"] = out


def counts_toward_limits(effect: Effect) -> bool:
    """Only actions that may go ahead use up a rate limit (pending approvals included)."""
    return effect < Effect.DENY
