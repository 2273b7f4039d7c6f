"""The MCP proxy driven by the official SDK client, in front of the npm filesystem server.

    python examples/mcp_proxy_client.py [PATH-TO-mcp-server-filesystem]
"""

import sys
import tempfile
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

server = sys.argv[1] if len(sys.argv) > 1 else ".venv-mcp/node_modules/.bin/mcp-server-filesystem"
root = Path(tempfile.mkdtemp())
(root / ".env").write_text("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n")
(root / "notes.txt").write_text("deploy key AKIAIOSFODNN7EXAMPLE\n")
bastion = str(Path(sys.executable).with_name("bastion"))
proxy = StdioServerParameters(command=bastion, args=["mcp-proxy", "--policy", "builtin:coding-agent", "--", str(Path(server).resolve()), str(root)])


async def main() -> None:
    async with Client(proxy) as client:
        print("tools:", ", ".join(sorted(t.name for t in (await client.list_tools()).tools)))
        for path in (".env", "notes.txt"):
            result = await client.call_tool("read_text_file", {"path": str(root / path)})
            print(f"{path}: error={result.is_error}: {result.content[0].text.strip()}")


anyio.run(main)
