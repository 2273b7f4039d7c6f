"""`bastion hook`: enforcement hooks for coding agents (Claude Code).

    bastion hook claude-code [--policy P]...      # the PreToolUse hook itself (stdin -> stdout)
    bastion hook install claude-code [--project DIR] [--policy P]...
    bastion hook uninstall claude-code [--project DIR]
    bastion hook stop                             # end this user's hook daemons
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

#: marks the settings entries Bastion owns, so reinstalling replaces them and nothing else
MARKER = "hook_client.py claude-code"
FALLBACK_MARKER = "bastion hook claude-code"


def _client_path() -> str:
    from bastion.integrations import hook_client

    return os.path.abspath(hook_client.__file__)


@click.group("hook")
def hook() -> None:
    """Enforcement hooks for coding agents (Claude Code PreToolUse)."""


def _hook_options(f: Any) -> Any:
    f = click.option("--always-ask", is_flag=True, help="Answer require_approval with `ask` even when approvals are stored (Claude Code's user then approves).")(f)
    f = click.option("--passthrough-allow", is_flag=True, help="Give no answer for allowed calls: Claude Code's own permission rules then apply.")(f)
    f = click.option("--no-daemon", is_flag=True, help="Decide in this process (slow: compiles the policy on every call).")(f)
    f = click.option("--record", is_flag=True, help="Record every decision in the configuration's store (db), which also holds approval requests.")(f)
    f = click.option("--config", "config_path", default=None, help="Configuration file (default ./bastion.yaml).")(f)
    f = click.option("--toolmap", "toolmaps", multiple=True, metavar="FILE", help="Extra tool-map YAML (in front of the built-in one).")(f)
    f = click.option("--policy", "-p", "policies", multiple=True, metavar="P", help="Policy file, directory or builtin:NAME (default: the configuration's).")(f)
    return f


def _argv(policies: tuple[str, ...], toolmaps: tuple[str, ...], config_path: str | None, record: bool, no_daemon: bool, passthrough_allow: bool, always_ask: bool = False) -> list[str]:
    argv = ["claude-code"]
    for p in policies:
        argv += ["--policy", p]
    for t in toolmaps:
        argv += ["--toolmap", t]
    if config_path:
        argv += ["--config", config_path]
    for flag, on in (("--record", record), ("--no-daemon", no_daemon), ("--passthrough-allow", passthrough_allow), ("--always-ask", always_ask)):
        if on:
            argv.append(flag)
    return argv


@hook.command("claude-code")
@_hook_options
def claude_code(policies: tuple[str, ...], toolmaps: tuple[str, ...], config_path: str | None, record: bool, no_daemon: bool, passthrough_allow: bool, always_ask: bool) -> None:
    """Answer one Claude Code PreToolUse call: JSON on stdin, permission decision on stdout.

    Exit 0 with a JSON decision (allow, deny, ask, updatedInput for redactions); exit 2
    with the reason on stderr when the call must be blocked and no structured answer is
    possible. The compiled policy stays warm in a per-project daemon.
    """
    from bastion.integrations import hook_client

    code = hook_client.main(_argv(policies, toolmaps, config_path, record, no_daemon, passthrough_allow, always_ask))
    sys.exit(code)


def _settings_file(project: str, scope: str) -> Path:
    name = "settings.local.json" if scope == "local" else "settings.json"
    return Path(project) / ".claude" / name


def _load_settings(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path} is not valid JSON ({exc}); fix it first, nothing was changed") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path} does not hold a JSON object; nothing was changed")
    return data


def _write_settings(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".bastion-tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _ours(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    for h in entry.get("hooks") or []:
        cmd = h.get("command", "") if isinstance(h, dict) else ""
        if MARKER in cmd or FALLBACK_MARKER in cmd:
            return True
    return False


def hook_command(policies: tuple[str, ...], toolmaps: tuple[str, ...], config_path: str | None, record: bool, passthrough_allow: bool, fast: bool, always_ask: bool = False) -> str:
    """The command line Claude Code runs. Fast form: this Python, without the script directory on the path (-P) and without
    site (-S), running the stdlib-only client by path, so not even `bastion` is imported."""
    args = _argv(policies, toolmaps, config_path, record, False, passthrough_allow, always_ask)
    if fast:
        head = [sys.executable, "-P", "-S", _client_path()]
    else:
        exe = Path(sys.executable).with_name("bastion")
        head = [str(exe) if exe.exists() else "bastion", "hook"]
    return " ".join(shlex.quote(x) for x in head + args)


@hook.command("install")
@click.argument("agent", type=click.Choice(["claude-code"]))
@click.option("--project", default=".", show_default=True, type=click.Path(file_okay=False), help="The project whose .claude/settings.json gets the hook.")
@click.option("--scope", type=click.Choice(["project", "local"]), default="project", show_default=True, help="settings.json (shared) or settings.local.json (yours).")
@click.option("--matcher", default="*", show_default=True, help="Which tools the hook sees (Claude Code matcher).")
@click.option("--slow", is_flag=True, help="Call `bastion hook claude-code` instead of the fast client.")
@_hook_options
def install(agent: str, project: str, scope: str, matcher: str, slow: bool, policies: tuple[str, ...], toolmaps: tuple[str, ...], config_path: str | None, record: bool, no_daemon: bool, passthrough_allow: bool, always_ask: bool) -> None:
    """Add the Bastion PreToolUse hook to a project's Claude Code settings.

    Other settings and hooks are kept; an earlier Bastion entry is replaced. Relative
    policy paths are resolved when Claude Code runs the hook, from the project directory.
    """
    from bastion.integrations.claude_code import settings_entry

    path = _settings_file(project, scope)
    data = _load_settings(path)
    hooks = data.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise click.ClickException(f"{path}: `hooks` is not an object; nothing was changed")
    pre = hooks.setdefault("PreToolUse", [])
    if not isinstance(pre, list):
        raise click.ClickException(f"{path}: `hooks.PreToolUse` is not a list; nothing was changed")
    command = hook_command(policies, toolmaps, config_path, record, passthrough_allow, fast=not slow, always_ask=always_ask)
    if no_daemon:
        command += " --no-daemon"
    kept = [e for e in pre if not _ours(e)]
    replaced = len(pre) - len(kept)
    hooks["PreToolUse"] = kept + [settings_entry(command, matcher)]
    _write_settings(path, data)
    click.echo(f"{'updated' if replaced else 'installed'} the Bastion PreToolUse hook in {path}")
    click.echo(f"  command: {command}")


@hook.command("uninstall")
@click.argument("agent", type=click.Choice(["claude-code"]))
@click.option("--project", default=".", show_default=True, type=click.Path(file_okay=False))
@click.option("--scope", type=click.Choice(["project", "local"]), default="project", show_default=True)
def uninstall(agent: str, project: str, scope: str) -> None:
    """Remove Bastion's PreToolUse hook entries (and nothing else)."""
    path = _settings_file(project, scope)
    data = _load_settings(path)
    pre = (data.get("hooks") or {}).get("PreToolUse")
    if not isinstance(pre, list) or not any(_ours(e) for e in pre):
        click.echo(f"no Bastion hook in {path}")
        return
    data["hooks"]["PreToolUse"] = [e for e in pre if not _ours(e)]
    if not data["hooks"]["PreToolUse"]:
        del data["hooks"]["PreToolUse"]
    if not data["hooks"]:
        del data["hooks"]
    _write_settings(path, data)
    click.echo(f"removed the Bastion PreToolUse hook from {path}")


@hook.command("stop")
def stop() -> None:
    """Stop this user's hook daemons (they also stop by themselves when idle)."""
    import signal

    from bastion.integrations.hook_client import socket_dir

    stopped = 0
    for pid_file in Path(socket_dir()).glob("hook-*.sock.pid"):
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            stopped += 1
        except (ValueError, OSError):
            pass
    click.echo(f"stopped {stopped} hook daemon(s)")
