"""`bastion sessions`: list, show, terminate and reopen sessions in the state store."""

from __future__ import annotations

import os
import time
from typing import Any

import click

from bastion.cli.common import config_option, console, dumps, fail, load_config_or_exit, redact_for_output


def _state_options(f: Any) -> Any:
    f = click.option("--db", default=None, metavar="URL", help="The store holding session state (default: $BASTION_DB or .bastion/bastion.db).")(f)
    f = click.option("--state", "state_url", default=None, metavar="URL", help="The state backend: a SQLite path, postgresql:// or redis:// URL (default: the configuration's state, else the store).")(f)
    return config_option(f)


def _open(config_path: str | None, state_url: str | None, db: str | None) -> Any:
    from bastion.state import open_state
    from bastion.state.backend import StateError
    from bastion.state.config import persistent_state

    cfg = load_config_or_exit(config_path, db=db)
    spec = persistent_state(cfg, state=state_url, db=db)
    lower = spec.lower()
    if "://" not in spec and not lower.startswith("sqlite:") and not os.path.exists(spec):
        fail(f"no session state at {spec} (decide with `bastion check --db {spec}` first, or name it with --state/--db)")
    try:
        return open_state(spec)
    except StateError as exc:
        fail(str(exc))


def _stage(backend: Any) -> Any:
    from bastion.state.stage import StateStage

    return StateStage(backend)


def _iso(ts: float | None) -> str | None:
    from bastion.state.decisions import iso

    return iso(ts)


def _summary(rec: Any) -> dict[str, Any]:
    return {
        "id": rec.id,
        "status": rec.status,
        "agent": (rec.agent or {}).get("id"),
        "parent": rec.parent_id,
        "depth": rec.depth,
        "started_at": _iso(rec.started_at),
        "terminated_at": _iso(rec.terminated_at),
        "reason": rec.reason,
    }


@click.group()
def sessions() -> None:
    """Inspect and manage agent sessions (docs/state.md)."""


@sessions.command("list")
@click.option("--status", type=click.Choice(["active", "terminated"]), default=None)
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
@_state_options
def list_(status: str | None, limit: int, fmt: str, state_url: str | None, db: str | None, config_path: str | None) -> None:
    """Sessions, most recently started first."""
    backend = _open(config_path, state_url, db)
    try:
        rows = [_summary(r) for r in backend.list_sessions(status=status, limit=limit)]
    finally:
        backend.close()
    rows = redact_for_output(rows)
    if fmt == "json":
        click.echo(dumps(rows))
        return
    from rich.table import Table

    table = Table()
    for col in ("session", "status", "agent", "parent", "depth", "started", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = "bold red" if r["status"] == "terminated" else "green"
        table.add_row(r["id"], f"[{style}]{r['status']}[/]", r["agent"] or "", r["parent"] or "", str(r["depth"]), r["started_at"] or "", r["reason"] or "")
    console().print(table)


@sessions.command("show")
@click.argument("session_id")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
@_state_options
def show(session_id: str, fmt: str, state_url: str | None, db: str | None, config_path: str | None) -> None:
    """One session: status, delegation, usage, recent denials and alerts, sequence marks."""
    from bastion.state import escalation
    from bastion.state.history import CLASSIFICATION

    backend = _open(config_path, state_url, db)
    now = time.time()
    try:
        rec = backend.get_session(session_id)
        if rec is None:
            fail(f"no session {session_id!r}")
        data = _summary(rec)
        data.update(
            ancestors=list(rec.ancestors),
            children=backend.children(session_id),
            agent=rec.agent,
            granted=list(rec.granted) if rec.granted is not None else None,
            terminated_by=rec.terminated_by,
            reopened_at=_iso(rec.reopened_at),
            reopened_by=rec.reopened_by,
            usage=backend.get_usage(["session:" + session_id])["session:" + session_id],
            recent={k: dict(zip(("10m", "1h"), backend.count_events(escalation.event_key(k, session_id), now, [600.0, 3600.0]))) for k in escalation.KINDS},
            marks={t: [{"at": _iso(m.ts), "did": m.detail} for m in ms[:5]] for t, ms in backend.get_marks(session_id, None).items()},
        )
        data["classifications"] = {t[len(CLASSIFICATION):]: data["marks"].pop(t) for t in list(data["marks"]) if t.startswith(CLASSIFICATION)}
    finally:
        backend.close()
    data = redact_for_output(data)
    if fmt == "json":
        click.echo(dumps(data))
        return
    out = console()
    style = "bold red" if data["status"] == "terminated" else "green"
    out.print(f"[bold]Session[/] {data['id']}  [{style}]{data['status']}[/]")
    out.print(f"  agent      {dumps(data['agent'])}")
    out.print(f"  started    {data['started_at']}   depth {data['depth']}")
    if data["parent"]:
        out.print(f"  parent     {data['parent']}   (ancestors: {' > '.join(data['ancestors'])})")
    if data["children"]:
        out.print(f"  children   {', '.join(data['children'])}")
    if data["granted"] is not None:
        out.print(f"  granted    {dumps(data['granted'])}")
    if data["status"] == "terminated":
        out.print(f"  terminated {data['terminated_at']}: {data['reason']}")
        out.print(f"             by {dumps(data['terminated_by'])}")
    if data["reopened_at"]:
        out.print(f"  reopened   {data['reopened_at']} by {data['reopened_by'] or '(unknown)'}")
    usage = ", ".join(f"{k} {v:g}" for k, v in sorted(data["usage"].items())) or "none"
    out.print(f"  usage      {usage}")
    out.print("  recent     " + "; ".join(f"{k}: {v['10m']} in 10m, {v['1h']} in 1h" for k, v in data["recent"].items()))
    for name, marks in sorted(data["classifications"].items()):
        out.print(f"  touched    {name}: last at {marks[0]['at']} ({marks[0]['did']})")
    for tracker, marks in data["marks"].items():
        out.print(f"  did ({tracker})")
        for m in marks:
            out.print(f"    {m['at']}  {m['did']}")


def _record_event(backend: Any, kind: str, payload: dict[str, Any], actor: str | None) -> None:
    store = getattr(backend, "store", None)  # SQL state lives in the audit store: record it there
    if store is not None:
        store.append_event(kind, payload, actor)


@sessions.command("reopen")
@click.argument("session_id")
@click.option("--by", "actor", default=None, help="Who reopens it (recorded). Default: $USER.")
@click.option("--reason", default=None, help="Why (recorded in the audit log).")
@_state_options
def reopen(session_id: str, actor: str | None, reason: str | None, state_url: str | None, db: str | None, config_path: str | None) -> None:
    """Make a terminated session active again (its denial and alert counts restart)."""
    actor = actor or os.environ.get("USER")
    backend = _open(config_path, state_url, db)
    try:
        rec = _stage(backend).reopen_session(session_id, now=time.time(), actor=actor)
        if rec is None:
            fail(f"no session {session_id!r}")
        _record_event(backend, "session.reopen", {"session": session_id, "reason": reason, "was": "terminated"}, actor)
    finally:
        backend.close()
    click.echo(f"session {session_id} reopened")


@sessions.command("terminate")
@click.argument("session_id")
@click.option("--reason", required=True, help="Why; every later action of the session is terminated with it.")
@click.option("--by", "actor", default=None, help="Who terminates it (recorded). Default: $USER.")
@_state_options
def terminate(session_id: str, reason: str, actor: str | None, state_url: str | None, db: str | None, config_path: str | None) -> None:
    """End a session (and its sub-agents) by hand."""
    actor = actor or os.environ.get("USER")
    backend = _open(config_path, state_url, db)
    try:
        rec = _stage(backend).terminate_session(session_id, f"terminated by an operator: {reason}", now=time.time(), actor=actor)
        _record_event(backend, "session.terminate", {"session": session_id, "reason": reason}, actor)
    finally:
        backend.close()
    click.echo(f"session {session_id} terminated" + ("" if rec.reason and reason in rec.reason else f" (already, at {_iso(rec.terminated_at)}: {rec.reason})"))
