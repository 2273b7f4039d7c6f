"""The `bastion` command line. One module per command group; each registers itself here."""

from __future__ import annotations

import importlib

import click

#: (module, attribute) of every command or group; imported when the CLI starts.
COMMANDS: list[tuple[str, str]] = [
    # -- core (policy language and engine)
    ("bastion.cli.check", "check"),
    ("bastion.cli.explain", "explain"),
    ("bastion.cli.validate", "validate"),
    ("bastion.cli.test", "test"),
    ("bastion.cli.templates", "templates"),
    ("bastion.cli.config", "config"),
    ("bastion.cli.demo", "demo"),
    # -- further command groups register below, one line each
    ("bastion.cli.secrets", "scan"),  # also adds "redact"
    ("bastion.cli.audit", "audit"),
    ("bastion.cli.hook", "hook"),
    ("bastion.cli.mcp_proxy", "mcp_proxy"),
    ("bastion.cli.approvals", "approvals"),
    ("bastion.cli.policy", "policy"),  # also adds "templates enable|fork"
    ("bastion.cli.sessions", "sessions"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bastion-policy", prog_name="bastion")
def main() -> None:
    """Bastion: a deterministic policy engine for AI-agent actions."""


def _register() -> None:
    for module_name, attr in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a command group not built yet
            if exc.name == module_name:
                continue
            raise
        main.add_command(getattr(module, attr))


_register()
