"""MCP proxy: the official SDK client drives the proxy in front of the real npm filesystem server."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

from bastion.engine import Engine  # noqa: E402
from bastion.integrations.enforce import Enforcer  # noqa: E402
from bastion.integrations.mcp_proxy import McpProxy  # noqa: E402

from .conftest import POLICY, SECRET  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FS_SERVER = Path(os.environ.get("BASTION_MCP_FS_SERVER", ROOT / ".venv-mcp" / "node_modules" / ".bin" / "mcp-server-filesystem"))

needs_npm = pytest.mark.skipif(not FS_SERVER.exists() or not shutil.which("node"),
                                reason=f"npm @modelcontextprotocol/server-filesystem not installed at {FS_SERVER} (scripts/extras installs it)")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "notes.txt").write_text(f"deploy notes\nAWS_ACCESS_KEY_ID={SECRET}\n")
    (root / ".env").write_text(f"AWS_ACCESS_KEY_ID={SECRET}\n")
    (root / "src" / "app.py").write_text("print('hi')\n")
    return root.resolve()


def upstream(root: Path) -> StdioServerParameters:
    return StdioServerParameters(command=str(FS_SERVER), args=[str(root)])


def text(result) -> str:
    return "\n".join(getattr(b, "text", "") for b in result.content)


def dump(result) -> str:
    return json.dumps(result.model_dump(mode="json", by_alias=True))


@needs_npm
def test_proxy_in_process(workspace, approvals):
    engine = Engine.from_paths([str(POLICY)], stages=[approvals], check_examples=False)
    proxy = McpProxy(Enforcer(engine), upstream(workspace), errlog=open(os.devnull, "w"))

    async def main():
        async with Client(upstream(workspace)) as direct:
            upstream_tools = sorted(t.name for t in (await direct.list_tools()).tools)
        async with Client(proxy.server()) as c:
            tools = sorted(t.name for t in (await c.list_tools()).tools)
            assert tools == upstream_tools and "read_text_file" in tools

            # allowed; the secret in the result never reaches the client (text or structured content)
            r = await c.call_tool("read_text_file", {"path": str(workspace / "notes.txt")})
            assert not r.is_error and "deploy notes" in text(r)
            assert SECRET not in dump(r) and "[REDACTED:aws_access_key:" in text(r)

            # denied: an error result with the reason
            r = await c.call_tool("read_text_file", {"path": str(workspace / ".env")})
            assert r.is_error and "Reading .env files is not allowed" in text(r)
            assert r.meta["bastion"]["decision"] == "deny" and SECRET not in dump(r)

            # a denied write never happens
            r = await c.call_tool("write_file", {"path": str(workspace / "protected" / "x.txt"), "content": "x"})
            assert r.is_error and "protected/" in text(r)
            assert not (workspace / "protected" / "x.txt").exists()

            # a redacted argument reaches the server redacted
            r = await c.call_tool("write_file", {"path": str(workspace / "src" / "cfg.py"), "content": f"KEY = '{SECRET}'\n"})
            assert not r.is_error, text(r)
            written = (workspace / "src" / "cfg.py").read_text()
            assert SECRET not in written and "[REDACTED:aws_access_key:" in written

            # approval: an error with the id and how to approve; the retry after approval goes through
            target = workspace / "approval-needed" / "plan.txt"
            (workspace / "approval-needed").mkdir()
            args = {"path": str(target), "content": "the plan"}
            r = await c.call_tool("write_file", args)
            assert r.is_error and "apr-1" in text(r) and "bastion approvals approve apr-1" in text(r)
            assert r.meta["bastion"]["approval_ids"] == ["apr-1"] and not target.exists()
            approvals.approve("apr-1")
            r = await c.call_tool("write_file", args)
            assert not r.is_error, text(r)
            assert target.read_text() == "the plan"
            r = await c.call_tool("write_file", args)  # the approval was for one call
            assert r.is_error and "apr-2" in text(r)

            # an unknown tool name is still decided (and the upstream reports it unknown)
            r = await c.call_tool("no_such_tool", {"path": str(workspace / ".env")})
            assert r.is_error and "Reading .env files is not allowed" in text(r)

    anyio.run(main)


@needs_npm
def test_proxy_as_a_process(workspace, tmp_path):
    """`bastion mcp-proxy -- SERVER ROOT`, started and driven by the SDK's stdio client."""
    bastion = Path(sys.executable).with_name("bastion")
    params = StdioServerParameters(command=str(bastion), args=["mcp-proxy", "--policy", str(POLICY), "--name", "fs", "--", str(FS_SERVER), str(workspace)],
                                   env={k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH", "LANG")}, cwd=str(tmp_path))

    async def main():
        async with Client(params) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            assert {"read_text_file", "write_file", "list_directory"} <= names
            r = await c.call_tool("read_text_file", {"path": str(workspace / ".env")})
            assert r.is_error and "Reading .env files is not allowed" in text(r)
            r = await c.call_tool("list_directory", {"path": str(workspace)})
            assert not r.is_error and "notes.txt" in text(r)
            r = await c.call_tool("read_text_file", {"path": str(workspace / "notes.txt")})
            assert not r.is_error and SECRET not in dump(r)

    anyio.run(main)


def test_annotations_are_hints_pages_are_merged_and_results_redacted(tmp_path, shared_engine):
    """A third-party server that paginates tools/list and claims delete_file is read-only."""
    log = tmp_path / "calls.log"
    log.touch()
    server = StdioServerParameters(command=sys.executable, args=[str(Path(__file__).parent / "data" / "lying_mcp_server.py"), str(log)])
    proxy = McpProxy(Enforcer(shared_engine), server, errlog=open(os.devnull, "w"))

    async def main():
        async with Client(proxy.server()) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert set(tools) == {"read_file", "delete_file"}  # both pages, served as one
            assert tools["delete_file"].annotations.read_only_hint is True  # passed on as given...
            r = await c.call_tool("delete_file", {"path": "/srv/app/protected/db.sqlite"})
            assert r.is_error and "protected/" in text(r)  # ...but decided as a delete
            r = await c.call_tool("read_file", {"path": "/srv/app/notes.txt"})
            assert not r.is_error and SECRET not in dump(r) and "[REDACTED:aws_access_key:" in str(r.structured_content)

    anyio.run(main)
    assert log.read_text().splitlines() == ["read_file {'path': '/srv/app/notes.txt'}"]
