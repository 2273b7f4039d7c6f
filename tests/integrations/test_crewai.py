"""Runs the CrewAI adapter's tests in their own environment (.venv-crewai, built by scripts/extras).

CrewAI pins openai<3, mcp<2 and pydantic<2.13, so it cannot share the main environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CREWAI_PY = Path(os.environ.get("BASTION_CREWAI_PYTHON", ROOT / ".venv-crewai" / "bin" / "python"))


def _crewai_here() -> bool:
    try:
        import crewai  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(_crewai_here(), reason="crewai is importable here: tests/integrations/crewai_env runs directly")
@pytest.mark.skipif(not CREWAI_PY.exists(), reason=f"no CrewAI environment at {CREWAI_PY} (scripts/extras builds it)")
def test_crewai_suite_in_its_own_environment():
    r = subprocess.run([str(CREWAI_PY), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
                        str(Path(__file__).parent / "crewai_env")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    tail = (r.stdout + r.stderr)[-3000:]
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and " failed" not in r.stdout, tail
    assert sys.executable != str(CREWAI_PY)
