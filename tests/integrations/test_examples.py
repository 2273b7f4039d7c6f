"""The examples in examples/ run, and docs/integrations.md shows them as they are."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FS_SERVER = ROOT / ".venv-mcp" / "node_modules" / ".bin" / "mcp-server-filesystem"


def run(name: str, *args: str) -> str:
    r = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.stdout


def test_langgraph_example_prints_allowed_blocked_redacted():
    pytest.importorskip("langgraph")
    out = run("langgraph_agent.py")
    assert re.search(r"^BLOCKED\s+filesystem\.read \.env", out, re.M)
    assert re.search(r"^BLOCKED\s+shell\.exec rm -rf /", out, re.M)
    assert re.search(r"^ALLOWED\s+shell\.exec pytest -q", out, re.M)
    assert re.search(r"^APPROVED BY SAM@EXAMPLE\.COM\s+filesystem\.write src/auth/session\.py", out, re.M)
    assert "[REDACTED:aws_access_key:" in out and "AKIAIOSFODNN7EXAMPLE" not in out
    assert "final answer: All done." in out


def test_guard_example():
    out = run("guard_example.py")
    assert "[REDACTED:aws_access_key:" in out and "AKIAIOSFODNN7EXAMPLE" not in out
    assert "denied: Reading .env files is not allowed" in out and "needs approval by ['security-lead']" in out


def test_openai_agents_example():
    pytest.importorskip("agents")
    out = run("openai_agents_example.py")
    assert "approval needed for write_file" in out and out.strip().endswith("done")


def test_pydantic_ai_example():
    pytest.importorskip("pydantic_ai")
    out = run("pydantic_ai_example.py")
    assert "approval needed: Changes to authentication or payment code need approval" in out and out.strip().endswith("done")


@pytest.mark.skipif(not FS_SERVER.exists(), reason="npm MCP filesystem server not installed (scripts/extras)")
def test_mcp_proxy_example():
    pytest.importorskip("mcp")
    out = run("mcp_proxy_client.py", str(FS_SERVER))
    assert ".env: error=True: Bastion blocked this call" in out
    assert "notes.txt: error=False: deploy key [REDACTED:aws_access_key:" in out


def test_docs_show_the_examples_as_they_are():
    """Each `<!-- example: examples/X -->` block in docs/integrations.md is that file, verbatim."""
    doc = (ROOT / "docs" / "integrations.md").read_text()
    blocks = re.findall(r"<!-- example: (examples/[\w.]+) -->\n```(?:python|bash)\n(.*?)```", doc, re.S)
    assert {b[0] for b in blocks} >= {"examples/guard_example.py", "examples/langgraph_agent.py", "examples/openai_agents_example.py",
                                      "examples/pydantic_ai_example.py", "examples/mcp_proxy_client.py", "examples/crewai_example.py"}
    for path, code in blocks:
        assert code == (ROOT / path).read_text(), f"{path} differs from its copy in docs/integrations.md"
