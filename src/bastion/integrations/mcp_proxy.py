"""A policy-enforcing MCP proxy: Bastion between an MCP client and a stdio MCP server.

    bastion mcp-proxy --policy builtin:coding-agent -- npx @modelcontextprotocol/server-filesystem /repo

The proxy starts the upstream server as a child process (the official SDK's stdio
client), and serves the same tools over its own stdio (the SDK's low-level `Server`).
Every `tools/call` is mapped (tool map) and decided before it is forwarded:

* allowed calls are forwarded, with secrets in the arguments replaced by markers when
  the decision is `redact`;
* blocked calls return an MCP error result (`isError: true`) whose text is the reason;
* `require_approval` returns an error result with the approval id and the command that
  approves it; the same call, retried after approval, goes through (the approval store
  turns the re-decision into `allow`);
* every result's text and structured content is redacted before the client sees it.

Tool annotations from the upstream (`readOnlyHint`, ...) are passed on to the client as
they are, but decisions never depend on them: they are hints, not facts. Only tools are
proxied (resources and prompts are not, so they cannot bypass the policy). With
`--name fs`, tools are decided as `mcp__fs__TOOL`, the name Claude Code gives them, so
one policy reads the same through the hook and through the proxy.
"""

from __future__ import annotations

import logging
import sys
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, AsyncIterator, Sequence

import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.server.lowlevel.server import Server

from bastion.integrations.enforce import Enforcer, Verdict

log = logging.getLogger("bastion.mcp_proxy")

__all__ = ["McpProxy", "run_stdio"]

PROXY_NAME = "bastion-mcp-proxy"


class McpProxy:
    """Builds the proxy's MCP server; the upstream session lives for one client connection."""

    def __init__(self, enforcer: Enforcer, upstream: StdioServerParameters, *, name: str | None = None, errlog: Any = None) -> None:
        self.enforcer = enforcer
        self.upstream = upstream
        self.name = name
        self.errlog = errlog if errlog is not None else sys.stderr

    def tool_name(self, tool: str) -> str:
        """The name a call is decided under (`mcp__NAME__tool` when the proxy has a name)."""
        return f"mcp__{self.name}__{tool}" if self.name else tool

    # ------------------------------------------------------------------ upstream

    @asynccontextmanager
    async def _lifespan(self, server: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            read, write = await stack.enter_async_context(stdio_client(self.upstream, errlog=self.errlog))
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            yield {"upstream": session}

    # ------------------------------------------------------------------ handlers

    async def _list_tools(self, ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        session: ClientSession = ctx.lifespan_context["upstream"]
        tools: list[types.Tool] = []
        cursor = None
        for _ in range(1000):  # every page, served as one
            page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return types.ListToolsResult(tools=tools)

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        session: ClientSession = ctx.lifespan_context["upstream"]
        tool = params.name
        args = dict(params.arguments or {})
        verdict = self.enforcer.check_tool(self.tool_name(tool), args)
        if not verdict.proceed:
            return _error(verdict)
        try:
            result = await session.call_tool(tool, verdict.arguments_to_forward)
        except Exception as exc:  # the upstream failed: report it, redacted
            log.warning("upstream call of %s failed: %s", tool, type(exc).__name__)
            text = self.enforcer.redact_result(f"upstream error: {type(exc).__name__}: {exc}")
            return types.CallToolResult(content=[types.TextContent(type="text", text=str(text))], is_error=True)
        return self.redact_result(result)

    def redact_result(self, result: types.CallToolResult) -> types.CallToolResult:
        """Text, embedded text resources and structured content, with secrets replaced."""
        content: list[Any] = []
        for block in result.content:
            if isinstance(block, types.TextContent):
                block = block.model_copy(update={"text": str(self.enforcer.redact_result(block.text))})
            elif isinstance(block, types.EmbeddedResource) and isinstance(block.resource, types.TextResourceContents):
                res = block.resource.model_copy(update={"text": str(self.enforcer.redact_result(block.resource.text))})
                block = block.model_copy(update={"resource": res})
            content.append(block)
        update: dict[str, Any] = {"content": content}
        if result.structured_content is not None:
            update["structured_content"] = self.enforcer.redact_result(result.structured_content)
        return result.model_copy(update=update)

    def server(self) -> Server[Any]:
        return Server(
            PROXY_NAME,
            version=_version(),
            instructions="Tool calls pass through Bastion: some may be blocked or need approval; the result then says why.",
            lifespan=self._lifespan,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )


def _error(verdict: Verdict) -> types.CallToolResult:
    """An MCP error result the model can read; `_meta.bastion` carries the details for programs."""
    details: dict[str, Any] = {"decision": verdict.effect.label, "reason": verdict.decision.reason}
    if verdict.rule:
        details["rule"] = verdict.rule
    if verdict.approval_ids:
        details["approval_ids"] = verdict.approval_ids
    if verdict.retry_after is not None:
        details["retry_after"] = verdict.retry_after
    return types.CallToolResult(content=[types.TextContent(type="text", text=verdict.message)], is_error=True, _meta={"bastion": details})


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("bastion-policy")
    except Exception:
        return "0"


async def run_stdio(enforcer: Enforcer, command: Sequence[str], *, name: str | None = None, env: dict[str, str] | None = None, cwd: str | None = None) -> None:
    """Serve the proxy on this process's stdin/stdout until the client disconnects."""
    from mcp.server.stdio import stdio_server

    if not command:
        raise ValueError("no upstream MCP server command given")
    upstream = StdioServerParameters(command=command[0], args=list(command[1:]), env=env, cwd=cwd)
    proxy = McpProxy(enforcer, upstream, name=name)
    server = proxy.server()
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
