"""`bastion audit`: query, verify, export and summarise the audit log; sign checkpoints.

Every command takes the store from `--db URL`, else `BASTION_DB`, else the
configuration's `db`, else `.bastion/bastion.db`: a SQLite path or a postgresql:// URL.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import click

from bastion.cli.common import config_option, console, db_option, effect_text, load_config_or_exit

#: "90s", "15m", "1h", "7d", "2w" (fixed pattern, anchored, no nested repetition)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a duration: use e.g. 90s, 15m, 1h, 7d, 2w")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time or date (UTC unless it says otherwise), or a duration meaning "that long ago"."""
    now = now or datetime.now(timezone.utc)
    if _DURATION.match(text):
        return now - parse_duration(text)
    try:
        dt = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither an ISO 8601 time (2026-11-21T10:00:00Z) nor a duration (1h)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _filter_options(f: Any) -> Any:
    options = [
        click.option("--last", metavar="DURATION", help="Only the last DURATION (e.g. 1h, 30m, 7d)."),
        click.option("--since", metavar="TIME", help="From TIME (ISO 8601, or a duration meaning that long ago), inclusive."),
        click.option("--until", metavar="TIME", help="Up to TIME (ISO 8601 or a duration ago), exclusive."),
        click.option("--decision", "decisions", multiple=True, metavar="EFFECT", help="Only these decisions (repeatable): allow, deny, ..."),
        click.option("--kind", "kinds", multiple=True, metavar="KIND", help="Only these record kinds (repeatable): decision, policy.change, ..."),
        click.option("--agent", metavar="ID", help="Only this agent."),
        click.option("--session", metavar="ID", help="Only this session."),
        click.option("--capability", metavar="CAP", help="Only this capability ('*' wildcards allowed, e.g. 'filesystem.*')."),
        click.option("--policy", metavar="ID", help="Only decisions involving this policy."),
        click.option("--rule", metavar="NAME", help="Only decisions where this rule matched."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def _build_filter(kw: dict[str, Any], **extra: Any) -> Any:
    from bastion.model import Effect
    from bastion.store import AuditFilter

    now = datetime.now(timezone.utc)
    if kw.get("last") and kw.get("since"):
        raise click.UsageError("--last and --since both set the start of the window: use one")
    since = now - parse_duration(kw["last"]) if kw.get("last") else (parse_time(kw["since"], now) if kw.get("since") else None)
    until = parse_time(kw["until"], now) if kw.get("until") else None
    decisions = []
    for d in kw.get("decisions") or ():
        try:
            decisions.append(Effect.parse(d).label)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--decision") from None
    return AuditFilter(
        since=since,
        until=until,
        decisions=tuple(decisions),
        kinds=tuple(kw.get("kinds") or ()),
        agent=kw.get("agent"),
        session=kw.get("session"),
        capability=kw.get("capability"),
        policy=kw.get("policy"),
        rule=kw.get("rule"),
        **extra,
    )


def _open(db: str | None, config_path: str | None) -> Any:
    from bastion.store import StoreError, open_store

    cfg = load_config_or_exit(config_path, db=db)
    try:
        return open_store(cfg["db"])
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


def _store_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Store failures become one line on stderr and exit status 2, never a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from bastion.store import StoreError

        try:
            return fn(*args, **kwargs)
        except StoreError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None

    return wrapper


@click.group()
def audit() -> None:
    """The tamper-evident audit log: every decision, policy change and approval, hash-chained."""


# --------------------------------------------------------------------------- query


@audit.command()
@db_option
@config_option
@_filter_options
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="At most N records.")
@click.option("--newest-first", is_flag=True, help="Newest records first.")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "jsonl"]), default=None, help="Default: table on a terminal, jsonl otherwise.")
@_store_errors
def query(db: str | None, config_path: str | None, limit: int | None, newest_first: bool, fmt: str | None, **kw: Any) -> None:
    """Show audit records matching the filters."""
    f = _build_filter(kw, limit=limit, descending=newest_first)
    fmt = fmt or ("table" if sys.stdout.isatty() else "jsonl")
    with _open(db, config_path) as store:
        records = store.query(f)
        if fmt == "jsonl":
            for rec in records:
                click.echo(rec.json_line())
            return
        _print_table(records)


def _print_table(records: Iterator[Any]) -> None:
    from rich.table import Table

    table = Table(show_lines=False)
    for col, just in (("seq", "right"), ("time", "left"), ("kind", "left"), ("decision", "left"), ("agent", "left"), ("action", "left"), ("rule", "left"), ("reason / payload", "left")):
        table.add_column(col, justify=just, overflow="fold")
    n = 0
    for rec in records:
        n += 1
        body = rec.record
        if rec.kind == "decision":
            d = body.get("decision", {})
            a = body.get("action", {})
            what = f"{a.get('capability', '')} {a.get('target') or ''}".strip()
            rules = ", ".join(r.get("rule", "") for r in d.get("rules", []) if isinstance(r, dict))
            table.add_row(str(rec.seq), rec.ts, rec.kind, effect_text(_clip(rec.decision or "", 20)), _clip(rec.agent or "", 40), _clip(what, 80), _clip(rules, 60), _clip(d.get("reason", ""), 80))
        else:
            payload = json.dumps(body.get("payload"), ensure_ascii=False, sort_keys=True)
            table.add_row(str(rec.seq), rec.ts, _clip(rec.kind, 40), _clip(rec.decision or "", 20), _clip(rec.actor or rec.agent or "", 40), "", "", _clip(payload, 80))
    console().print(table)
    click.echo(f"{n} record{'s' if n != 1 else ''}", err=True)


def _clip(text: Any, width: int) -> str:
    """Shortened, with rich markup escaped: record content is data, never formatting."""
    from rich.markup import escape

    text = str(text)
    return escape(text if len(text) <= width else text[: width - 1] + "…")


# --------------------------------------------------------------------------- verify


@audit.command()
@db_option
@config_option
@click.option("--public-key", "public_keys", multiple=True, type=click.Path(dir_okay=False, exists=True), help="Ed25519 public key (PEM) that signed checkpoints (repeatable).")
@click.option("--require-signed", is_flag=True, help="Fail unless at least one checkpoint carries a valid signature from a given key.")
@click.option("--file", "export_file", type=click.Path(dir_okay=False, exists=True, allow_dash=True), default=None, help="Verify an export (JSON Lines) instead of the database.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
@_store_errors
def verify(db: str | None, config_path: str | None, public_keys: tuple[str, ...], require_signed: bool, export_file: str | None, fmt: str) -> None:
    """Walk the hash chain; report the first broken record and why (exit 1 when broken)."""
    from bastion.store import PublicKeyRing, load_public_key, verify_lines
    from bastion.store.checkpoints import KeyFileError

    try:
        ring = PublicKeyRing([load_public_key(p) for p in public_keys]) if public_keys else None
    except KeyFileError as exc:
        raise click.BadParameter(str(exc), param_hint="--public-key") from None
    if export_file is not None:
        stream = sys.stdin if export_file == "-" else open(export_file, encoding="utf-8")
        try:
            result = verify_lines(stream, ring)
        finally:
            if stream is not sys.stdin:
                stream.close()
        where = export_file
    else:
        with _open(db, config_path) as store:
            where = store.url
            with _progress("verifying", _total(store)) as advance:
                result = store.verify(ring, progress=advance)
    if result.ok and require_signed and not result.signed_checkpoints:
        result.ok = False
        result.why = "no checkpoint carries a valid signature from the given keys"
    if fmt == "json":
        click.echo(json.dumps({"store": where, **result.to_dict()}, sort_keys=True))
    elif result.ok:
        signed = f", {result.signed_checkpoints} with a valid signature" if ring is not None else ""
        click.echo(
            f"OK: {result.checked} records verified in {where}; head {result.head_seq} {result.head_hash[:16]}; "
            f"{result.checkpoints} checkpoint{'s' if result.checkpoints != 1 else ''}{signed}"
        )
    else:
        at = f" at record {result.first_bad}" if result.first_bad is not None else ""
        click.echo(f"BROKEN{at}: {result.why}", err=True)
        click.echo(f"{result.checked} records verified before the break in {where}", err=True)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    if not result.ok:
        raise SystemExit(1)


def _total(store: Any) -> int:
    return store.head()[0]


class _progress:
    """A progress bar on stderr for long runs (only on a terminal and above 10,000 records)."""

    def __init__(self, label: str, total: int | None) -> None:
        self.label = label
        self.total = total
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        show = console(stderr=True).is_terminal and (self.total is None or self.total > 10_000)
        if not show:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console(stderr=True), transient=True)
        self._bar.start()
        task = self._bar.add_task(self.label, total=self.total)
        return lambda n: self._bar.update(task, completed=n)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.stop()


# --------------------------------------------------------------------------- export


@audit.command()
@db_option
@config_option
@_filter_options
@click.option("--output", "-o", default="-", type=click.Path(dir_okay=False, allow_dash=True), help="Write here instead of stdout.")
@click.option("--no-checkpoints", is_flag=True, help="Leave the signed checkpoint lines out.")
@_store_errors
def export(db: str | None, config_path: str | None, output: str, no_checkpoints: bool, **kw: Any) -> None:
    """Export records as JSON Lines (verifiable offline with `audit verify --file`)."""
    f = _build_filter(kw)
    with _open(db, config_path) as store:
        total = store.count(f)
        out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")
        try:
            with _progress("exporting", total) as advance:
                n = store.export(out.write, f, checkpoints=not no_checkpoints, progress=advance)
        finally:
            if out is not sys.stdout:
                out.close()
    click.echo(f"exported {n} record{'s' if n != 1 else ''}" + (f" to {output}" if output != "-" else ""), err=True)


# --------------------------------------------------------------------------- stats


@audit.command()
@db_option
@config_option
@_filter_options
@click.option("--top", type=click.IntRange(min=1), default=10, help="Rows per table for agents and rules.")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default=None, help="Default: table on a terminal, json otherwise.")
@_store_errors
def stats(db: str | None, config_path: str | None, top: int, fmt: str | None, **kw: Any) -> None:
    """Counts per decision, rule and agent over a window (e.g. --last 24h)."""
    f = _build_filter(kw)
    fmt = fmt or ("table" if sys.stdout.isatty() else "json")
    with _open(db, config_path) as store:
        s = store.stats(f)
    if fmt == "json":
        click.echo(json.dumps(s.to_dict(), sort_keys=True))
        return
    from rich.table import Table

    con = console()
    window = f"{s.first_ts or '-'} .. {s.last_ts or '-'}"
    con.print(f"{s.total} records ({window})")
    for title, counts, style in (("decision", s.by_decision, True), ("kind", s.by_kind, False), ("agent", s.by_agent, False), ("rule", s.by_rule, False)):
        if not counts:
            continue
        table = Table(title=f"by {title}", title_justify="left")
        table.add_column(title)
        table.add_column("count", justify="right")
        for key, n in list(counts.items())[:top]:
            table.add_row(effect_text(_clip(key, 20)) if style else _clip(key, 80), str(n))
        con.print(table)


# --------------------------------------------------------------------------- keys and checkpoints


@audit.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
def keygen(path: str, force: bool) -> None:
    """Create an Ed25519 key pair for signing checkpoints: PATH (private) and PATH.pub."""
    from bastion.store import Signer

    pub = path + ".pub"
    for p in (path, pub):
        if os.path.exists(p) and not force:
            raise click.UsageError(f"{p} exists (use --force to overwrite)")
    signer = Signer.generate()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(signer.private_pem())
    with open(pub, "wb") as fh:
        fh.write(signer.public_pem())
    click.echo(f"private key: {path} (keep it away from the database host's writers)\npublic key:  {pub}\nkey id:      {signer.key_id}")


@audit.command()
@db_option
@config_option
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, exists=True), help="Ed25519 private key (PEM).")
@_store_errors
def checkpoint(db: str | None, config_path: str | None, key_path: str) -> None:
    """Sign the current head of the chain and store the checkpoint."""
    from bastion.store import Signer
    from bastion.store.checkpoints import KeyFileError

    try:
        signer = Signer.from_file(key_path)
    except KeyFileError as exc:
        raise click.BadParameter(str(exc), param_hint="--key") from None
    with _open(db, config_path) as store:
        cp = store.checkpoint(signer)
    click.echo(f"checkpoint at record {cp.seq} ({cp.hash[:16]}) signed by key {cp.key_id}")
