"""`bastion approvals`: list, show, approve, deny and cancel approval requests; deliver notifications.

The store comes from `--db URL`, else `BASTION_DB`, else the configuration's `db`; the
approvers and their roles from the configuration's `people` section. Every change is
an audit record; a refused vote is too.
"""

from __future__ import annotations

import functools
import getpass
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import click

from bastion.cli.common import config_option, console, db_option, dumps, load_config_or_exit, redact_for_output


def _errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Refusals exit 1 with the rule that refused; store and configuration errors exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from bastion.approvals.duties import ApprovalError
        from bastion.approvals.notify import NotificationConfigError
        from bastion.approvals.people import PeopleError
        from bastion.store import StoreError

        try:
            return fn(*args, **kwargs)
        except ApprovalError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
        except (StoreError, PeopleError, NotificationConfigError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None

    return wrapper


@contextmanager
def open_service(db: str | None, config_path: str | None, *, notify: bool = False) -> Iterator[Any]:
    """The approval service on the configured store (notifications off unless asked); closes the store."""
    from bastion.approvals.setup import service_from_config
    from bastion.store import open_store

    cfg = load_config_or_exit(config_path, db=db)
    service = service_from_config(open_store(cfg["db"]), cfg, notify=notify)
    try:
        yield service
    finally:
        service.store.close()


def parse_until(text: str, now: datetime | None = None) -> float:
    """An ISO 8601 time, or a duration from now (8h, 30m, 2d)."""
    from bastion.policy.document import parse_duration

    now = now or datetime.now(timezone.utc)
    try:
        return now.timestamp() + parse_duration(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither an ISO 8601 time nor a duration such as 8h", param_hint="--until") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


@click.group()
def approvals() -> None:
    """Approval requests: who asked for what, and who decides."""


@approvals.command("list")
@click.option("--status", "statuses", multiple=True, type=click.Choice(["pending", "approved", "denied", "expired", "cancelled", "all"]), help="Only these states (repeatable; default: pending).")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "jsonl"]), default="table")
@click.option("--limit", type=int, default=None, help="At most this many, newest first.")
@db_option
@config_option
@_errors
def list_cmd(statuses: tuple[str, ...], fmt: str, limit: int | None, db: str | None, config_path: str | None) -> None:
    """List requests, newest first (pending ones by default)."""
    with open_service(db, config_path) as service:
        wanted = None if "all" in statuses else (list(statuses) or ["pending"])
        reqs = service.list(wanted, limit=limit)
    if fmt == "jsonl":
        for req in reqs:
            click.echo(dumps(redact_for_output(req.to_dict())))
        return
    from rich.table import Table

    table = Table()
    for col in ("id", "status", "action", "agent", "rule", "approvers", "votes", "expires"):
        table.add_column(col, overflow="fold")
    for req in reqs:
        rule = ", ".join(f"{r.get('policy')}/{r.get('rule')}" for r in req.rules[:2]) or "(default)"
        who = ", ".join([*req.approver_roles, *req.approvers]) or "anyone configured"
        table.add_row(req.id, req.status.value, redact_for_output(req.summary()), req.agent or "-", rule, who,
                      f"{len(req.approvals)}/{req.quorum}", req.to_dict()["expires_at"] or "")
    out = console()
    out.print(table)
    out.print(f"{len(reqs)} request(s)")


@approvals.command("show")
@click.argument("approval_id")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
@db_option
@config_option
@_errors
def show(approval_id: str, fmt: str, db: str | None, config_path: str | None) -> None:
    """Show one request: the action, the rules, who may decide, votes, grants, notifications."""
    from bastion.approvals.notify import Notifier, targets_from_config

    with open_service(db, config_path) as service:
        req = service.get(approval_id)
        cfg = load_config_or_exit(config_path, db=db)
        notes = Notifier(service.store, targets_from_config(cfg.get("notifications")), start=False).status(approval_id)
    data = redact_for_output(req.to_dict())
    data["notifications"] = notes
    if fmt == "json":
        click.echo(dumps(data))
        return
    lines = [
        f"approval   {data['approval_id']}  [{data['status']}]",
        f"action     {redact_for_output(req.summary())}",
        f"digest     {data['digest']}",
        f"reason     {data['reason']}",
        "rules      " + (", ".join(f"{r.get('policy')}/{r.get('rule')} ({r.get('source')})" for r in data["rules"]) or "(policy default)"),
        "approvers  " + (", ".join([*(f"role {r}" for r in data["approver_roles"]), *data["approvers"]]) or "anyone in people")
        + f"; quorum {data['quorum']}" + ("" if data["owner_may_approve"] else "; not the agent's owner"),
        f"requester  agent {req.agent or '-'}, session {req.session or '-'}, owner {req.owner or '-'}",
        f"scopes     {', '.join(data['scopes'])}",
        f"created    {data['created_at']}; expires {data['expires_at']}, then {data['on_timeout']}",
    ]
    for v in data["votes"]:
        lines.append(f"vote       {v['at']} {v['approver']}: {v['vote']} ({v['scope']}{', until ' + v['until'] if v.get('until') else ''}) — {v['reason']}")
    if req.status.final:
        lines.append(f"resolved   {data['resolved_at']} by {data['resolved_by'] or 'timeout'}: {data['resolution']}")
    for g in data.get("grants", []):
        lines.append(f"grant      {g['effect']} ({g['scope']}), used {g['used']}, uses left {g['uses_left'] if g['uses_left'] is not None else 'any'}, until {g['until'] or '-'}")
    for n in notes:
        lines.append(f"notified   {n['target']}: {n['status']} after {n['attempts']} attempt(s)" + (f" ({n['last_error']})" if n["last_error"] else ""))
    click.echo("\n".join(lines))


@approvals.command("approve")
@click.argument("approval_id")
@click.option("--reason", required=True, help="Why (required; recorded in the audit log).")
@click.option("--as", "approver", required=True, metavar="APPROVER", help="Who approves (a person in the configuration's people section).")
@click.option("--scope", type=click.Choice(["once", "session", "until"]), default="once", show_default=True, help="How far the approval reaches (within what the rule permits).")
@click.option("--until", "until_text", metavar="TIME|DURATION", help="For --scope until: an ISO 8601 time or a duration from now (8h).")
@db_option
@config_option
@_errors
def approve(approval_id: str, reason: str, approver: str, scope: str, until_text: str | None, db: str | None, config_path: str | None) -> None:
    """Approve a request (counts towards its quorum)."""
    until = parse_until(until_text) if until_text else None
    with open_service(db, config_path) as service:
        req = service.approve(approval_id, approver, reason, scope=scope, until=until)
    if req.status.value == "approved":
        click.echo(f"{req.id} approved ({len(req.approvals)}/{req.quorum})")
    else:
        click.echo(f"{req.id}: vote recorded ({len(req.approvals)}/{req.quorum} approvals), still {req.status.value}")


@approvals.command("deny")
@click.argument("approval_id")
@click.option("--reason", required=True, help="Why (required; recorded in the audit log).")
@click.option("--as", "approver", required=True, metavar="APPROVER", help="Who denies (a person in the configuration's people section).")
@db_option
@config_option
@_errors
def deny(approval_id: str, reason: str, approver: str, db: str | None, config_path: str | None) -> None:
    """Deny a request (one eligible approver's denial decides it)."""
    with open_service(db, config_path) as service:
        req = service.deny(approval_id, approver, reason)
    click.echo(f"{req.id} {req.status.value}")


@approvals.command("cancel")
@click.argument("approval_id")
@click.option("--reason", default=None, help="Why (recorded).")
@click.option("--as", "actor", default=None, metavar="WHO", help="Who cancels (default: the OS user).")
@db_option
@config_option
@_errors
def cancel(approval_id: str, reason: str | None, actor: str | None, db: str | None, config_path: str | None) -> None:
    """Withdraw a pending request."""
    with open_service(db, config_path) as service:
        req = service.cancel(approval_id, actor or f"user:{getpass.getuser()}", reason)
    click.echo(f"{req.id} {req.status.value}")


@approvals.command("notify")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Keep retrying for at most this many seconds.")
@db_option
@config_option
@_errors
def notify(timeout: float, db: str | None, config_path: str | None) -> None:
    """Deliver notifications still waiting (after an outage, or from a short-lived process)."""
    from bastion.approvals.notify import Notifier, targets_from_config
    from bastion.approvals.setup import link_base
    from bastion.store import open_store

    cfg = load_config_or_exit(config_path, db=db)
    targets = targets_from_config(cfg.get("notifications"))
    store = open_store(cfg["db"])
    try:
        notifier = Notifier(store, targets, link_base=link_base(cfg), start=False)
        left = notifier.flush(timeout=timeout)
        notifier.close()
    finally:
        store.close()
    click.echo(f"{left} notification(s) still waiting" if left else "all notifications delivered")
    if left:
        raise SystemExit(1)
