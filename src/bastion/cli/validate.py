"""`bastion validate`: check policies; every error with file, line and field."""

from __future__ import annotations

import click

from bastion.cli.common import dumps, print_problems
from bastion.errors import PolicyError


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="P...")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
def validate(paths: tuple[str, ...], strict: bool, fmt: str) -> None:
    """Validate policy files, directories or builtin:NAME.

    Errors: schema violations, unknown fields, invalid patterns or CEL, failing rule
    examples. Warnings: unknown capabilities, rules that try to loosen a higher
    layer, shadowed rules, rules without examples. Exit 1 on errors.
    """
    from bastion.engine import Engine
    from bastion.policy.lint import lint

    problems = []
    engine = None
    try:
        engine = Engine.from_paths(list(paths))
    except PolicyError as exc:
        problems.extend(exc.problems)
    if engine is not None:
        problems.extend(lint(engine.policies, engine._analyzer, engine._secrets_summary if engine._redactor else None))
    errors = [p for p in problems if p.level == "error"]
    warnings = [p for p in problems if p.level != "error"]
    if fmt == "json":
        click.echo(dumps({"valid": not errors, "problems": [p.to_dict() for p in problems]}))
    else:
        print_problems(errors + warnings, file=None)
        if not problems:
            n = len(engine.policies.rules) if engine else 0
            click.echo(f"ok: {len(engine.policies.policies) if engine else 0} policies, {n} rules", err=True)
        else:
            click.echo(f"{len(errors)} error(s), {len(warnings)} warning(s)", err=True)
    if errors or (strict and warnings):
        raise SystemExit(1)
