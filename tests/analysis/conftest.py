"""Fixtures for the analysis tests: analysers, engines with the built-in policies."""

from __future__ import annotations

import pytest

from bastion.analysis import Analyzer
from bastion.engine import Engine


@pytest.fixture(scope="session")
def analyzer() -> Analyzer:
    return Analyzer()


@pytest.fixture(scope="session")
def coding_agent() -> Engine:
    return Engine.from_paths(["builtin:coding-agent"])


@pytest.fixture(scope="session")
def read_only() -> Engine:
    return Engine.from_paths(["builtin:read_only"])
