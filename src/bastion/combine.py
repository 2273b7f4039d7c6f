"""The combining algorithm: matched rules -> one effect, with the reasons.

Deterministic and documented in docs/semantics.md:
1. Within a policy every matching rule counts (or, with `combine: first_match`, only
   the first; that is applied while matching).
2. An `overridable` rule is replaced when any rule of a lower (more specific) layer
   matches the same action; it is then reported as overridden.
3. The result is the most restrictive effect among the remaining rules: so a lower
   layer can never loosen a non-overridable higher rule. A lower-layer rule that is
   less restrictive than such a higher rule is reported as having no effect.
4. Nothing matched: the default of the most specific layer that declares one, else deny.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from bastion.model import Effect, Layer


class Matched(Protocol):
    layer: Layer
    effect: Effect
    overridable: bool
    order: int


class Combined:
    """The outcome for one subject. Lists hold the matched rule objects given to combine()."""

    __slots__ = ("effect", "counted", "overridden", "winners", "default")

    def __init__(self, effect: Effect, counted: Sequence = (), overridden: Sequence = (), winners: Sequence = (), default: bool = False) -> None:
        self.effect = effect
        self.counted = counted  # rules that count, in evaluation order
        self.overridden = overridden  # (rule, why) pairs
        self.winners = winners  # counted rules whose effect is the result
        self.default = default  # nothing matched: a policy default decided

    def __repr__(self) -> str:
        return f"Combined({self.effect.label}, counted={len(self.counted)}, overridden={len(self.overridden)}, default={self.default})"


def combine(matched: Sequence[Matched], default: Effect) -> Combined:
    if not matched:
        return Combined(default, default=True)
    if len(matched) == 1:
        return Combined(matched[0].effect, matched, (), matched)
    lowest = max(m.layer for m in matched)  # the most specific layer with a match
    counted = []
    overridden = []
    for m in matched:
        if m.overridable and m.layer < lowest:
            overridden.append((m, f"overridable; replaced by a rule of the more specific {Layer(lowest).label} layer"))
        else:
            counted.append(m)
    effect = max(m.effect for m in counted)
    winners = [m for m in counted if m.effect == effect]
    # report lower-layer rules that tried to loosen a higher, non-overridable rule
    top = min(w.layer for w in winners)
    kept = []
    for m in counted:
        if m.layer > top and m.effect < effect:
            overridden.append((m, f"cannot loosen a {Layer(top).label}-layer rule"))
        else:
            kept.append(m)
    return Combined(effect, kept, overridden, winners)
