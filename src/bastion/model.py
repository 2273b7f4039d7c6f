"""The types every stage shares: Action in, Decision out, and the Effect lattice.

`Action` follows the contract in docs/contract (shared/spec/contract.md): only
`capability` is required, unknown fields are errors so a typo can never weaken a
decision. `Decision` is a plain slotted dataclass because it is built on the hot
path; it serialises to the contract's JSON with `to_dict()`.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import IntEnum
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bastion.errors import ActionError

# --------------------------------------------------------------------------- effects


class Effect(IntEnum):
    """Decision outcomes, ordered by restrictiveness (the combining lattice)."""

    ALLOW = 0
    LOG_ONLY = 1
    ALERT = 2
    REDACT = 3
    REQUIRE_APPROVAL = 4
    DENY = 5
    TERMINATE = 6

    def __str__(self) -> str:  # "require_approval"
        return self.name.lower()

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: "str | Effect") -> "Effect":
        """Parse an effect name or one of the documented aliases."""
        if isinstance(value, Effect):
            return value
        if not isinstance(value, str):
            raise ValueError(f"effect must be a string, got {type(value).__name__}")
        key = value.strip().lower().replace("-", "_")
        if key in EFFECT_ALIASES:
            return EFFECT_ALIASES[key]
        try:
            return cls[key.upper()]
        except KeyError:
            names = ", ".join(e.label for e in cls)
            raise ValueError(f"unknown effect {value!r} (expected one of {names}, or an alias)") from None


#: Vocabulary from other tools, accepted wherever an effect is written.
EFFECT_ALIASES: dict[str, Effect] = {
    "autonomous": Effect.ALLOW,
    "permit": Effect.ALLOW,
    "notify": Effect.ALERT,
    "warn": Effect.ALERT,
    "approval_required": Effect.REQUIRE_APPROVAL,
    "ask": Effect.REQUIRE_APPROVAL,
    "blocked": Effect.DENY,
    "block": Effect.DENY,
    "forbid": Effect.DENY,
    "sigkill": Effect.TERMINATE,
    "sigstop": Effect.REQUIRE_APPROVAL,
    "sigwarn": Effect.ALERT,
}


class Severity(IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2
    CRITICAL = 3

    def __str__(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: "str | Severity") -> "Severity":
        if isinstance(value, Severity):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {value!r} (expected low, medium, high or critical)") from None


#: Severity a decision carries when no matched rule names one.
DEFAULT_SEVERITY: dict[Effect, Severity] = {
    Effect.ALLOW: Severity.LOW,
    Effect.LOG_ONLY: Severity.LOW,
    Effect.ALERT: Severity.MEDIUM,
    Effect.REDACT: Severity.MEDIUM,
    Effect.REQUIRE_APPROVAL: Severity.MEDIUM,
    Effect.DENY: Severity.HIGH,
    Effect.TERMINATE: Severity.CRITICAL,
}


class Layer(IntEnum):
    """Policy layers, most authoritative first. A lower layer never loosens a higher one."""

    SYSTEM = 0
    ORG = 1
    TEAM = 2
    AGENT = 3
    SESSION = 4

    def __str__(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        return self.name.lower()


# --------------------------------------------------------------------------- action

_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Agent(BaseModel):
    model_config = _STRICT
    id: str | None = None
    role: str | None = None
    team: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()


class SessionRef(BaseModel):
    model_config = _STRICT
    id: str | None = None
    parent_id: str | None = None
    depth: int = Field(default=0, ge=0)


class Resource(BaseModel):
    model_config = _STRICT
    type: str | None = None
    path: str | None = None
    classification: str | None = None


class Risk(BaseModel):
    model_config = _STRICT
    tier: str | None = None
    signals: tuple[str, ...] = ()


_ids = itertools.count(1)
_ID_PREFIX = os.urandom(4).hex()


def new_id(kind: str) -> str:
    """A process-unique id, cheap enough for the hot path (no uuid4 per decision)."""
    return f"{kind}-{_ID_PREFIX}{next(_ids):08x}"


class Action(BaseModel):
    """One proposed agent action, as in the contract. Immutable."""

    model_config = _STRICT

    id: str = Field(default_factory=lambda: new_id("a"))
    capability: str = Field(min_length=1)
    target: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    agent: Agent = Field(default_factory=Agent)
    session: SessionRef = Field(default_factory=SessionRef)
    environment: str | None = None
    resource: Resource = Field(default_factory=Resource)
    risk: Risk = Field(default_factory=Risk)
    context: dict[str, Any] = Field(default_factory=dict)

    @field_validator("capability")
    @classmethod
    def _capability_shape(cls, v: str) -> str:
        if not v.strip() or any(ch.isspace() for ch in v):
            raise ValueError("capability must be a dotted name without spaces, e.g. 'filesystem.read'")
        return v

    @classmethod
    def from_dict(cls, data: Any) -> "Action":
        """Validate a JSON-like mapping; raise ActionError naming every bad field."""
        if not isinstance(data, Mapping):
            raise ActionError(f"an action must be a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ActionError.from_validation(exc) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> "Action":
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ActionError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def coerce_action(action: "Action | Mapping[str, Any]") -> Action:
    return action if isinstance(action, Action) else Action.from_dict(action)


class Subject:
    """What rules are evaluated against: the action itself, or an action derived from it.

    Analysis (shell, SQL, paths, URLs) turns one action into several subjects, for
    example `shell.exec "cat .env"` also yields `filesystem.read .env`. Each carries
    its own capability, target, args and facts; identity fields (agent, session, ...)
    are read from the original action.
    """

    __slots__ = ("action", "capability", "target", "args", "facts", "origin")

    def __init__(
        self,
        action: Action,
        capability: str | None = None,
        target: str | None = None,
        args: Mapping[str, Any] | None = None,
        facts: Mapping[str, Any] | None = None,
        origin: str | None = None,
    ) -> None:
        self.action = action
        self.capability = capability if capability is not None else action.capability
        self.target = target if capability is not None else action.target
        self.args = args if args is not None else action.args
        self.facts = facts if facts is not None else {}
        #: None for the action itself; for a derived action, how it was derived ("shell: cat .env").
        self.origin = origin

    @property
    def derived(self) -> bool:
        return self.origin is not None

    def describe(self) -> str:
        return f"{self.capability} {self.target}" if self.target is not None else self.capability

    def __repr__(self) -> str:
        return f"Subject({self.describe()!r}, facts={dict(self.facts)!r}, origin={self.origin!r})"


# --------------------------------------------------------------------------- decision

#: JSON labels indexed by value, precomputed (the enum `name` lookup is slow on the hot
#: path; the enums are IntEnums, so one dict for all three would mix up equal values)
_EFFECT_LABEL = tuple(e.name.lower() for e in Effect)
_SEVERITY_LABEL = tuple(s.name.lower() for s in Severity)
_LAYER_LABEL = tuple(layer.name.lower() for layer in Layer)


@dataclass(slots=True)
class RuleMatch:
    """One rule that matched, with where it was written."""

    policy: str
    rule: str
    layer: Layer
    effect: Effect
    source: str
    version: str | None = None
    severity: Severity | None = None
    reason: str | None = None
    overridable: bool = False
    #: the derived action it matched, when it was not the action itself
    subject: str | None = None
    #: the derivation of that action ("shell: cat .env")
    origin: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.policy,
            "rule": self.rule,
            "layer": _LAYER_LABEL[self.layer],
            "effect": _EFFECT_LABEL[self.effect],
            "source": self.source,
        }
        if self.version is not None:
            out["version"] = self.version
        if self.severity is not None:
            out["severity"] = _SEVERITY_LABEL[self.severity]
        if self.reason:
            out["reason"] = self.reason
        if self.subject is not None:
            out["subject"] = self.subject
            out["origin"] = self.origin
        return out


@dataclass(slots=True)
class Overridden:
    """A matched rule that did not count, and why."""

    rule: RuleMatch
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.rule.to_dict(), "why": self.why}


def _iso_slow(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: (whole second, its "YYYY-MM-DDTHH:MM:SS" text): decisions come many per second, so the
#: calendar arithmetic runs once a second instead of once a decision (1.6 of the 3.4 us
#: `to_dict()` took). Replaced whole, never mutated, so threads share it safely.
_iso_last: tuple[float, str] = (math.nan, "")


def _iso(ts: float) -> str:
    """`ts` as ISO 8601 UTC with milliseconds, e.g. "2026-11-21T10:00:00.123Z".

    Exactly what `datetime.fromtimestamp(ts, utc).isoformat(timespec="milliseconds")`
    writes: the same split into whole seconds and microseconds rounded half to even
    (CPython's `_PyTime_DoubleToDenominator`), milliseconds truncated.
    """
    global _iso_last
    frac, whole = math.modf(ts)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        whole += 1.0
        us -= 1_000_000
    elif us < 0:
        whole -= 1.0
        us += 1_000_000
    last = _iso_last
    if last[0] == whole:
        return f"{last[1]}.{us // 1000:03d}Z"
    if not (_ISO_MIN <= whole <= _ISO_MAX):  # outside what the cache formats: the general path
        return _iso_slow(ts)
    text = _iso_slow(whole)[:-5]  # "YYYY-MM-DDTHH:MM:SS" (".000Z" cut)
    _iso_last = (whole, text)
    return f"{text}.{us // 1000:03d}Z"


# years 1 to 9999 minus a day each side: isoformat keeps its fixed width in between
_ISO_MIN = -62135510400.0
_ISO_MAX = 253402214400.0


@dataclass(slots=True)
class Decision:
    """A typed, explainable decision. `to_dict()` is the contract's JSON."""

    decision_id: str
    action_id: str
    decision: Effect
    reason: str
    policy_ids: list[str]
    rules: list[RuleMatch]
    severity: Severity
    risk_score: int
    timestamp: float
    approver_roles: list[str] = field(default_factory=list)
    redactions: list[dict[str, Any]] = field(default_factory=list)
    overridden: list[Overridden] = field(default_factory=list)
    #: side effects of every matched rule: alerts to raise, redaction, log severity
    obligations: dict[str, Any] = field(default_factory=dict)
    #: True when no rule matched and a policy default (or the built-in deny) decided
    default: bool = False
    #: set when the engine failed closed
    error: str | None = None
    #: approval timeout/fallback for require_approval decisions
    approval: dict[str, Any] | None = None
    #: the action with secrets replaced, for integrations to forward (redact decisions)
    redacted_action: dict[str, Any] | None = None
    #: open-ended additions from later stages (approval_id, retry_after, state, ...)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effect(self) -> Effect:
        return self.decision

    @property
    def allowed(self) -> bool:
        """True when the action may proceed as proposed (possibly logged or alerted)."""
        return self.decision <= Effect.ALERT

    @property
    def timestamp_iso(self) -> str:
        return _iso(self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decision_id": self.decision_id,
            "action_id": self.action_id,
            "decision": _EFFECT_LABEL[self.decision],
            "reason": self.reason,
            "policy_ids": list(self.policy_ids),
            "rules": [r.to_dict() for r in self.rules],
            "severity": _SEVERITY_LABEL[self.severity],
            "risk_score": self.risk_score,
            "approver_roles": list(self.approver_roles),
            "redactions": list(self.redactions),
            "timestamp": self.timestamp_iso,
        }
        if self.overridden:
            out["overridden"] = [o.to_dict() for o in self.overridden]
        if self.obligations:
            out["obligations"] = dict(self.obligations)
        if self.default:
            out["default"] = True
        if self.error:
            out["error"] = self.error
        if self.approval:
            out["approval"] = dict(self.approval)
        if self.redacted_action is not None:
            out["redacted_action"] = self.redacted_action
        out.update(self.extra)
        return out


def now() -> float:
    return time.time()
