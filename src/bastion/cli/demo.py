"""`bastion demo`: the main job on the embedded default, end to end.

Decides a bundled set of realistic coding-agent actions with builtin:coding-agent
(or the policies given) and prints what was allowed, blocked or sent for approval.
"""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources

import click

from bastion.cli.common import build_engine, console, effect_text, load_config_or_exit, policy_option, redact_for_output


@click.command()
@policy_option
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "jsonl"]), default="text")
@click.option("--db", default=None, metavar="URL", help="Record the decisions in this audit log (default: $BASTION_DB or .bastion/bastion.db).")
@click.option("--no-record", is_flag=True, help="Decide only; write no audit log.")
def demo(policies: tuple[str, ...], fmt: str, db: str | None, no_record: bool) -> None:
    """Decide a bundled set of coding-agent actions, record them in the audit log
    (SQLite by default) and verify its hash chain; print a table of decisions."""
    from rich.table import Table

    from bastion.model import Action

    audit = None
    db_url = None
    if not no_record:
        from bastion.cli.check import _open_audit

        cfg = load_config_or_exit(None, db=db)
        db_url = cfg["db"]
        audit = _open_audit(db_url, cfg["audit"])
    engine = build_engine(policies or ("builtin:coding-agent",), audit=audit)
    text = (resources.files("bastion") / "data" / "demo_actions.jsonl").read_text(encoding="utf-8")
    actions = [Action.from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]
    decisions = [engine.decide(a) for a in actions]
    engine.close()
    verified = _verify(db_url) if db_url else None
    if fmt == "jsonl":
        for d in decisions:
            click.echo(json.dumps(redact_for_output(d.to_dict())))
        return
    table = Table(title=f"bastion demo: {len(actions)} agent actions under {', '.join(policies or ('builtin:coding-agent',))}")
    table.add_column("#", justify="right")
    table.add_column("action", overflow="fold", max_width=48)
    table.add_column("decision")
    table.add_column("rule", overflow="fold")
    table.add_column("reason", overflow="fold")
    for i, (a, d) in enumerate(zip(actions, decisions), 1):
        winner = next((r for r in d.rules if r.effect == d.decision), None)
        rule = f"{winner.rule} ({winner.source})" if winner else "(default)"
        table.add_row(str(i), redact_for_output(f"{a.capability} {a.target or ''}"), effect_text(d.decision.label), rule, d.reason)
    out = console()
    out.print(table)
    counts = Counter(d.decision.label for d in decisions)
    out.print("  ".join(f"{effect_text(k)}: {v}" for k, v in sorted(counts.items())))
    if verified is not None:
        state = "[green]chain verified[/]" if verified.ok else f"[red]chain broken at record {verified.first_bad}: {verified.why}[/]"
        out.print(f"recorded {len(decisions)} decisions in the audit log {db_url} ({verified.checked} records, {state}); "
                  f"see them with: bastion audit query --db {db_url}")


def _verify(db_url: str):  # noqa: ANN202 - bastion.store.VerifyResult
    from bastion.store import open_store

    store = open_store(db_url)
    try:
        return store.verify()
    finally:
        store.close()
