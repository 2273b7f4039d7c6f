"""The stateful parts of the policy language, compiled: `session.did` conditions,
rule `budget`s and `rate_limit`s.

`session.did` names something the session did before:

    match:
      capability: network.request
      session.did: {capability: filesystem.read, resource.classification: pii}
    # or, with a time window and a count, and several alternatives:
      session.did:
        action: [{capability: secrets.read}, {capability: filesystem.read, target: {path: "**/.env"}}]
        within: 1h
        at_least: 1

Each distinct `action` spec becomes a *tracker*, identified by a hash of the spec so
that the marks it leaves survive restarts and are shared between processes. After
every decision that lets an action proceed, the state stage tests the action (and
the actions analysis derived from it) against every tracker and records a mark per
tracker that matched. A condition then only reads marks: no history replay.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from bastion.compile.context import EvalContext
from bastion.compile.matchers import Check, Condition, MatcherError, compile_condition, compile_getter
from bastion.model import Effect, Subject
from bastion.policy.document import Budget, RateLimit, parse_duration
from bastion.state.records import MARKS_KEPT

_DID_KEYS = frozenset({"action", "within", "at_least"})


@dataclass(frozen=True, eq=False)
class Tracker:
    """Matches earlier actions for `session.did`: any block whose conditions all hold."""

    id: str
    blocks: tuple[tuple[Check, ...], ...]
    spec: Any

    def matches(self, s: Subject, c: EvalContext) -> bool:
        for block in self.blocks:
            for check in block:
                if not check(s, c):
                    break
            else:
                return True
        return False


@dataclass(frozen=True, eq=False)
class DidQuery:
    """One `session.did` condition: a tracker, a window and a minimum count."""

    tracker: Tracker
    within: float | None
    at_least: int

    def describe(self) -> str:
        parts = []
        if self.at_least > 1:
            parts.append(f"at least {self.at_least} times")
        if self.within is not None:
            parts.append(f"within {human_duration(self.within)}")
        return ", ".join(parts)


def tracker_id(spec: Any) -> str:
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _blocks(spec: Any, where: tuple[Any, ...]) -> list[tuple[dict[str, Any], tuple[Any, ...]]]:
    if isinstance(spec, dict):
        return [(spec, where)]
    if isinstance(spec, list) and spec:
        out = []
        for i, item in enumerate(spec):
            if not isinstance(item, dict) or not item:
                raise MatcherError("each alternative of session.did is a non-empty match block", where + (i,))
            out.append((item, where + (i,)))
        return out
    raise MatcherError("session.did takes a match block, a list of them, or {action, within, at_least}", where)


def _compile_block(block: dict[str, Any], where: tuple[Any, ...]) -> tuple[Check, ...]:
    from bastion.policy.vocabulary import is_known_field, suggest_field

    checks: list[Check] = []
    for name, spec in block.items():
        at = where + (name,)
        if not isinstance(name, str) or not is_known_field(name):
            hint = suggest_field(str(name))
            raise MatcherError(f"unknown field {name!r}" + (f" (did you mean {hint!r}?)" if hint else ""), at)
        if name == "session.did":
            raise MatcherError("session.did cannot be nested inside session.did", at)
        cond = compile_condition(name, spec, at)
        checks.append(cond.check)
    if not checks:
        raise MatcherError("an empty block would match every earlier action", where)
    return tuple(checks)


def compile_did(spec: Any, where: tuple[Any, ...] = ()) -> Condition:
    """`session.did: ...` -> a Condition whose check reads the session's marks."""
    within: float | None = None
    at_least = 1
    action_spec = spec
    if isinstance(spec, dict) and "action" in spec and set(spec) <= _DID_KEYS:
        action_spec = spec["action"]
        if "within" in spec:
            try:
                within = parse_duration(spec["within"])
            except ValueError as exc:
                raise MatcherError(str(exc), where + ("within",)) from None
            if within <= 0:
                raise MatcherError("within must be a positive duration", where + ("within",))
        if "at_least" in spec:
            n = spec["at_least"]
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MARKS_KEPT:
                raise MatcherError(f"at_least must be an integer from 1 to {MARKS_KEPT}", where + ("at_least",))
            at_least = n
        where = where + ("action",)
    elif isinstance(spec, dict) and set(spec) & _DID_KEYS and not set(spec) - _DID_KEYS:
        raise MatcherError("session.did with within/at_least needs 'action': the earlier action to look for", where)
    blocks = tuple(_compile_block(b, w) for b, w in _blocks(action_spec, where))
    tracker = Tracker(tracker_id(action_spec), blocks, action_spec)
    query = DidQuery(tracker, within, at_least)

    def check(s: Subject, c: EvalContext) -> bool:
        st = c.state
        return st is not None and st.did(query, c)

    return Condition("session.did", check, stateful=query)


# --------------------------------------------------------------------------- budgets

#: the scope a budget (or usage) is counted in, read from an action
SCOPES = ("session", "agent", "team")


def scope_key(kind: str, subject_action: Any) -> str:
    if kind == "session":
        value = subject_action.session.id
    elif kind == "agent":
        value = subject_action.agent.id
    else:
        value = subject_action.agent.team
    # actions without the field share one scope: absence never escapes a budget
    return f"{kind}:{value if value is not None else ''}"


@dataclass(frozen=True, eq=False)
class CompiledBudget:
    per: str
    limits: dict[str, float]

    def describe(self) -> str:
        return ", ".join(f"{m} {format_limit(m, v)}" for m, v in self.limits.items()) + f" per {self.per}"


def compile_budget(budget: Budget) -> tuple[CompiledBudget, Check]:
    spec = CompiledBudget(budget.per, budget.limits())

    def check(s: Subject, c: EvalContext) -> bool:
        st = c.state
        return st is not None and st.over_budget(spec, c)

    return spec, check


# --------------------------------------------------------------------------- rate limits

_NAMED_KEYS: dict[str, str] = {
    "agent": "agent.id",
    "session": "session.id",
    "team": "agent.team",
    "owner": "agent.owner",
    "role": "agent.role",
    "capability": "capability",
}


_DIRECT: dict[str, Callable[[Any], Any]] = {
    "agent": lambda a: a.agent.id,
    "session": lambda a: a.session.id,
    "team": lambda a: a.agent.team,
    "owner": lambda a: a.agent.owner,
    "role": lambda a: a.agent.role,
    "capability": lambda a: a.capability,
}


@dataclass(frozen=True, eq=False)
class CompiledRateLimit:
    max: int
    per: float
    on_exceed: Effect
    key_names: tuple[str, ...]
    getters: tuple[Callable[[Subject, EvalContext], Any], ...]
    #: key -> read straight from the action (agent, session, ...), or None for a field
    direct: tuple[Callable[[Any], Any] | None, ...] = ()

    def key_values(self, action: Any) -> list[str]:
        out = []
        s = c = None
        for g, d in zip(self.getters, self.direct):
            if d is not None:
                v = d(action)
            else:
                if s is None:
                    s, c = Subject(action), EvalContext(0.0, action)
                v = g(s, c)
            out.append(v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str))
        return out

    def is_field(self, i: int) -> bool:
        """Whether key i is a field of the action (whose value may need redacting in messages)."""
        return self.direct[i] is None

    def describe(self) -> str:
        return f"{self.max} per {human_duration(self.per)}"


def compile_rate_limit(rl: RateLimit) -> CompiledRateLimit:
    from bastion.policy.vocabulary import is_known_field, suggest_field

    getters = []
    for i, name in enumerate(rl.key):
        field_name = _NAMED_KEYS.get(name, name)
        if field_name in ("time", "session.did") or field_name.startswith(("secrets.", "facts.")) or not is_known_field(field_name):
            hint = suggest_field(name)
            raise MatcherError(
                f"rate-limit key {name!r} is not agent, session, team, owner, role, capability or an action field"
                + (f" (did you mean {hint!r}?)" if hint else ""),
                ("key", i),
            )
        getters.append(compile_getter(field_name))
    return CompiledRateLimit(rl.max, rl.per, rl.on_exceed, tuple(rl.key), tuple(getters), tuple(_DIRECT.get(n) for n in rl.key))


# --------------------------------------------------------------------------- the compiled-rule attribute


@dataclass(eq=False)
class RuleState:
    """What a rule needs from session state (CompiledRule.state); None for stateless rules."""

    rate_limit: CompiledRateLimit | None = None
    budget: CompiledBudget | None = None
    #: `session.did` conditions of `match` (they explain why the rule applied)
    did: tuple[DidQuery, ...] = field(default_factory=tuple)
    #: `session.did` conditions of `unless` blocks (tracked, never the reason it applied)
    unless_did: tuple[DidQuery, ...] = field(default_factory=tuple)


def human_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def format_limit(meter: str, value: float) -> str:
    if meter == "cost_usd":
        return f"${value:g}"
    if meter == "time":
        return human_duration(value)
    return f"{value:g}"

