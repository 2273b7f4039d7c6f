"""Property-based tests of the combining algorithm."""

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.combine import combine
from bastion.engine import Engine
from bastion.model import Effect, Layer


@dataclass(frozen=True)
class R:
    layer: Layer
    effect: Effect
    overridable: bool
    order: int


rules_st = st.lists(
    st.builds(R, st.sampled_from(list(Layer)), st.sampled_from(list(Effect)), st.booleans(), st.integers(0, 1000)),
    max_size=8,
)
default_st = st.sampled_from(list(Effect))


@settings(max_examples=500, deadline=None)
@given(rules_st, default_st, st.builds(R, st.sampled_from(list(Layer)), st.sampled_from(list(Effect)), st.booleans(), st.integers(0, 1000)))
def test_adding_a_more_restrictive_rule_never_loosens(rules, default, extra):
    before = combine(rules, default).effect
    if extra.effect > before:
        assert combine(rules + [extra], default).effect >= before


@settings(max_examples=500, deadline=None)
@given(rules_st, default_st)
def test_result_is_at_least_every_non_overridable_rule(rules, default):
    result = combine(rules, default)
    for r in rules:
        if not r.overridable:
            assert result.effect >= r.effect
    if not rules:
        assert result.effect == default and result.default


@settings(max_examples=300, deadline=None)
@given(rules_st, default_st)
def test_order_of_matches_does_not_change_the_effect(rules, default):
    assert combine(rules, default).effect == combine(list(reversed(rules)), default).effect


def _policy(name, layer, rules):
    lines = [f"policy: {name}", f"layer: {layer.label}", "rules:"]
    for i, (effect, overridable) in enumerate(rules):
        lines.append(f"  - {{id: r{i}, match: {{capability: act}}, effect: {effect.label}, overridable: {str(overridable).lower()}}}")
    if not rules:
        lines[-1] = "rules: []"
    return "\n".join(lines) + "\n"


layer_rules = st.lists(st.tuples(st.sampled_from(list(Effect)), st.booleans()), max_size=3)


@settings(max_examples=150, deadline=None)
@given(layer_rules, layer_rules, st.sampled_from(list(Effect)))
def test_engine_lower_layer_never_loosens_non_overridable_higher_rule(high_rules, low_rules, extra_effect):
    texts = {"h.yaml": _policy("high", Layer.ORG, high_rules), "l.yaml": _policy("low", Layer.AGENT, low_rules)}
    d = Engine.from_texts(texts).decide({"capability": "act"})
    for effect, overridable in high_rules:
        if not overridable:
            assert d.decision >= effect
    # adding a more restrictive lower-layer rule never loosens
    texts["l.yaml"] = _policy("low", Layer.AGENT, low_rules + [(extra_effect, False)])
    d2 = Engine.from_texts(texts).decide({"capability": "act"})
    if extra_effect > d.decision:
        assert d2.decision >= d.decision
