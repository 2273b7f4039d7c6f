"""`bastion templates`: the built-in policies, and a copy to fork."""

from __future__ import annotations

import re
from pathlib import Path

import click

from bastion.cli.common import console, fail


@click.group()
def templates() -> None:
    """List, show and copy the built-in policies."""


@templates.command("list")
def list_templates() -> None:
    """List the built-in policies."""
    from rich.table import Table

    from bastion.policy.loader import builtin_names, builtin_path, parse_policy_file

    table = Table()
    for col in ("name", "layer", "default", "rules", "description"):
        table.add_column(col, overflow="fold")
    for name in builtin_names():
        doc, _ = parse_policy_file(builtin_path(name))
        default = doc.defaults.label if doc.defaults is not None else "-"
        extends = f" (extends {', '.join(doc.extends)})" if doc.extends else ""
        table.add_row(f"builtin:{name}", doc.layer.label, default, str(len(doc.rules)), (doc.description or "") + extends)
    console().print(table)


@templates.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Print a built-in policy's YAML."""
    click.echo(_path(name).read_text(encoding="utf-8"), nl=False)


@templates.command("init")
@click.argument("name")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def init(name: str, directory: str, force: bool) -> None:
    """Copy a built-in policy (and its tests) into DIRECTORY as an editable fork.

    The copy gets the id NAME (without builtin:) and keeps extending the same
    building blocks, so it stays valid as it is.
    """
    src = _path(name)
    base = src.stem
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{base}.yaml"
    if target.exists() and not force:
        fail(f"{target} exists (use --force to overwrite)")
    text = src.read_text(encoding="utf-8")
    text = re.sub(r"^policy:\s*builtin:(\S+)", r"policy: \1", text, count=1, flags=re.M)
    target.write_text(text, encoding="utf-8")
    written = [target]
    test_src = src.with_name(f"{base}_test.yaml")
    if test_src.is_file():
        test_target = out_dir / test_src.name
        if not test_target.exists() or force:
            test_target.write_text(test_src.read_text(encoding="utf-8").replace(f"builtin:{base}", f"./{base}.yaml"), encoding="utf-8")
            written.append(test_target)
    for w in written:
        click.echo(f"wrote {w}")


def _path(name: str) -> Path:
    from bastion.policy.loader import builtin_names, builtin_path

    bare = name.removeprefix("builtin:")
    path = builtin_path(bare)
    if not path.is_file():
        fail(f"unknown built-in policy {name!r}; available: {', '.join(builtin_names())}")
    return path
