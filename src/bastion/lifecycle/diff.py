"""A rule-level diff of two versions of a policy: what a reviewer needs, not a text diff.

Both versions are parsed and compared as documents, so `effect: ask` and
`effect: require_approval` are the same, and a reordered YAML mapping is no change.
The diff lists changed top-level settings, then rules added, removed and changed
(field by field, nested conditions as dotted paths), and whether the order of rules
changed where order matters (`combine: first_match`).

`may_loosen` flags changes that can let through what was stopped before: a rule at
`require_approval` or stricter removed, disabled, given an `unless`, an expiry, or
narrower conditions (any change to its conditions counts: narrowing cannot be told
from widening without running it; that is what replay is for); an effect lowered;
defaults lowered; a rule made overridable. It is a prompt for review, not a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from bastion.model import Effect, Layer, Severity
from bastion.policy.document import Policy, Rule

_ABSENT = object()


def plain(value: Any) -> Any:
    """A document value as plain JSON-like data, effects and severities by name."""
    if isinstance(value, (Effect, Severity, Layer)):
        return value.label
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return plain(value.model_dump(mode="python", exclude_defaults=True))
    return value


@dataclass
class FieldChange:
    field: str
    old: Any = None
    new: Any = None
    #: "changed", "added" (absent before) or "removed" (absent after)
    kind: str = "changed"

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "kind": self.kind, "old": self.old, "new": self.new}

    def text(self) -> str:
        if self.kind == "added":
            return f"{self.field}: + {_show(self.new)}"
        if self.kind == "removed":
            return f"{self.field}: - {_show(self.old)}"
        return f"{self.field}: {_show(self.old)} → {_show(self.new)}"


@dataclass
class RuleChange:
    rule: str
    kind: str  # added | removed | changed
    fields: list[FieldChange] = field(default_factory=list)
    effect: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "kind": self.kind, "effect": self.effect, "fields": [f.to_dict() for f in self.fields]}


@dataclass
class PolicyDiff:
    name: str
    old_label: str
    new_label: str
    settings: list[FieldChange] = field(default_factory=list)
    rules: list[RuleChange] = field(default_factory=list)
    order_changed: bool = False
    loosening: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.settings or self.rules or self.order_changed)

    @property
    def may_loosen(self) -> bool:
        return bool(self.loosening)

    def ids(self, kind: str) -> list[str]:
        return [r.rule for r in self.rules if r.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.name,
            "from": self.old_label,
            "to": self.new_label,
            "settings": [f.to_dict() for f in self.settings],
            "rules": [r.to_dict() for r in self.rules],
            "order_changed": self.order_changed,
            "may_loosen": self.may_loosen,
            "loosening": list(self.loosening),
            "summary": {k: len(self.ids(k)) for k in ("added", "removed", "changed")},
        }

    def text(self) -> str:
        lines = [f"policy {self.name}: {self.old_label} → {self.new_label}"]
        if self.empty:
            lines.append("  no change in settings or rules")
        for f in self.settings:
            lines.append(f"  {f.text()}")
        for r in self.rules:
            mark = {"added": "+", "removed": "-", "changed": "~"}[r.kind]
            lines.append(f"  {mark} rule {r.rule}" + (f" ({r.effect})" if r.effect else ""))
            for f in r.fields:
                lines.append(f"      {f.text()}")
        if self.order_changed:
            lines.append("  rule order changed (combine: first_match, so order decides)")
        s = self.to_dict()["summary"]
        lines.append(f"  {s['added']} added, {s['removed']} removed, {s['changed']} changed")
        for why in self.loosening:
            lines.append(f"  ! may loosen: {why}")
        return "\n".join(lines)


def _show(v: Any) -> str:
    import json

    text = json.dumps(v, ensure_ascii=False, default=str, sort_keys=True) if not isinstance(v, str) else v
    return text if len(text) <= 120 else text[:117] + "..."


def _dict_changes(old: Any, new: Any, path: str, out: list[FieldChange], depth: int = 0) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict) and depth < 4:
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            _dict_changes(old.get(key, _ABSENT), new.get(key, _ABSENT), sub, out, depth + 1)
        return
    if old is _ABSENT:
        out.append(FieldChange(path, None, new, "added"))
    elif new is _ABSENT:
        out.append(FieldChange(path, old, None, "removed"))
    else:
        out.append(FieldChange(path, old, new))


_SETTINGS = ("policy", "version", "description", "layer", "extends", "defaults", "combine", "secrets", "metadata")
_CONDITIONS = ("match", "unless", "when")


def _rule_data(rule: Rule) -> dict[str, Any]:
    data = plain(rule.model_dump(mode="python", exclude_defaults=True))
    data["effect"] = rule.effect.label  # always shown, even when it is the default
    return data


def diff_policies(old: Policy | None, new: Policy, old_label: str = "(none)", new_label: str = "new") -> PolicyDiff:
    """Compare two parsed documents of one policy (old None: everything is added)."""
    d = PolicyDiff(new.policy, old_label, new_label)
    old_settings = {k: plain(getattr(old, k)) for k in _SETTINGS} if old is not None else {}
    new_settings = {k: plain(getattr(new, k)) for k in _SETTINGS}
    for key in _SETTINGS:
        o = old_settings.get(key, _ABSENT) if old is not None else _ABSENT
        n = new_settings[key]
        if old is None and (n is None or n == [] or n == {} or n == plain(Policy.model_fields[key].get_default(call_default_factory=True))):
            continue  # a new policy: show what it sets, not every default
        _dict_changes(o, n, key, d.settings)
    old_rules = {r.id: r for r in (old.rules if old is not None else [])}
    new_rules = {r.id: r for r in new.rules}
    for rid, rule in new_rules.items():
        if rid not in old_rules:
            d.rules.append(RuleChange(rid, "added", effect=rule.effect.label))
    for rid, rule in old_rules.items():
        if rid not in new_rules:
            d.rules.append(RuleChange(rid, "removed", effect=rule.effect.label))
            if rule.effect >= Effect.REQUIRE_APPROVAL and rule.enabled:
                d.loosening.append(f"rule {rid} ({rule.effect.label}) removed")
    for rid, rule in new_rules.items():
        before = old_rules.get(rid)
        if before is None:
            continue
        changes: list[FieldChange] = []
        _dict_changes(_rule_data(before), _rule_data(rule), "", changes)
        if changes:
            d.rules.append(RuleChange(rid, "changed", changes, effect=rule.effect.label))
            d.loosening.extend(_rule_loosening(before, rule, changes))
    if old is not None:
        common_old = [r.id for r in old.rules if r.id in new_rules]
        common_new = [r.id for r in new.rules if r.id in old_rules]
        d.order_changed = new.combine == "first_match" and common_old != common_new
        if d.order_changed:
            d.loosening.append("rule order changed under first_match")
        if old.defaults is not None and (new.defaults is None or new.defaults < old.defaults):
            d.loosening.append(f"defaults lowered from {old.defaults.label} to {new.defaults.label if new.defaults is not None else '(none)'}")
        if new.layer > old.layer:
            d.loosening.append(f"layer moved down from {old.layer.label} to {new.layer.label}")
        if old.combine != new.combine:
            d.loosening.append(f"combine changed from {old.combine} to {new.combine}")
    return d


def _rule_loosening(old: Rule, new: Rule, changes: list[FieldChange]) -> list[str]:
    out: list[str] = []
    rid = new.id
    if new.effect < old.effect:
        out.append(f"rule {rid}: effect lowered from {old.effect.label} to {new.effect.label}")
    if old.effect >= Effect.REQUIRE_APPROVAL:
        if old.enabled and not new.enabled:
            out.append(f"rule {rid} ({old.effect.label}) disabled")
        if any(c.field.split(".")[0] in _CONDITIONS for c in changes):
            out.append(f"rule {rid} ({old.effect.label}): conditions changed")
        if new.expires is not None and new.expires != old.expires:
            out.append(f"rule {rid} ({old.effect.label}) now expires {new.expires.isoformat()}")
        if new.overridable and not old.overridable:
            out.append(f"rule {rid} ({old.effect.label}) made overridable")
    if new.effect == Effect.REQUIRE_APPROVAL and old.effect == Effect.REQUIRE_APPROVAL:
        if new.on_timeout < old.on_timeout:
            out.append(f"rule {rid}: on_timeout lowered from {old.on_timeout.label} to {new.on_timeout.label}")
        oa, na = old.approvers, new.approvers
        if (oa is not None and na is None) or (oa is not None and na is not None and na.quorum < oa.quorum):
            out.append(f"rule {rid}: fewer approvers required")
        if oa is not None and na is not None and na.owner_may_approve and not oa.owner_may_approve:
            out.append(f"rule {rid}: the agent's owner may now approve")
    return out
