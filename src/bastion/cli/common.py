"""Shared pieces of the CLI: options, loading the engine, reading actions, printing."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, Iterator

import click

from bastion.errors import ActionError, BastionError, PolicyError, Problem

EFFECT_STYLE = {
    "allow": "green",
    "log_only": "green",
    "alert": "yellow",
    "redact": "cyan",
    "require_approval": "magenta",
    "deny": "red",
    "terminate": "bold red",
}


def policy_option(f: Any) -> Any:
    return click.option(
        "--policy",
        "-p",
        "policies",
        multiple=True,
        metavar="P",
        help="Policy file, directory, or builtin:NAME (repeatable). Default: the configuration's policies.",
    )(f)


def db_option(f: Any) -> Any:
    """`--db` for the commands that work on the store (audit, approvals, policy)."""
    return click.option(
        "--db",
        default=None,
        metavar="URL",
        help="The store: a SQLite path or postgresql:// URL (default: $BASTION_DB, the configuration, .bastion/bastion.db).",
    )(f)


def config_option(f: Any) -> Any:
    return click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="Configuration file (default: ./bastion.yaml or $BASTION_CONFIG).")(f)


def load_config_or_exit(config_path: str | None, **flags: Any) -> Any:
    from bastion.config import load_config

    try:
        return load_config(config_path, flags=flags)
    except PolicyError as exc:
        print_problems(exc.problems)
        raise SystemExit(1) from None


def print_problems(problems: list[Problem], *, file: Any = None) -> None:
    out = file or sys.stderr
    for p in problems:
        print(str(p), file=out)


def build_engine(policies: tuple[str, ...] | list[str], config_path: str | None = None, **engine_kwargs: Any) -> Any:
    """An Engine for the given policies (or the configuration's); exit 1 with positions on errors."""
    from bastion.engine import Engine

    from bastion.state.backend import StateError

    cfg = load_config_or_exit(config_path, policies=list(policies) or None)
    try:
        return Engine.from_paths(cfg["policies"], **engine_kwargs)
    except PolicyError as exc:
        print_problems(exc.problems)
        raise SystemExit(1) from None
    except StateError as exc:  # e.g. an unreachable Redis: a clear error, not a traceback
        fail(str(exc))


def state_option(f: Any) -> Any:
    return click.option(
        "--state",
        "state_url",
        default=None,
        metavar="SPEC",
        help="Session state: memory, db (the store), a SQLite path or redis://... (default: $BASTION_STATE, "
        "else the store when --db/$BASTION_DB is given, else memory for this run).",
    )(f)


def redact_for_output(value: Any) -> Any:
    """Every structure the CLI prints passes through the secret redactor first."""
    redacted, _ = _redactor().redact_value(value)
    return redacted


_REDACTOR = None


def _redactor() -> Any:
    global _REDACTOR
    if _REDACTOR is None:
        from bastion.secrets import Redactor

        _REDACTOR = Redactor()
    return _REDACTOR


@dataclass
class InputItem:
    line: int
    action: Any = None  # bastion.model.Action
    error: str | None = None


def read_text(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        with open(source, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise click.UsageError(f"cannot read {source}: {exc.strerror}") from None


def parse_actions(text: str) -> Iterator[InputItem]:
    """One JSON action, a JSON array of actions, or JSON Lines (one action a line)."""
    stripped = text.strip()
    if not stripped:
        return
    whole: Any = None
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        yield _item(1, whole)
        return
    if isinstance(whole, list):
        for i, obj in enumerate(whole, 1):
            yield _item(i, obj)
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield InputItem(lineno, error=f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        yield _item(lineno, obj)


def _item(lineno: int, obj: Any) -> InputItem:
    from bastion.model import Action

    try:
        return InputItem(lineno, Action.from_dict(obj))
    except ActionError as exc:
        return InputItem(lineno, error=str(exc))


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # a pipe or a test runner gets a wide, stable layout instead of rich's 80 columns
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def effect_text(label: str) -> str:
    style = EFFECT_STYLE.get(label, "")
    return f"[{style}]{label}[/]" if style else label


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


__all__ = [
    "BastionError",
    "InputItem",
    "build_engine",
    "config_option",
    "console",
    "dumps",
    "effect_text",
    "fail",
    "parse_actions",
    "policy_option",
    "print_problems",
    "read_text",
    "redact_for_output",
]
