"""Rule examples: actions a rule must match and must not match.

Checked when policies load (a failing example is a load error) and by `bastion test`.
An example is an action mapping, or `{action: {...}, at: "2026-11-20T18:00:00Z"}`
to fix the clock for time-window rules. A rule "matches" an example when it matches
the action or any action derived from it by analysis, regardless of other rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from bastion.compile.compiler import CompiledPolicySet, CompiledRule
from bastion.compile.context import EvalContext
from bastion.errors import ActionError, Problem
from bastion.model import Action

#: examples without `at` are evaluated at this fixed instant (a Wednesday, 12:00 UTC),
#: so that loading a policy never depends on the wall clock.
EXAMPLE_EPOCH = datetime(2026, 1, 7, 12, 0, tzinfo=timezone.utc).timestamp()


@dataclass
class ExampleResult:
    rule: CompiledRule
    kind: str  # match | no_match
    index: int
    ok: bool
    message: str | None = None


def _example_action(item: Any) -> tuple[Action, float]:
    at = EXAMPLE_EPOCH
    if isinstance(item, dict) and "action" in item and "capability" not in item:
        extra = set(item) - {"action", "at", "history", "usage"}
        if extra:
            raise ActionError(f"unknown example key {sorted(extra)[0]!r} (expected action, at, history, usage)")
        if "at" in item:
            raw = item["at"]
            when = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            at = when.timestamp()
        item = item["action"]
    return Action.from_dict(item), at


def _example_state(item: Any, analyzer: Any, now: float) -> Any:
    """What the session did before (`history`) and its `usage`, for stateful rules (docs/state.md)."""
    if not (isinstance(item, dict) and ("history" in item or "usage" in item) and "capability" not in item):
        return None
    from bastion.state.examples import example_state

    return example_state(item.get("history"), item.get("usage"), now, analyzer)


def rule_matches_action(rule: CompiledRule, action: Action, analyzer: Any, now: float, secrets_fn: Any = None, state: Any = None) -> bool:
    ctx = EvalContext(now, action, secrets_fn, state)
    return any(rule.matches(s, ctx) for s in analyzer.analyze(action))


def run_rule_examples(compiled: CompiledPolicySet, analyzer: Any, secrets_fn: Any = None) -> list[ExampleResult]:
    results: list[ExampleResult] = []
    for rule in compiled.rules:
        examples = rule.src.rule.examples
        if examples is None:
            continue
        for kind, items, want in (("match", examples.match, True), ("no_match", examples.no_match, False)):
            for i, item in enumerate(items):
                try:
                    action, at = _example_action(item)
                    got = rule_matches_action(rule, action, analyzer, at, secrets_fn, _example_state(item, analyzer, at))
                except (ActionError, ValueError) as exc:
                    results.append(ExampleResult(rule, kind, i, False, f"invalid example: {exc}"))
                    continue
                except Exception as exc:  # a condition failed to evaluate
                    results.append(ExampleResult(rule, kind, i, False, f"error evaluating example: {type(exc).__name__}: {exc}"))
                    continue
                if got == want:
                    results.append(ExampleResult(rule, kind, i, True))
                else:
                    msg = "example should match this rule but does not" if want else "example should not match this rule but does"
                    results.append(ExampleResult(rule, kind, i, False, msg))
    return results


def check_rule_examples(compiled: CompiledPolicySet, analyzer: Any, secrets_fn: Any = None) -> list[Problem]:
    if secrets_fn is None:
        secrets_fn = _default_secrets_fn()
    problems = []
    for res in run_rule_examples(compiled, analyzer, secrets_fn):
        if not res.ok:
            problems.append(res.rule.src.problem(("examples", res.kind, res.index), res.message or "example failed"))
    return problems


def _default_secrets_fn() -> Any:
    try:
        from bastion.secrets import Redactor
    except ImportError:
        return None
    redactor = Redactor()
    return lambda action: redactor.summarise(action.to_dict())
