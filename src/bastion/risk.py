"""The risk score: a documented, deterministic number from 0 to 100.

    score = severity base + environment + classification + risk tier + signals, capped at 100

| part           | values                                                                 |
| -------------- | ---------------------------------------------------------------------- |
| severity base  | low 10, medium 35, high 60, critical 80                                |
| environment    | production/prod +15, staging/stage +5, anything else 0                 |
| classification | restricted/secret/pii/phi/pci +15, confidential +10, internal +5, public 0 |
| risk tier      | critical +15, high +10, medium +5, low 0                               |
| signals        | +5 for each caller-supplied risk signal, at most +15                   |
"""

from __future__ import annotations

from bastion.model import Action, Severity

SEVERITY_BASE = {Severity.LOW: 10, Severity.MEDIUM: 35, Severity.HIGH: 60, Severity.CRITICAL: 80}
ENVIRONMENT = {"production": 15, "prod": 15, "staging": 5, "stage": 5}
CLASSIFICATION = {
    "restricted": 15,
    "secret": 15,
    "pii": 15,
    "phi": 15,
    "pci": 15,
    "confidential": 10,
    "internal": 5,
    "public": 0,
}
TIER = {"critical": 15, "high": 10, "medium": 5, "low": 0}


_memo: dict[tuple, int] = {}


def risk_score(severity: Severity, action: Action) -> int:
    resource, risk = action.resource, action.risk
    if action.environment is None and resource.classification is None and risk.tier is None and not risk.signals:
        return SEVERITY_BASE[severity]  # nothing else to weigh: the common case, no memo lookup
    key = (severity, action.environment, action.resource.classification, action.risk.tier, len(action.risk.signals))
    score = _memo.get(key)
    if score is None:
        score = _score(severity, action)
        if len(_memo) < 4096:
            _memo[key] = score
    return score


def _score(severity: Severity, action: Action) -> int:
    score = SEVERITY_BASE[severity]
    if action.environment:
        score += ENVIRONMENT.get(action.environment.lower(), 0)
    classification = action.resource.classification
    if classification:
        score += CLASSIFICATION.get(classification.lower(), 0)
    if action.risk.tier:
        score += TIER.get(action.risk.tier.lower(), 0)
    score += min(15, 5 * len(action.risk.signals))
    return min(100, score)
