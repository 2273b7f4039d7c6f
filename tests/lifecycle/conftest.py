"""Fixtures: people, a team policy, a policy store; `store`, `store_url` (SQLite and PostgreSQL) and `clock` come from tests/conftest.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

PEOPLE = {
    "dana@example.com": {"roles": ["owner"]},
    "omar@example.com": {"roles": ["owner"]},
    "sam@example.com": {"roles": ["security-lead", "owner"]},
    "lee@example.com": {"roles": ["security-lead"]},
}

TEAM_V1 = """\
policy: team-payments
version: "1"
layer: team
defaults: allow
rules:
  - id: deny-prod-db-writes
    match: {capability: database.query, environment: production, target: {regex: '(?i)^\\s*(update|delete|insert)'}}
    effect: deny
    reason: No writes to the production database
  - id: alert-egress
    match: {capability: network.request}
    effect: alert
"""


@pytest.fixture
def people() -> Any:
    from bastion.approvals import People

    return People.from_config(PEOPLE)


@pytest.fixture
def policies(store: Any, people: Any) -> Any:
    from bastion.lifecycle import PolicyStore

    return PolicyStore(store, people)


@pytest.fixture
def team_dir(tmp_path: Path) -> Path:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "team.yaml").write_text(TEAM_V1, encoding="utf-8")
    return d
