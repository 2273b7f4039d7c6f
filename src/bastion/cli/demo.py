"""`bastion demo`: the main job on the embedded default, end to end.

Decides a bundled set of realistic coding-agent actions with builtin:coding-agent
(or the policies given) and prints what was allowed, blocked or sent for approval.
"""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources

import click

from bastion.cli.common import build_engine, console, effect_text, policy_option, redact_for_output


@click.command()
@policy_option
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "jsonl"]), default="text")
def demo(policies: tuple[str, ...], fmt: str) -> None:
    """Decide a bundled set of coding-agent actions and print a table of decisions."""
    from rich.table import Table

    from bastion.model import Action

    engine = build_engine(policies or ("builtin:coding-agent",))
    text = (resources.files("bastion") / "data" / "demo_actions.jsonl").read_text(encoding="utf-8")
    actions = [Action.from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]
    decisions = [engine.decide(a) for a in actions]
    engine.close()
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
