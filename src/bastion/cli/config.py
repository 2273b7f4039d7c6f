"""`bastion config`: the effective configuration and where each value came from."""

from __future__ import annotations

import json

import click

from bastion.cli.common import config_option, console, dumps, load_config_or_exit


@click.group()
def config() -> None:
    """Show the configuration."""


@config.command("show")
@config_option
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
def show(config_path: str | None, fmt: str) -> None:
    """Print every setting with its value and source (default, file:line, env, flag)."""
    from rich.table import Table

    from bastion.config import KEYS

    cfg = load_config_or_exit(config_path)
    if fmt == "json":
        click.echo(dumps({"file": cfg.file, "settings": cfg.to_dict()}))
        return
    table = Table(title=f"configuration ({cfg.file or 'no bastion.yaml; defaults and environment'})")
    for col in ("key", "value", "source", "meaning"):
        table.add_column(col, overflow="fold")
    for key, setting in cfg.settings.items():
        value = setting.value
        if key == "redaction_key" and value:
            value = "(set)"
        table.add_row(key, json.dumps(value), setting.source, KEYS[key].help)
    console().print(table)
