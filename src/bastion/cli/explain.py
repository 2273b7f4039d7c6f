"""`bastion explain`: decide one action and show why, step by step."""

from __future__ import annotations

import json
from typing import Any

import click

from bastion.cli.common import (
    build_engine,
    config_option,
    console,
    dumps,
    effect_text,
    load_config_or_exit,
    policy_option,
    read_text,
    redact_for_output,
    state_option,
)
from bastion.errors import ActionError


@click.command()
@policy_option
@click.argument("action_json", required=False, metavar="[ACTION_JSON]")
@click.option("--input", "-i", "source", default=None, metavar="FILE|-", help="Read the action from a file or stdin.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--db", default=None, metavar="URL", help="The store whose session state to consult (see check --db).")
@state_option
@config_option
def explain(policies: tuple[str, ...], action_json: str | None, source: str | None, fmt: str, db: str | None, state_url: str | None, config_path: str | None) -> None:
    """Explain the decision for one action: layers, analysed actions, matched rules
    with file:line, overridden rules, the winner and why."""
    from bastion.model import Action

    if action_json is None:
        action_json = read_text(source or "-")
    try:
        action = Action.from_json(action_json)
    except ActionError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    from bastion.state.config import cli_state

    cfg = load_config_or_exit(config_path, db=db)
    engine = build_engine(policies, config_path, state=cli_state(cfg, state=state_url, db=db))
    try:
        exp = engine.explain(action)
    finally:
        engine.close()
    data = redact_for_output(exp.to_dict())
    if fmt == "json":
        click.echo(dumps(data))
        return
    _render(data)


def _render(data: dict[str, Any]) -> None:
    out = console()
    d = data["decision"]
    out.print("[bold]Policies[/] (most authoritative layer first)")
    for p in data["policies"]:
        default = f", default {p['defaults']}" if p["defaults"] else ""
        out.print(f"  {p['layer']:<8} {p['id']} v{p['version']}  ({p['rules']} rules, {p['combine']}{default})")
    out.print("\n[bold]Evaluated[/]")
    for s in data["subjects"]:
        origin = f"  [dim]derived from {s['origin']}[/]" if s["origin"] else "  [dim](the action itself)[/]"
        facts = ", ".join(f"{k}={json.dumps(v)}" for k, v in s["facts"].items()) if s["facts"] else ""
        result = effect_text(s["effect"]) if s["effect"] else "[dim]no rule (adds nothing)[/]"
        out.print(f"  {s['capability']} {s['target'] or ''} -> {result}{' (default)' if s['default'] else ''}{origin}")
        if facts:
            out.print(f"      [dim]facts: {facts}[/]")
    out.print("\n[bold]Matched rules[/]")
    if not d["rules"]:
        out.print("  none")
    for r in d["rules"]:
        on = f"  [dim]on {r['subject']}[/]" if r.get("subject") else ""
        out.print(f"  {effect_text(r['effect']):<30} {r['policy']}/{r['rule']}  [dim]{r['layer']}, {r['source']}[/]{on}")
    if d.get("overridden"):
        out.print("\n[bold]Overridden[/]")
        for r in d["overridden"]:
            out.print(f"  {r['policy']}/{r['rule']} ({r['effect']}, {r['layer']}, {r['source']}): {r['why']}")
    from rich.markup import escape

    from bastion.state.render import render_state

    state_lines = render_state(d)
    if state_lines:
        out.print("\n[bold]Session state[/]")
        for line in state_lines:
            out.print(f"  {escape(line)}")
    out.print(f"\n[bold]Decision[/]: {effect_text(d['decision'])}  severity {d['severity']}, risk {d['risk_score']}")
    out.print(f"[bold]Why[/]: {d['reason']}")
    if d.get("approver_roles"):
        out.print(f"[bold]Approvers[/]: {', '.join(d['approver_roles'])}")
    if d.get("redactions"):
        out.print("[bold]Redactions[/]: " + ", ".join(f"{x['kind']} at {x['path']}" for x in d["redactions"]))
    if d.get("obligations", {}).get("alert"):
        out.print(f"[bold]Alerts[/]: {', '.join(d['obligations']['alert'])}")
