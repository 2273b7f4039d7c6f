"""`bastion check`: decide actions (JSON, a JSON array, or JSON Lines) against policies."""

from __future__ import annotations

import sys
from typing import Any

import click

from bastion.cli.common import (
    build_engine,
    config_option,
    console,
    dumps,
    effect_text,
    load_config_or_exit,
    parse_actions,
    policy_option,
    read_text,
    redact_for_output,
    state_option,
)


@click.command()
@policy_option
@click.option("--input", "-i", "source", default="-", metavar="FILE|-", help="Actions: one JSON object, a JSON array, or JSON Lines. Default: stdin.")
@click.option("--format", "-f", "fmt", type=click.Choice(["json", "jsonl", "text"]), default=None, help="Output format. Default: text on a terminal, jsonl otherwise.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when any decision is more restrictive than log_only (for CI).")
@click.option("--record", is_flag=True, help="Append the decisions to the audit log (see --db).")
@click.option("--db", default=None, metavar="URL", help="The store: a SQLite path or postgresql:// URL (default: $BASTION_DB or .bastion/bastion.db).")
@state_option
@config_option
def check(policies: tuple[str, ...], source: str, fmt: str | None, exit_code: bool, record: bool, db: str | None, state_url: str | None, config_path: str | None) -> None:
    """Decide actions against policies; one decision per action, in input order.

    Session state (escalation, rate limits, terminated sessions, ...) carries across
    the lines of one run, and across runs with --db or --state.

    A malformed action yields {"error": ..., "line": N} in its place and exit status 2
    at the end; the other actions are still decided.
    """
    from bastion.model import Effect
    from bastion.state.config import cli_state

    if fmt is None:
        fmt = "text" if sys.stdout.isatty() else "jsonl"
    cfg = load_config_or_exit(config_path, db=db)
    audit = None
    stages: list[Any] = []
    if record:
        audit = _open_audit(cfg["db"], cfg["audit"])
        from bastion.approvals import stage_for_check

        stages.append(stage_for_check(audit.store, cfg))  # require_approval -> a durable request with an approval_id
    engine = build_engine(policies, config_path, audit=audit, stages=stages, state=cli_state(cfg, state=state_url, db=db))
    items = list(parse_actions(read_text(source)))
    results: list[dict[str, Any]] = []
    bad = False
    restrictive = False
    try:
        for item in items:
            if item.error is not None:
                bad = True
                results.append({"error": item.error, "line": item.line})
                continue
            decision = engine.decide(item.action)
            if decision.decision > Effect.LOG_ONLY:
                restrictive = True
            out = decision.to_dict()
            results.append(redact_for_output(out))
    finally:
        engine.close()

    if fmt == "jsonl":
        for r in results:
            click.echo(dumps(r))
    elif fmt == "json":
        click.echo(dumps(results[0] if len(results) == 1 else results))
    else:
        _print_text(results, items)
    if bad:
        raise SystemExit(2)
    if exit_code and restrictive:
        raise SystemExit(1)


def _open_audit(db: str, settings: dict[str, Any]) -> Any:
    """A sync writer that owns its store (closed with the engine); `audit:` settings apply,
    except durability: a command that prints a decision has recorded it."""
    from bastion.store import StoreError, open_writer

    options = {k: v for k, v in (settings or {}).items() if k != "durability"}
    try:
        return open_writer(db, durability="sync", **options)
    except (StoreError, TypeError) as exc:
        raise click.UsageError(f"cannot open the audit log at {db}: {exc}") from None


def _print_text(results: list[dict[str, Any]], items: list[Any]) -> None:
    from rich.table import Table

    table = Table(show_lines=False)
    table.add_column("line", justify="right")
    table.add_column("action")
    table.add_column("decision")
    table.add_column("rule")
    table.add_column("reason", overflow="fold")
    for item, r in zip(items, results):
        if "error" in r:
            table.add_row(str(item.line), "-", "[red]error[/]", "", r["error"])
            continue
        a = item.action
        target = redact_for_output(a.target or "")
        what = f"{a.capability} {target}".strip()
        rule = next((x["rule"] for x in r["rules"] if x["effect"] == r["decision"]), "(default)" if r.get("default") else "")
        reason = r["reason"] + (f" (approval {r['approval_id']})" if r.get("approval_id") else "")
        table.add_row(str(item.line), what, effect_text(r["decision"]), rule, reason)
    console().print(table)
