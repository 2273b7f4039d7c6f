"""Fixtures: a store on SQLite and on PostgreSQL (the store tests' fixtures), people, a clock."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Iterator

import pytest

_spec = importlib.util.spec_from_file_location("_bastion_store_fixtures_l", Path(__file__).parents[1] / "store" / "conftest.py")
_store_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_store_fixtures)

# the store tests' parametrised URL: SQLite, and PostgreSQL (marked postgres) on its own schema
pg_url = _store_fixtures.pg_url
store_url = _store_fixtures.store_url

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
def store(store_url: str) -> Iterator[Any]:
    from bastion.store import open_store

    st = open_store(store_url)
    try:
        yield st
    finally:
        st.close()


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


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()
