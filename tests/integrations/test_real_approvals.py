"""The adapters with the real approval store (issue 7): ids reach the approver, only the store approves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bastion.approvals import ApprovalService, ApprovalStage, People
from bastion.engine import Engine
from bastion.integrations.enforce import Enforcer
from bastion.integrations.guard import ApprovalRequired, guard
from bastion.store import open_store

from .conftest import POLICY

APPROVER = "sam@example.com"


@pytest.fixture
def stack(tmp_path: Path):
    store = open_store(str(tmp_path / "bastion.db"))
    service = ApprovalService(store, People.from_config({APPROVER: {"roles": ["platform-lead", "security-lead"]}}))
    engine = Engine.from_paths([str(POLICY)], store=store, stages=[ApprovalStage(service)], check_examples=False)
    yield engine, service
    engine.close()


def test_guard_with_the_store(stack):
    engine, service = stack
    ran = []

    @guard(tool="deploy", enforcer=Enforcer(engine, agent={"id": "coder-7"}))
    def deploy(service_name: str) -> str:
        ran.append(service_name)
        return "deployed"

    with pytest.raises(ApprovalRequired) as err:
        deploy("api")
    aid = err.value.approval_id
    assert aid and ran == [] and f"bastion approvals approve {aid}" in str(err.value)
    service.approve(aid, APPROVER, "release 4.2")
    assert deploy("api") == "deployed" and ran == ["api"]
    with pytest.raises(ApprovalRequired):
        deploy("api")  # approved once


def test_langgraph_with_the_store(stack, side):
    pytest.importorskip("langgraph")
    from bastion.integrations.langgraph import tool_node

    from .test_langgraph import ScriptedChatModel, as_tools, calls, graph, run

    engine, service = stack
    model = ScriptedChatModel(messages=iter([calls(("deploy", {"service": "api"})), "done"]))
    app = graph(model, tool_node(as_tools(side), Enforcer(engine)))
    out = run(app)
    aid = out["__interrupt__"][0].value["approval_id"]
    assert aid and side.log == []
    service.approve(aid, APPROVER, "ok")
    out = run(app, resume=True)
    assert side.log == [("deploy", "api")] and out["messages"][-1].content == "done"


def test_mcp_proxy_with_the_store(stack, tmp_path):
    pytest.importorskip("mcp")
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from bastion.integrations.mcp_proxy import McpProxy

    from .test_mcp_proxy import FS_SERVER, text

    if not FS_SERVER.exists():
        pytest.skip("npm MCP filesystem server not installed (scripts/extras)")
    engine, service = stack
    root = (tmp_path / "ws").resolve()
    (root / "approval-needed").mkdir(parents=True)
    proxy = McpProxy(Enforcer(engine), StdioServerParameters(command=str(FS_SERVER), args=[str(root)]), errlog=open(os.devnull, "w"))
    args = {"path": str(root / "approval-needed" / "plan.txt"), "content": "the plan"}

    async def main():
        async with Client(proxy.server()) as c:
            r = await c.call_tool("write_file", args)
            assert r.is_error
            (aid,) = r.meta["bastion"]["approval_ids"]
            assert f"bastion approvals approve {aid}" in text(r)
            service.approve(aid, APPROVER, "fine")
            r = await c.call_tool("write_file", args)
            assert not r.is_error, text(r)

    anyio.run(main)
    assert (root / "approval-needed" / "plan.txt").read_text() == "the plan"
