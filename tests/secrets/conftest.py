from __future__ import annotations

from pathlib import Path

import pytest

_CANDIDATES = [Path(__file__).resolve().parents[2].parent / "shared" / "corpora", Path("/work/shared/corpora")]


@pytest.fixture(scope="session")
def corpora() -> Path:
    for p in _CANDIDATES:
        if p.is_dir():
            return p
    pytest.skip("shared/corpora not available")
