"""Shared fixtures. Tests needing services are marked (postgres, redis, browser) and run by .ci/run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def write_policy(tmp_path: Path):
    """Write a YAML policy (dedented) into tmp_path and return its path."""

    def _write(text: str, name: str = "policy.yaml", directory: Path | None = None) -> Path:
        d = directory or tmp_path
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return p

    return _write
