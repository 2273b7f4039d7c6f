"""Rule conditions -> closures.

A `match:` mapping is a conjunction of field conditions; each becomes a closure
`check(subject, ctx) -> bool`. A condition on `target` that is made only of string
patterns is returned separately so the compiler can put it into a combined RE2 set
(the index) instead of testing it rule by rule.

Matcher syntax (docs/policy-language.md has the full table):
  scalar        equality; a string with * ? [ { is a glob; "> 10" is a comparison
  [a, b, ...]   any of the items
  {op: value}   equals, not_equals, in, not_in, glob, path, regex, prefix, suffix,
                contains, gt, gte, lt, lte, exists, not, any, all; ignore_case: true
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from bastion.compile.context import EvalContext
from bastion.compile.patterns import Pattern, PatternError, looks_like_glob, make_pattern, match_any
from bastion.model import Subject

MISSING: Any = object()

Check = Callable[[Subject, EvalContext], bool]
Getter = Callable[[Subject, EvalContext], Any]
ValueTest = Callable[[Any], bool]

PATTERN_OPS = ("glob", "path", "regex", "prefix", "suffix", "contains")
NUMERIC_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
ALL_OPS = frozenset(
    {"equals", "not_equals", "in", "not_in", "exists", "not", "any", "all", "ignore_case", *PATTERN_OPS, *NUMERIC_OPS}
)
_COMPARISON = re.compile(r"^\s*(>=|<=|>|<|==|!=)\s*(-?\d+(?:\.\d+)?)\s*$")


class MatcherError(ValueError):
    """A malformed matcher. `path` is relative to the matcher (for error positions)."""

    def __init__(self, message: str, path: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


# --------------------------------------------------------------------------- getters


def _walk(value: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, (list, tuple)) and part.isdigit():
            idx = int(part)
            value = value[idx] if idx < len(value) else MISSING
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def compile_getter(name: str) -> Getter:
    """A closure reading field `name` of a subject (see policy/vocabulary.py)."""
    if name == "capability":
        return lambda s, c: s.capability
    if name == "target":
        return lambda s, c: s.target
    if name == "environment":
        return lambda s, c: s.action.environment
    if name == "derived":
        return lambda s, c: s.origin is not None
    if name == "action.id":
        return lambda s, c: s.action.id
    head, _, rest = name.partition(".")
    if head in ("agent", "session", "resource", "risk"):
        attr = rest
        return lambda s, c: getattr(getattr(s.action, head), attr)
    if head == "secrets":
        key = rest
        return lambda s, c: c.secrets().get(key, MISSING)
    parts = tuple(rest.split("."))
    if head == "args":
        return lambda s, c: _walk(s.args, parts)
    if head == "context":
        return lambda s, c: _walk(s.action.context, parts)
    if head == "facts":
        return lambda s, c: _walk(s.facts, parts)
    raise MatcherError(f"unknown field {name!r}")  # pragma: no cover - vocabulary checked first


# --------------------------------------------------------------------------- value tests


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _numeric_test(op: str, bound: Any, where: tuple[Any, ...]) -> ValueTest:
    limit = _number(bound)
    if limit is None:
        raise MatcherError(f"{op} needs a number, got {bound!r}", where)
    if op in (">", "gt"):
        return lambda v: (n := _number(v)) is not None and n > limit
    if op in (">=", "gte"):
        return lambda v: (n := _number(v)) is not None and n >= limit
    if op in ("<", "lt"):
        return lambda v: (n := _number(v)) is not None and n < limit
    if op in ("<=", "lte"):
        return lambda v: (n := _number(v)) is not None and n <= limit
    if op == "==":
        return lambda v: (n := _number(v)) is not None and n == limit
    if op == "!=":
        return lambda v: (n := _number(v)) is None or n != limit
    raise MatcherError(f"unknown comparison {op!r}", where)  # pragma: no cover


def _pattern_test(patterns: list[Pattern]) -> ValueTest:
    """True when a string (or a number's text) contains a match of any of `patterns`.
    A string that is not valid UTF-8 (a lone surrogate) raises, as `re2.search` does:
    the engine then fails closed."""
    match = match_any(patterns)

    def test(v: Any) -> bool:
        if isinstance(v, str):
            return bool(match(v.encode("utf-8")))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return bool(match(str(v).encode("utf-8")))
        return False

    return test


def _each(test: ValueTest) -> ValueTest:
    """Lift a scalar test to list values: a list matches when any element does."""

    def lifted(v: Any) -> bool:
        if v is MISSING or v is None:
            return test(v)
        if isinstance(v, (list, tuple, set, frozenset)):
            return any(test(item) for item in v)
        return test(v)

    return lifted


@dataclass
class Matcher:
    """A compiled matcher: a value test, and its string patterns when it is only that."""

    test: ValueTest
    patterns: list[Pattern] | None = None  # set when the matcher is exactly "any of these patterns"
    literals: list[str] = field(default_factory=list)


def _string_pattern(kind: str, text: Any, ignore_case: bool, where: tuple[Any, ...]) -> Pattern:
    try:
        return make_pattern(kind, text, ignore_case)
    except PatternError as exc:
        raise MatcherError(str(exc), where) from None


def _scalar(spec: Any, field_name: str, ignore_case: bool, where: tuple[Any, ...]) -> Matcher:
    if spec is None:
        return Matcher(lambda v: v is None or v is MISSING)
    if isinstance(spec, bool):
        return Matcher(_each(lambda v: v is spec))
    if isinstance(spec, (int, float)):
        return Matcher(_each(_numeric_test("==", spec, where)))
    if isinstance(spec, str):
        m = _COMPARISON.match(spec)
        if m and field_name not in ("capability", "target"):
            return Matcher(_each(_numeric_test(m.group(1), m.group(2), where)))
        kind = "glob" if looks_like_glob(spec) else "literal"
        pattern = _string_pattern(kind, spec, ignore_case, where)
        if kind == "literal" and not ignore_case:
            return Matcher(_each(lambda v: v == spec), [pattern], [spec])
        return Matcher(_each(_pattern_test([pattern])), [pattern])
    raise MatcherError(f"cannot match on a value of type {type(spec).__name__}", where)


def _any_of(matchers: list[Matcher]) -> Matcher:
    tests = [m.test for m in matchers]
    patterns: list[Pattern] | None = []
    for m in matchers:
        if m.patterns is None or patterns is None:
            patterns = None
        else:
            patterns.extend(m.patterns)
    literals = [lit for m in matchers for lit in m.literals]
    if literals and len(literals) == len(matchers):  # all plain literals: one set lookup
        pool = frozenset(literals)

        def in_pool(v: Any) -> bool:
            try:
                return v in pool
            except TypeError:
                return False

        return Matcher(_each(in_pool), patterns, literals)
    return Matcher(lambda v: any(t(v) for t in tests), patterns)


def compile_matcher(spec: Any, field_name: str, where: tuple[Any, ...] = (), ignore_case: bool = False) -> Matcher:
    """Compile one field's matcher spec (scalar, list or operator mapping)."""
    if isinstance(spec, list):
        if not spec:
            raise MatcherError("an empty list matches nothing; remove the condition instead", where)
        return _any_of([compile_matcher(item, field_name, where + (i,), ignore_case) for i, item in enumerate(spec)])
    if not isinstance(spec, dict):
        return _scalar(spec, field_name, ignore_case, where)

    unknown = [k for k in spec if k not in ALL_OPS]
    if unknown:
        from bastion.policy.vocabulary import suggest

        hint = suggest(str(unknown[0]), ALL_OPS)
        msg = f"unknown matcher operator {unknown[0]!r}" + (f" (did you mean {hint!r}?)" if hint else "")
        raise MatcherError(msg, where + (unknown[0],))
    ic = spec.get("ignore_case", ignore_case)
    if not isinstance(ic, bool):
        raise MatcherError("ignore_case must be true or false", where + ("ignore_case",))

    parts: list[Matcher] = []
    for op, arg in spec.items():
        at = where + (op,)
        if op == "ignore_case":
            continue
        if op in PATTERN_OPS:
            items = arg if isinstance(arg, list) else [arg]
            if not items:
                raise MatcherError(f"{op} needs at least one pattern", at)
            pats = [_string_pattern(op, item, ic, at + ((i,) if isinstance(arg, list) else ())) for i, item in enumerate(items)]
            parts.append(Matcher(_each(_pattern_test(pats)), pats))
        elif op in NUMERIC_OPS:
            parts.append(Matcher(_each(_numeric_test(op, arg, at))))
        elif op == "equals":
            if isinstance(arg, (dict, list)):
                raise MatcherError("equals takes a single value", at)
            parts.append(_scalar(arg, "target", ic, at) if isinstance(arg, str) else Matcher(_each(lambda v, a=arg: v == a)))
        elif op == "not_equals":
            eq = _each(lambda v, a=arg: v == a)
            parts.append(Matcher(lambda v, eq=eq: not eq(v)))
        elif op in ("in", "not_in"):
            if not isinstance(arg, list):
                raise MatcherError(f"{op} takes a list", at)
            inner = _any_of([_scalar(item, "target", ic, at + (i,)) if isinstance(item, str) else Matcher(_each(lambda v, a=item: v == a)) for i, item in enumerate(arg)]) if arg else Matcher(lambda v: False)
            if op == "in":
                parts.append(inner)
            else:
                t = inner.test
                parts.append(Matcher(lambda v, t=t: not t(v)))
        elif op == "exists":
            if not isinstance(arg, bool):
                raise MatcherError("exists must be true or false", at)
            parts.append(Matcher(lambda v, want=arg: (v is not MISSING and v is not None) == want))
        elif op == "not":
            inner_m = compile_matcher(arg, field_name, at, ic)
            t = inner_m.test
            parts.append(Matcher(lambda v, t=t: not t(v)))
        elif op == "any":
            if not isinstance(arg, list) or not arg:
                raise MatcherError("any takes a non-empty list of matchers", at)
            parts.append(_any_of([compile_matcher(x, field_name, at + (i,), ic) for i, x in enumerate(arg)]))
        elif op == "all":
            if not isinstance(arg, list) or not arg:
                raise MatcherError("all takes a non-empty list of matchers", at)
            subs = [compile_matcher(x, field_name, at + (i,), ic).test for i, x in enumerate(arg)]
            parts.append(Matcher(lambda v, subs=subs: all(t(v) for t in subs)))
    if not parts:
        raise MatcherError("a matcher needs at least one operator", where)
    if len(parts) == 1:
        return parts[0]
    tests = [p.test for p in parts]
    return Matcher(lambda v: all(t(v) for t in tests))


# --------------------------------------------------------------------------- conditions


@dataclass
class Condition:
    """One `field: matcher` entry of a match/unless mapping."""

    field: str
    check: Check
    #: the condition is exactly "target matches any of these patterns" (indexable)
    target_patterns: list[Pattern] | None = None
    #: what a stateful condition (`session.did`) asks of session state (bastion.state.conditions)
    stateful: Any = None


def compile_condition(field_name: str, spec: Any, where: tuple[Any, ...]) -> Condition:
    if field_name == "session.did":
        from bastion.state.conditions import compile_did

        return compile_did(spec, where)
    if field_name == "time":
        from bastion.compile.timewindow import compile_time_window

        window = compile_time_window(spec, where)
        return Condition(field_name, lambda s, c: window(c))
    getter = compile_getter(field_name)
    # leaf tests are lifted with _each: a list value (tags, signals, facts lists)
    # matches when any element does; `not`/`not_in` then mean "no element matches".
    matcher = compile_matcher(spec, field_name, where)
    test = matcher.test
    matcher_patterns = matcher.patterns if field_name == "target" else None

    def check(s: Subject, c: EvalContext) -> bool:
        return test(getter(s, c))

    return Condition(field_name, check, matcher_patterns)
