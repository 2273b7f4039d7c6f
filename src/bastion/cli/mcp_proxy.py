"""`bastion mcp-proxy`: serve an upstream stdio MCP server's tools with every call decided by Bastion."""

from __future__ import annotations

import sys

import click

from bastion.cli.common import build_engine, config_option, policy_option


@click.command("mcp-proxy", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@policy_option
@config_option
@click.option("--name", default=None, help="Decide tools as mcp__NAME__TOOL (the names Claude Code uses).")
@click.option("--toolmap", "toolmaps", multiple=True, metavar="FILE", help="Extra tool-map YAML (in front of the built-in one).")
@click.option("--agent", "agent_id", default=None, help="Agent id recorded with each action.")
@click.option("--session", "session_id", default=None, help="Session id recorded with each action.")
@click.option("--environment", default=None, help="Environment of the actions (e.g. production).")
@click.option("--record", is_flag=True, help="Record every decision in the configuration's store (db), which also holds approval requests.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def mcp_proxy(policies: tuple[str, ...], config_path: str | None, name: str | None, toolmaps: tuple[str, ...], agent_id: str | None,
              session_id: str | None, environment: str | None, record: bool, command: tuple[str, ...]) -> None:
    """Start COMMAND (a stdio MCP server) and serve its tools over stdio, enforcing the policy.

    Put the upstream command after `--`:

        bastion mcp-proxy -p builtin:coding-agent -- npx @modelcontextprotocol/server-filesystem /repo
    """
    import anyio

    from bastion.integrations.enforce import Enforcer
    from bastion.integrations.mcp_proxy import run_stdio
    from bastion.integrations.toolmap import ToolMap

    cmd = list(command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise click.UsageError("give the upstream MCP server command after --")
    kwargs = {}
    if record:
        from bastion.approvals import approval_stage
        from bastion.cli.common import load_config_or_exit
        from bastion.store import open_store

        cfg = load_config_or_exit(config_path)
        store = open_store(cfg["db"])
        kwargs.update(store=store, stages=[approval_stage(store, cfg)])
    engine = build_engine(policies, config_path, **kwargs)
    toolmap = ToolMap.load(*toolmaps) if toolmaps else ToolMap.builtin()
    enforcer = Enforcer(engine, toolmap=toolmap, agent={"id": agent_id or "mcp-client"}, session=session_id, environment=environment)
    try:
        anyio.run(lambda: run_stdio(enforcer, cmd, name=name))
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()
    sys.exit(0)
