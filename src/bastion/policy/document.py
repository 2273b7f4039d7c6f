"""The policy document model: what a policy YAML file may say, validated by pydantic.

Only the shape is checked here; the contents of `match`/`unless` (field names and
matcher syntax) are checked by the compiler, which knows the field vocabulary.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from bastion.model import Effect, Layer, Severity

_STRICT = ConfigDict(extra="forbid")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> float:
    """'4h' -> 14400.0; plain numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as '30m', '4h', '7d'")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"invalid duration {value!r} (use e.g. '90s', '30m', '4h', '7d')")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _not_yaml_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("YAML read this value as a boolean (yes/no/on/off/true/false); put it in quotes")
    return v


def _effect(v: Any) -> Effect:
    return Effect.parse(v)


def _identifier(kind: str) -> AfterValidator:
    """The check of a policy's or a rule's id; `kind` names it in the message."""

    def check(v: str) -> str:
        if not _ID.match(v):
            raise ValueError(f"{kind} ids use letters, digits and . _ - : / (no spaces)")
        return v

    return AfterValidator(check)


def _positive_duration(message: str) -> BeforeValidator:
    """A duration that must be above zero; `message` says so for the field it checks."""

    def check(v: Any) -> float:
        seconds = parse_duration(v)
        if seconds <= 0:
            raise ValueError(message)
        return seconds

    return BeforeValidator(check)


# Field types that read what authors write: effect names and aliases, '4h', one name for a list.
Name = Annotated[str, BeforeValidator(_not_yaml_bool)]
EffectName = Annotated[Effect, BeforeValidator(_effect)]
Duration = Annotated[float, BeforeValidator(parse_duration)]
OptionalDuration = Annotated[float | None, BeforeValidator(lambda v: None if v is None else parse_duration(v))]
OneOrMore = BeforeValidator(lambda v: [v] if isinstance(v, str) else v)


class Approvers(BaseModel):
    """Who may approve a `require_approval` decision."""

    model_config = _STRICT
    roles: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    quorum: int = Field(default=1, ge=1)
    channel: str | None = None
    #: may the agent's owner approve their own agent's request?
    owner_may_approve: bool = True
    #: what an approver may grant: `once` (always), `session`, `until` (a time)
    scopes: list[Literal["once", "session", "until"]] = Field(default_factory=lambda: ["once"])
    #: the furthest a `session` or `until` grant may reach, e.g. "8h"
    max_duration: OptionalDuration = None


class Examples(BaseModel):
    """Actions a rule must match and must not match; checked at load time."""

    model_config = _STRICT
    match: list[dict[str, Any]] = Field(default_factory=list)
    no_match: list[dict[str, Any]] = Field(default_factory=list)


# --------------------------------------------------------------------------- stateful controls
# (docs/state.md: rate limits, budgets, escalation, sub-agents, plans)

#: policy-level settings a policy inherits through `extends` unless it sets its own
INHERITED_SETTINGS = ("escalation", "sub_agents", "plans")

#: meters a budget may limit; `time` is the session's age (wall-clock since its first action)
BUDGET_METERS = ("tokens", "cost_usd", "llm_calls", "tool_calls", "actions", "time")


class RateLimit(BaseModel):
    """`rate_limit: {max, per, key, on_exceed}`: at most `max` matching actions per `per`
    for each value of `key`; beyond that the decision is at least `on_exceed`."""

    model_config = _STRICT
    max: int = Field(ge=1, le=1_000_000)
    per: Annotated[float, _positive_duration("per must be a positive duration such as '1m' or '1h'")]
    #: agent, session, team, owner, role, capability, or any field (target, args.host, ...);
    #: a list combines them (one window per combination)
    key: list[str] = Field(default_factory=lambda: ["session"])
    on_exceed: EffectName = Effect.DENY

    @field_validator("key", mode="before")
    @classmethod
    def _key(cls, v: Any) -> Any:
        v = [v] if isinstance(v, str) else v
        if isinstance(v, list) and not v:
            raise ValueError("key needs at least one name (agent, session, team, owner, capability or a field)")
        return v


class Budget(BaseModel):
    """`budget: {cost_usd: 5, per: session}`: the rule applies once the usage of its scope,
    this action included, is above any of the limits given."""

    model_config = _STRICT
    per: Literal["session", "agent", "team"] = "session"
    tokens: float | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)
    llm_calls: int | None = Field(default=None, ge=0)
    tool_calls: int | None = Field(default=None, ge=0)
    actions: int | None = Field(default=None, ge=0)
    time: OptionalDuration = None

    @model_validator(mode="after")
    def _some_limit(self) -> "Budget":
        if all(getattr(self, m) is None for m in BUDGET_METERS):
            raise ValueError(f"a budget needs at least one limit: {', '.join(BUDGET_METERS)}")
        if self.time is not None and self.per != "session":
            raise ValueError("a time budget is the age of a session: use per: session")
        return self

    def limits(self) -> dict[str, float]:
        return {m: float(getattr(self, m)) for m in BUDGET_METERS if getattr(self, m) is not None}


def _thresholds(v: Any) -> Any:
    """{alert: 3, terminate: 5}: effect -> count; keys may be effect aliases."""
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError("thresholds map an effect to a count, e.g. {alert: 3, terminate: 5}")
    out: dict[str, int] = {}
    for k, n in v.items():
        effect = _effect(k)
        if effect <= Effect.LOG_ONLY:
            raise ValueError(f"an escalation must raise an alert or restrict more, not {effect.label}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"the count for {effect.label} must be a positive integer")
        out[effect.label] = n
    return out


class Escalation(BaseModel):
    """Policy-level: within `window`, the Nth denial (or alert) of a session applies an effect."""

    model_config = _STRICT
    window: Annotated[float, _positive_duration("window must be a positive duration such as '10m'")] = 600.0
    #: decisions of deny or terminate counted in the window -> {effect: count}
    denials: dict[str, int] = Field(default_factory=dict)
    #: decisions of alert counted in the window -> {effect: count}
    alerts: dict[str, int] = Field(default_factory=dict)

    @field_validator("denials", "alerts", mode="before")
    @classmethod
    def _counts(cls, v: Any) -> Any:
        return _thresholds(v)

    @model_validator(mode="after")
    def _some(self) -> "Escalation":
        if not self.denials and not self.alerts:
            raise ValueError("escalation needs denials or alerts thresholds, e.g. denials: {alert: 3, terminate: 5}")
        return self


class SubAgents(BaseModel):
    """Policy-level: how deep agents may delegate (`agent.spawn`)."""

    model_config = _STRICT
    #: the deepest a spawned session may be (a top-level session has depth 0)
    max_depth: int | None = Field(default=None, ge=0, le=64)


class Plans(BaseModel):
    """Policy-level constraints on `plan.submit`, on top of each step's own decision."""

    model_config = _STRICT
    max_steps: int | None = Field(default=None, ge=0)
    max_writes: int | None = Field(default=None, ge=0)
    on_exceed: EffectName = Effect.REQUIRE_APPROVAL
    #: capability globs that count as writes (default: docs/state.md)
    writes: Annotated[list[str] | None, OneOrMore] = None


class Rule(BaseModel):
    model_config = _STRICT

    id: Annotated[Name, _identifier("rule")]
    description: str | None = None
    match: dict[str, Any] = Field(default_factory=dict)
    unless: dict[str, Any] | list[dict[str, Any]] | None = None
    when: str | None = None
    effect: EffectName
    severity: Severity | None = None
    reason: str | None = None
    approvers: Approvers | None = None
    timeout: Duration = 4 * 3600.0
    on_timeout: EffectName = Effect.DENY
    overridable: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    expires: datetime | None = None
    enabled: bool = True
    examples: Examples | None = None
    rate_limit: RateLimit | None = None
    budget: Budget | None = None

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, v: Any) -> Severity | None:
        return None if v is None else Severity.parse(v)

    @field_validator("approvers", mode="before")
    @classmethod
    def _approvers(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"roles": [v]}
        if isinstance(v, list):
            return {"roles": v}
        return v

    @field_validator("expires", mode="before")
    @classmethod
    def _expires(cls, v: Any) -> Any:
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime.combine(v, time.min, tzinfo=timezone.utc)
        if isinstance(v, datetime) and v.tzinfo is None:
            return v.replace(tzinfo=timezone.utc)
        return v

    @model_validator(mode="after")
    def _approval_fields(self) -> "Rule":
        if self.on_timeout == Effect.REQUIRE_APPROVAL:
            raise ValueError("on_timeout cannot itself be require_approval")
        return self


class SecretsConfig(BaseModel):
    """Custom secret detectors and disabled built-in ones. Each detector is validated by
    `bastion.secrets.DetectorSpec` when the policy compiles (docs/secrets.md)."""

    model_config = _STRICT
    detectors: list[dict[str, Any]] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)


class Policy(BaseModel):
    """One policy document (one YAML file)."""

    model_config = _STRICT

    policy: Annotated[Name, _identifier("policy")]
    version: str = "0"
    description: str | None = None
    layer: Layer = Layer.AGENT
    extends: Annotated[list[str], OneOrMore] = Field(default_factory=list)
    defaults: Effect | None = None
    combine: Literal["most_restrictive", "first_match"] = "most_restrictive"
    rules: list[Rule] = Field(default_factory=list)
    secrets: SecretsConfig | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    escalation: Escalation | None = None
    sub_agents: SubAgents | None = None
    plans: Plans | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: Any) -> str:
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise ValueError("version must be a string such as '1.2.0'")
        return str(v)

    @field_validator("layer", mode="before")
    @classmethod
    def _layer(cls, v: Any) -> Layer:
        if isinstance(v, Layer):
            return v
        try:
            return Layer[str(v).strip().upper()]
        except KeyError:
            raise ValueError(f"unknown layer {v!r} (expected system, org, team, agent or session)") from None

    @field_validator("defaults", mode="before")
    @classmethod
    def _defaults(cls, v: Any) -> Effect | None:
        if isinstance(v, dict):  # `defaults: {effect: deny}`
            if set(v) - {"effect"}:
                raise ValueError("defaults takes an effect, e.g. 'defaults: deny'")
            v = v.get("effect")
        return None if v is None else _effect(v)

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> "Policy":
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return self
