"""Loaded policies -> a CompiledPolicySet: rules as closures, indexed for the hot path.

The index has two levels:
1. capability -> candidate rules. Exact capability names are a dict lookup; glob
   capabilities (`filesystem.*`) are resolved once per distinct capability name and
   cached, so each decision does one dict lookup.
2. within a capability bucket, every rule whose target condition is "any of these
   patterns" contributes its patterns to one combined RE2 set: one linear-time scan
   of the target yields exactly the rules whose target matches. Only those, plus the
   rules with no indexable target condition, have their other conditions tested.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from bastion.compile.cel import CelError, compile_when
from bastion.compile.context import EvalContext
from bastion.compile.matchers import Check, Condition, MatcherError, compile_condition
from bastion.compile.patterns import Pattern, PatternError, compile_re2, new_set
from bastion.compile.timewindow import TimeWindowError
from bastion.errors import PolicyError, Problem
from bastion.model import DEFAULT_SEVERITY, Effect, Layer, RuleMatch, Severity, Subject
from bastion.policy.document import Approvers
from bastion.policy.loader import LoadedPolicy, RuleSource
from bastion.policy.yamlpos import position

_CAPABILITY_CACHE_LIMIT = 4096
#: (capability, target) pairs whose candidates are remembered, and the longest target remembered
_SEEN_LIMIT = 8192
_SEEN_TARGET_MAX = 512


@dataclass(slots=True, eq=False)
class CompiledRule:
    order: int  # global evaluation order: layer, then policy, then rule
    policy_index: int
    policy: str
    policy_version: str
    rule_id: str
    layer: Layer
    effect: Effect
    severity: Severity | None
    reason: str | None
    overridable: bool
    first_match: bool
    source: str
    checks: tuple[Check, ...]
    unless: tuple[tuple[Check, ...], ...]
    when: Callable[[Subject, EvalContext], bool] | None
    target_patterns: list[Pattern] | None
    capability_exact: frozenset[str] | None  # None: any capability
    capability_globs: Any  # compiled RE2 or None
    expires: float | None
    approvers: Approvers | None
    timeout: float
    on_timeout: Effect
    metadata: dict[str, Any]
    src: RuleSource = field(repr=False)
    uses_secrets: bool = False
    #: precomputed for the hot path: the rule's severity (declared, else by effect) and
    #: the RuleMatch reported when it matches the action itself (shared; never mutated)
    effective_severity: Severity = Severity.LOW
    ref: RuleMatch | None = field(default=None, repr=False)

    reason_text: str = ""
    obligations: dict[str, Any] = field(default_factory=dict, repr=False)
    #: what the rule needs from session state (bastion.state.conditions.RuleState), or None
    state: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.effective_severity = self.severity or DEFAULT_SEVERITY[self.effect]
        self.reason_text = self.reason or f"{self.effect.label} by rule {self.policy}/{self.rule_id}"
        # the obligations of a decision where this rule is the only match
        self.obligations = {"log_severity": self.effective_severity.label}
        if self.effect == Effect.ALERT:
            self.obligations["alert"] = [f"{self.policy}/{self.rule_id}"]
        elif self.effect == Effect.REDACT:
            self.obligations["redact"] = True
        self.ref = RuleMatch(
            policy=self.policy,
            rule=self.rule_id,
            layer=self.layer,
            effect=self.effect,
            source=self.source,
            version=self.policy_version,
            severity=self.severity,
            reason=self.reason,
            overridable=self.overridable,
        )

    def match_for(self, subject: Subject, redactor: Any = None) -> RuleMatch:
        """The RuleMatch to report when this rule matched `subject`; a derived subject's
        description comes from the action's text, so it passes through the redactor."""
        if subject.origin is None:
            return self.ref  # type: ignore[return-value]
        described, origin = subject.describe(), subject.origin
        if redactor is not None:
            described = redactor.redact_text(described)[0]
            origin = redactor.redact_text(origin)[0]
        return dataclasses.replace(self.ref, subject=described, origin=origin)  # type: ignore[type-var]

    @property
    def key(self) -> str:
        return f"{self.policy}/{self.rule_id}"

    def applies_to_capability(self, capability: str) -> bool:
        if self.capability_exact is None and self.capability_globs is None:
            return True
        if self.capability_exact is not None and capability in self.capability_exact:
            return True
        return self.capability_globs is not None and self.capability_globs.search(capability) is not None

    def matches(self, s: Subject, c: EvalContext, *, check_target: bool = True) -> bool:
        """Full test of this rule against one subject (the index skips the target test)."""
        if self.expires is not None and c.now >= self.expires:
            return False
        if not self.applies_to_capability(s.capability):
            return False
        if check_target and self.target_patterns is not None:
            if s.target is None or not any(p.compile().search(s.target) for p in self.target_patterns):
                return False
        for check in self.checks:
            if not check(s, c):
                return False
        for block in self.unless:
            if all(check(s, c) for check in block):
                return False
        if self.when is not None and not self.when(s, c):
            return False
        return True


@dataclass(slots=True)
class Bucket:
    """Candidate rules for one capability name."""

    unindexed: list[CompiledRule]
    pattern_set: Any  # re2.Set or None
    pattern_rules: list[CompiledRule]  # set index -> rule
    match: Any = None  # the set's raw Match on UTF-8 bytes (skips the wrapper's codec lookup)


@dataclass
class PolicyInfo:
    id: str
    version: str
    layer: Layer
    file: str
    combine: str
    defaults: Effect | None
    parents: list[str]
    rule_count: int


class CompiledPolicySet:
    """The compiled, immutable form of a set of policies. Thread-safe to share."""

    def __init__(self, policies: list[LoadedPolicy], rules: list[CompiledRule], infos: list[PolicyInfo]) -> None:
        self.loaded = policies
        self.rules = rules
        self.policies = infos
        self._exact: dict[str, list[CompiledRule]] = {}
        self._globbed: list[CompiledRule] = []
        for rule in rules:
            if rule.capability_exact is None and rule.capability_globs is None:
                self._globbed.append(rule)
                continue
            if rule.capability_exact:
                for cap in rule.capability_exact:
                    self._exact.setdefault(cap, []).append(rule)
            if rule.capability_globs is not None:
                self._globbed.append(rule)
        self._buckets: dict[str, Bucket] = {}
        #: (capability, target) -> candidates, for targets seen before (agents revisit
        #: files, hosts, tools): a dict lookup instead of a set scan, which also keeps the
        #: interpreter lock that google-re2 lets go of for every match (bounded)
        self._seen: dict[tuple[str, str], list[CompiledRule]] = {}
        self._lock = threading.Lock()
        #: set by the engine when it compiles these policies: the secret redactor their
        #: `secrets:` sections call for, and whether its state stage can change nothing
        self.redactor: Any = None
        self.state_inert = False
        self.uses_secrets = any(r.uses_secrets for r in rules)
        #: rules or policy-level settings that only work with session state (bastion.state)
        self.needs_state = any(r.state is not None for r in rules) or any(
            getattr(lp.doc, k) is not None for lp in policies for k in ("escalation", "sub_agents", "plans")
        )
        # defaults: the most specific layer that declares one (most restrictive within it)
        self.default_effect: Effect = Effect.DENY
        self.default_policy: str | None = None
        for info in sorted(infos, key=lambda i: i.layer, reverse=True):
            if info.defaults is not None:
                same = [i for i in infos if i.layer == info.layer and i.defaults is not None]
                winner = max(same, key=lambda i: i.defaults)  # type: ignore[arg-type, return-value]
                self.default_effect = winner.defaults  # type: ignore[assignment]
                self.default_policy = winner.id
                break

    def bucket(self, capability: str) -> Bucket:
        b = self._buckets.get(capability)
        if b is None:
            b = self._build_bucket(capability)
            if len(self._buckets) < _CAPABILITY_CACHE_LIMIT:
                with self._lock:
                    self._buckets[capability] = b
        return b

    def _build_bucket(self, capability: str) -> Bucket:
        seen: set[int] = set()
        rules: list[CompiledRule] = []
        for rule in self._exact.get(capability, ()):
            if id(rule) not in seen:
                seen.add(id(rule))
                rules.append(rule)
        for rule in self._globbed:
            if id(rule) not in seen and rule.applies_to_capability(capability):
                seen.add(id(rule))
                rules.append(rule)
        rules.sort(key=lambda r: r.order)
        unindexed: list[CompiledRule] = []
        pattern_rules: list[CompiledRule] = []
        pattern_set = None
        for rule in rules:
            if rule.target_patterns:
                if pattern_set is None:
                    pattern_set = new_set()
                for p in rule.target_patterns:
                    pattern_set.Add(p.regex)
                    pattern_rules.append(rule)
            else:
                unindexed.append(rule)
        if pattern_set is not None:
            pattern_set.Compile()
            return Bucket(unindexed, pattern_set, pattern_rules, pattern_set._set.Match)
        return Bucket(unindexed, None, pattern_rules)

    def candidates(self, subject: Subject) -> list[CompiledRule]:
        """Rules that may match `subject`, in evaluation order; target patterns already checked."""
        b = self._buckets.get(subject.capability) or self.bucket(subject.capability)
        target = subject.target
        if b.match is None or target is None:
            return b.unindexed
        key = (subject.capability, target)
        known = self._seen.get(key)
        if known is not None:
            return known
        hits = b.match(target.encode("utf-8", "surrogatepass"))
        if not hits:
            out = b.unindexed
        elif len(hits) == 1 and not b.unindexed:
            out = [b.pattern_rules[hits[0]]]
        else:
            pr = b.pattern_rules
            found = {id(pr[i]): pr[i] for i in hits}
            out = list(found.values()) + b.unindexed
            out.sort(key=_order)
        if len(target) <= _SEEN_TARGET_MAX:
            if len(self._seen) >= _SEEN_LIMIT:
                self._seen.clear()
            self._seen[key] = out
        return out

    def rule(self, policy: str, rule_id: str) -> CompiledRule | None:
        for r in self.rules:
            if r.policy == policy and r.rule_id == rule_id:
                return r
        return None


def _order(rule: CompiledRule) -> int:
    return rule.order


# --------------------------------------------------------------------------- compile


def _capability_condition(spec: Any) -> tuple[frozenset[str] | None, Any]:
    """Split a capability matcher into exact names and one combined glob regex."""
    from bastion.compile.patterns import looks_like_glob, make_pattern

    items = spec if isinstance(spec, list) else [spec]
    exact: set[str] = set()
    globs: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise MatcherError("capability takes a name or glob, or a list of them")
        if item in ("*", "**"):
            return None, None
        if looks_like_glob(item):
            globs.append(make_pattern("glob", item).regex)
        else:
            exact.add(item)
    regex = compile_re2("|".join(globs)) if globs else None
    return (frozenset(exact) if exact else frozenset()), regex


def _compile_block(block: dict[str, Any], src: RuleSource, sub: tuple[Any, ...], problems: list[Problem], *, for_match: bool) -> tuple[list[Condition], Any, bool]:
    """Compile a match/unless mapping. Returns (conditions, capability spec or _NO_CAP, uses_secrets)."""
    conditions: list[Condition] = []
    capability = _NO_CAP
    uses_secrets = False
    for name, spec in block.items():
        where = sub + (name,)
        if name == "capability" and for_match:
            capability = spec
            continue
        if name.startswith("secrets."):
            uses_secrets = True
        try:
            conditions.append(compile_condition(name, spec, ()))
        except (MatcherError, TimeWindowError, PatternError) as exc:
            problems.append(src.problem(where + tuple(getattr(exc, "path", ())), str(exc)))
    return conditions, capability, uses_secrets


_NO_CAP = object()


def compile_rule(src: RuleSource, order: int, policy_index: int, lp: LoadedPolicy, problems: list[Problem]) -> CompiledRule | None:
    rule = src.rule
    n_before = len(problems)
    conditions, capability, uses_secrets = _compile_block(rule.match, src, ("match",), problems, for_match=True)
    cap_exact: frozenset[str] | None = None
    cap_globs = None
    if capability is not _NO_CAP:
        try:
            cap_exact, cap_globs = _capability_condition(capability)
        except (MatcherError, PatternError) as exc:
            problems.append(src.problem(("match", "capability"), str(exc)))
    target_patterns = None
    checks: list[Check] = []
    did = [c.stateful for c in conditions if c.stateful is not None]
    unless_did: list[Any] = []
    for cond in conditions:
        if cond.field == "target" and cond.target_patterns and target_patterns is None:
            target_patterns = cond.target_patterns
        else:
            checks.append(cond.check)
    unless_blocks: list[tuple[Check, ...]] = []
    if rule.unless is not None:
        blocks = rule.unless if isinstance(rule.unless, list) else [rule.unless]
        for j, block in enumerate(blocks):
            sub = ("unless", j) if isinstance(rule.unless, list) else ("unless",)
            conds, cap, sec = _compile_block(block, src, sub, problems, for_match=False)
            uses_secrets = uses_secrets or sec
            unless_did.extend(c.stateful for c in conds if c.stateful is not None)
            if not conds:
                problems.append(src.problem(sub, "an empty unless block would exclude everything"))
            unless_blocks.append(tuple(c.check for c in conds))
    when = None
    if rule.when is not None:
        try:
            when = compile_when(rule.when)
        except CelError as exc:
            problems.append(src.problem(("when",), str(exc)))
        uses_secrets = uses_secrets or "secrets" in rule.when
    state = None
    if did or unless_did or rule.rate_limit is not None or rule.budget is not None:
        state = _rule_state(rule, did, unless_did, checks, src, problems)
    if len(problems) > n_before:
        return None
    return CompiledRule(
        order=order,
        policy_index=policy_index,
        policy=lp.id,
        policy_version=lp.doc.version,
        rule_id=rule.id,
        layer=lp.layer,
        effect=rule.effect,
        severity=rule.severity,
        reason=rule.reason,
        overridable=rule.overridable,
        first_match=lp.doc.combine == "first_match",
        source=src.source,
        checks=tuple(checks),
        unless=tuple(unless_blocks),
        when=when,
        target_patterns=target_patterns,
        capability_exact=cap_exact,
        capability_globs=cap_globs,
        expires=rule.expires.timestamp() if rule.expires else None,
        approvers=rule.approvers,
        timeout=rule.timeout,
        on_timeout=rule.on_timeout,
        metadata=rule.metadata,
        src=src,
        uses_secrets=uses_secrets,
        state=state,
    )


def _rule_state(rule: Any, did: list[Any], unless_did: list[Any], checks: list[Check], src: RuleSource, problems: list[Problem]) -> Any:
    """The rule's stateful parts (bastion.state.conditions); a budget becomes its last check."""
    from bastion.state.conditions import RuleState, compile_budget, compile_rate_limit

    state = RuleState(did=tuple(did), unless_did=tuple(unless_did))
    if rule.budget is not None:
        state.budget, check = compile_budget(rule.budget)
        checks.append(check)
    if rule.rate_limit is not None:
        try:
            state.rate_limit = compile_rate_limit(rule.rate_limit)
        except MatcherError as exc:
            problems.append(src.problem(("rate_limit",) + tuple(exc.path), str(exc)))
    return state


def compile_policies(policies: list[LoadedPolicy], *, disabled: set[tuple[str, str]] | None = None) -> CompiledPolicySet:
    """Compile loaded policies; raise PolicyError listing every problem."""
    disabled = disabled or set()
    problems: list[Problem] = []
    ordered = sorted(enumerate(policies), key=lambda p: (p[1].layer, p[0]))
    rules: list[CompiledRule] = []
    infos: list[PolicyInfo] = []
    order = 0
    for policy_index, (_, lp) in enumerate(ordered):
        active = 0
        for src in lp.rules:
            if not src.rule.enabled or (lp.id, src.rule.id) in disabled:
                continue
            compiled = compile_rule(src, order, policy_index, lp, problems)
            order += 1
            if compiled is not None:
                rules.append(compiled)
                active += 1
        infos.append(PolicyInfo(lp.id, lp.doc.version, lp.layer, lp.file, lp.doc.combine, lp.defaults, lp.parents, active))
    if problems:
        raise PolicyError(problems)
    return CompiledPolicySet([lp for _, lp in ordered], rules, infos)


def build_redactor(policies: list[LoadedPolicy]) -> Any:
    """A Redactor for the policies' `secrets:` sections (custom detectors, disabled
    ones), or the shared default when no policy has one. PolicyError with positions."""
    from bastion.secrets import DetectorSpec, Redactor, Scanner

    specs = []
    disabled: set[str] = set()
    problems: list[Problem] = []
    for lp in policies:
        if lp.secrets is None:
            continue
        disabled.update(lp.secrets.disable)
        for i, raw in enumerate(lp.secrets.detectors):
            try:
                specs.append(DetectorSpec.from_dict(raw, source=lp.file))
            except ValueError as exc:
                line, col = position(lp.positions, ("secrets", "detectors", i))
                problems.append(Problem(lp.file, line, col, f"secrets.detectors[{i}]", str(exc)))
    if problems:
        raise PolicyError(problems)
    if not specs and not disabled:
        from bastion.secrets import default_redactor

        return default_redactor()
    try:
        scanner = Scanner.build(extra=specs, disabled=disabled)
    except ValueError as exc:
        owner = next((lp for lp in policies if lp.secrets is not None), policies[0])
        line, col = position(owner.positions, ("secrets",))
        raise PolicyError([Problem(owner.file, line, col, "secrets", str(exc))]) from None
    return Redactor(scanner=scanner)

