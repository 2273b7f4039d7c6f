"""Checks beyond validity, for `bastion validate`: what a reviewer should know.

- unknown capabilities (custom names are allowed, so this warns, with "did you mean");
- lower-layer rules that try to loosen a non-overridable higher-layer rule and so
  have no effect (shown with a witness: one of the lower rule's own examples);
- rules shadowed by an earlier rule of a `first_match` policy;
- rules without examples.
Warnings never change a decision; they point at rules that do not do what they say.
"""

from __future__ import annotations

from typing import Any

from bastion.compile.compiler import CompiledPolicySet, CompiledRule
from bastion.errors import Problem
from bastion.examples import EXAMPLE_EPOCH, rule_matches_action
from bastion.model import Action
from bastion.policy.vocabulary import known_capabilities, suggest


def _capabilities(rule: CompiledRule) -> list[str]:
    spec = rule.src.rule.match.get("capability")
    if spec is None:
        return []
    return [c for c in (spec if isinstance(spec, list) else [spec]) if isinstance(c, str)]


def _is_unconditional(rule: CompiledRule) -> bool:
    """The rule matches every action of its capabilities (no condition, budget or history)."""
    m = rule.src.rule.match
    stateless = rule.state is None or (rule.state.budget is None and not rule.state.did)
    return set(m) <= {"capability"} and not rule.unless and rule.when is None and stateless


def _match_examples(rule: CompiledRule) -> list[Action]:
    ex = rule.src.rule.examples
    out = []
    for item in ex.match if ex else []:
        if isinstance(item, dict) and "action" in item and "capability" not in item:
            item = item["action"]
        try:
            out.append(Action.from_dict(item))
        except Exception:
            continue
    return out


def _overlap(a: CompiledRule, b: CompiledRule) -> bool:
    caps_a, caps_b = _capabilities(a), _capabilities(b)
    if not caps_a or not caps_b:
        return True
    return any(a.applies_to_capability(c) or b.applies_to_capability(c) for c in caps_a + caps_b if "*" not in c) or any(
        "*" in c for c in caps_a + caps_b
    )


def lint(compiled: CompiledPolicySet, analyzer: Any, secrets_fn: Any = None) -> list[Problem]:
    problems: list[Problem] = []
    known = known_capabilities()
    for rule in compiled.rules:
        for cap in _capabilities(rule):
            if "*" in cap or "?" in cap or cap in known:
                continue
            hint = suggest(cap, known)
            if hint:
                problems.append(rule.src.problem(("match", "capability"), f"unknown capability {cap!r} (did you mean {hint!r}?)", "warning"))
        if rule.src.rule.examples is None or not (rule.src.rule.examples.match or rule.src.rule.examples.no_match):
            problems.append(rule.src.problem((), f"rule {rule.rule_id!r} has no examples", "warning"))

    examples = {id(r): _match_examples(r) for r in compiled.rules}

    def matched_by(rule: CompiledRule, action: Action) -> bool:
        try:
            return rule_matches_action(rule, action, analyzer, EXAMPLE_EPOCH, secrets_fn)
        except Exception:
            return False

    # lower layers that try to loosen a higher, non-overridable rule
    for low in compiled.rules:
        for high in compiled.rules:
            if high.layer >= low.layer or high.overridable or high.effect <= low.effect:
                continue
            if not _overlap(low, high):
                continue
            witness = next((a for a in examples[id(low)] if matched_by(high, a)), None)
            if witness is not None:
                what = f"{witness.capability} {witness.target or ''}".strip()
            elif _is_unconditional(high) and set(_capabilities(low)) and all(high.applies_to_capability(c) for c in _capabilities(low) if "*" not in c):
                what = "every action it matches"
            else:
                continue
            problems.append(
                low.src.problem(
                    ("effect",),
                    f"rule {low.rule_id!r} ({low.effect.label}, layer {low.layer.label}) cannot loosen {high.key} "
                    f"({high.effect.label}, layer {high.layer.label}, {high.source}) for {what}: it has no effect there",
                    "warning",
                )
            )

    # shadowed rules in first_match policies
    by_policy: dict[str, list[CompiledRule]] = {}
    for r in compiled.rules:
        if r.first_match:
            by_policy.setdefault(r.policy, []).append(r)
    for rules in by_policy.values():
        for j, later in enumerate(rules):
            for earlier in rules[:j]:
                exs = examples[id(later)]
                shadowed = bool(exs) and all(matched_by(earlier, a) for a in exs)
                if not shadowed and _is_unconditional(earlier):
                    caps = _capabilities(later)
                    shadowed = not _capabilities(earlier) or (bool(caps) and all(earlier.applies_to_capability(c) for c in caps if "*" not in c))
                if shadowed:
                    problems.append(later.src.problem((), f"rule {later.rule_id!r} is shadowed by the earlier rule {earlier.rule_id!r} ({earlier.source}) in this first_match policy", "warning"))
                    break
    return problems
