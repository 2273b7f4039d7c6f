"""`bastion policy`: the versioned policy store (push, diff, revert, approve, replay, shadow, ...).

Also adds `bastion templates enable NAME` (a built-in policy into the store) and
`bastion templates fork NAME NEWID` (an editable copy in the store) to the templates group.
The store comes from `--db`, `BASTION_DB` or the configuration's `db`; people and their
roles from its `people` section.
"""

from __future__ import annotations

import functools
import getpass
import os
import re
from datetime import datetime, timezone
from typing import Any, Callable

import click

from bastion.cli.common import config_option, console, db_option, dumps, load_config_or_exit, print_problems, redact_for_output

_STORE_REF = re.compile(r"^(?P<name>.+)@v?(?P<version>\d+)$")


def _format_option(f: Any) -> Any:
    return click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")(f)


def _errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Refusals and bad input exit 1 with a clear message; store and configuration errors exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from bastion.approvals.duties import ApprovalError
        from bastion.approvals.people import PeopleError
        from bastion.errors import PolicyError
        from bastion.lifecycle.versions import LifecycleError
        from bastion.store import StoreError

        try:
            return fn(*args, **kwargs)
        except PolicyError as exc:
            print_problems(exc.problems)
            raise SystemExit(1) from None
        except (LifecycleError, ApprovalError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(1) from None
        except (StoreError, PeopleError) as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None

    return wrapper


class _Opened:
    """The policy store on the configured database, closed on exit."""

    def __init__(self, db: str | None, config_path: str | None) -> None:
        from bastion.approvals.setup import service_from_config
        from bastion.lifecycle.versions import PolicyStore
        from bastion.store import open_store

        self.cfg = load_config_or_exit(config_path, db=db)
        self.store = open_store(self.cfg["db"])
        try:
            self.approvals = service_from_config(self.store, self.cfg)
            self.policies = PolicyStore(self.store, approvals=self.approvals)
        except BaseException:
            self.store.close()
            raise

    def __enter__(self) -> "_Opened":
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            notifier = self.approvals.notifier
            if notifier is not None:
                notifier.flush(timeout=5.0)
                notifier.close()
        finally:
            self.store.close()


def _print_result(results: list[Any], fmt: str) -> None:
    if fmt == "json":
        click.echo(dumps([r.to_dict() for r in results]))
        return
    for r in results:
        if r.state == "unchanged":
            click.echo(f"{r.name}: unchanged (v{r.version} has this content)")
            continue
        if r.diff is not None:
            click.echo(r.diff.text())
        if r.state == "active":
            click.echo(f"{r.name} v{r.version}: active")
        else:
            who = ", ".join(r.approver_roles) or "anyone configured"
            click.echo(f"{r.name} v{r.version}: proposed, waiting for approval {r.approval_id} ({who}; not its author)")


@click.group()
def policy() -> None:
    """The versioned policy store: every change a new version, approved by a second person."""


@policy.command("push")
@click.argument("paths", nargs=-1, required=True, metavar="DIR|FILE...")
@click.option("--as", "author", required=True, metavar="AUTHOR", help="Who proposes the change.")
@click.option("--message", "-m", required=True, help="What the change does and why.")
@_format_option
@db_option
@config_option
@_errors
def push(paths: tuple[str, ...], author: str, message: str, fmt: str, db: str | None, config_path: str | None) -> None:
    """Propose the policies in DIR (or files) as new versions; change management decides when they activate."""
    with _Opened(db, config_path) as o:
        results = o.policies.push(list(paths), author, message)
    _print_result(results, fmt)


@policy.command("list")
@_format_option
@db_option
@config_option
@_errors
def list_cmd(fmt: str, db: str | None, config_path: str | None) -> None:
    """Every stored policy: its active version and versions waiting for approval."""
    with _Opened(db, config_path) as o:
        rows = []
        shadows = {(v.name, v.version) for v in o.policies.shadows()}
        for name in o.policies.names():
            versions = o.policies.versions(name)
            active = next((v for v in versions if v.state == "active"), None)
            waiting = [v for v in versions if v.state == "proposed"]
            rows.append({"policy": name, "active": active.version if active else None, "latest": versions[-1].version,
                         "proposed": [v.version for v in waiting], "shadow": [v for n, v in shadows if n == name],
                         "author": (active or versions[-1]).author})
    if fmt == "json":
        click.echo(dumps(rows))
        return
    from rich.table import Table

    table = Table()
    for col in ("policy", "active", "latest", "waiting for approval", "shadow", "author"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["policy"], f"v{r['active']}" if r["active"] else "-", f"v{r['latest']}",
                      ", ".join(f"v{v}" for v in r["proposed"]) or "-", ", ".join(f"v{v}" for v in r["shadow"]) or "-", r["author"])
    console().print(table)


@policy.command("history")
@click.argument("name")
@_format_option
@db_option
@config_option
@_errors
def history(name: str, fmt: str, db: str | None, config_path: str | None) -> None:
    """Every version of a policy: who, when, why, and what became of it."""
    with _Opened(db, config_path) as o:
        versions = o.policies.versions(name)
    if fmt == "json":
        click.echo(dumps([v.to_dict() for v in versions]))
        return
    for v in versions:
        extra = f" approval {v.approval_id}" if v.approval_id else ""
        based = f" (from v{v.based_on})" if v.based_on else ""
        click.echo(f"v{v.version}  {v.state:<10} {v.created_at and v.to_dict()['created_at']}  {v.author}  {v.origin}{based}{extra}  {v.content_hash[:19]}")
        click.echo(f"     {v.message}" + (f"  [{v.state} {v.to_dict()['state_at']} by {v.state_by}]" if v.state_by and v.state != "proposed" else ""))


@policy.command("show")
@click.argument("name")
@click.argument("version", required=False, type=int)
@db_option
@config_option
@_errors
def show(name: str, version: int | None, db: str | None, config_path: str | None) -> None:
    """Print a version's YAML (default: the active one, else the latest)."""
    with _Opened(db, config_path) as o:
        if version is None:
            versions = o.policies.versions(name)
            v = next((x for x in versions if x.state == "active"), versions[-1])
        else:
            v = o.policies.version(name, version)
    click.echo(f"# {name} v{v.version} ({v.state}) by {v.author}: {v.message}", err=True)
    click.echo(v.content, nl=False)


@policy.command("diff")
@click.argument("name")
@click.argument("v1", type=int)
@click.argument("v2", type=int)
@_format_option
@db_option
@config_option
@_errors
def diff(name: str, v1: int, v2: int, fmt: str, db: str | None, config_path: str | None) -> None:
    """Rule-level diff of two versions: settings, rules added, removed and changed (field by field)."""
    with _Opened(db, config_path) as o:
        d = o.policies.diff(name, v1, v2)
    click.echo(dumps(d.to_dict()) if fmt == "json" else d.text())


@policy.command("revert")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--as", "author", required=True, metavar="AUTHOR", help="Who proposes the revert.")
@click.option("--message", "-m", default=None, help="Why (default: 'revert to vN').")
@_format_option
@db_option
@config_option
@_errors
def revert(name: str, version: int, author: str, message: str | None, fmt: str, db: str | None, config_path: str | None) -> None:
    """Propose a new version with the content of VERSION (nothing is rewritten)."""
    with _Opened(db, config_path) as o:
        result = o.policies.revert(name, version, author, message)
    _print_result([result], fmt)


def _decide_cmd(verb: str) -> Callable[..., Any]:
    @click.argument("name")
    @click.argument("version", type=int)
    @click.option("--as", "who", required=True, metavar="APPROVER", help="Who decides (a person in the configuration's people section, not the author).")
    @click.option("--reason", required=True, help="Why (required; recorded in the audit log).")
    @db_option
    @config_option
    @_errors
    def cmd(name: str, version: int, who: str, reason: str, db: str | None, config_path: str | None) -> None:
        with _Opened(db, config_path) as o:
            fn = o.policies.approve if verb == "approve" else o.policies.reject
            v = fn(name, version, who, reason)
        click.echo(f"{name} v{version}: {v.state}")

    return cmd


policy.command("approve", help="Approve a proposed version (as someone other than its author); it activates at quorum.")(_decide_cmd("approve"))
policy.command("reject", help="Reject a proposed version.")(_decide_cmd("reject"))


@policy.command("withdraw")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--as", "who", default=None, metavar="WHO", help="Who withdraws (default: the OS user).")
@click.option("--reason", default=None)
@db_option
@config_option
@_errors
def withdraw(name: str, version: int, who: str | None, reason: str | None, db: str | None, config_path: str | None) -> None:
    """Withdraw a proposed version."""
    with _Opened(db, config_path) as o:
        v = o.policies.withdraw(name, version, who or f"user:{getpass.getuser()}", reason)
    click.echo(f"{name} v{version}: {v.state}")


@policy.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@db_option
@config_option
@_errors
def export(directory: str, db: str | None, config_path: str | None) -> None:
    """Write the active versions as YAML files into DIRECTORY (policy-as-code both ways)."""
    with _Opened(db, config_path) as o:
        for path in o.policies.export(directory):
            click.echo(f"wrote {path}")


# --------------------------------------------------------------------------- replay


def _candidate_texts(o: _Opened, refs: tuple[str, ...]) -> dict[str, str]:
    from bastion.lifecycle.policyset import read_sources

    texts: dict[str, str] = {}
    paths = []
    for ref in refs:
        m = _STORE_REF.match(ref)
        if m and not os.path.exists(ref):
            v = o.policies.version(m.group("name"), int(m.group("version")))
            texts[v.key] = v.content
        else:
            paths.append(ref)
    if paths:
        texts.update(read_sources(paths))
    return texts


def _window(last: str | None, since: str | None, until: str | None) -> dict[str, Any]:
    from bastion.cli.audit import parse_duration, parse_time

    now = datetime.now(timezone.utc)
    if last and since:
        raise click.UsageError("--last and --since both set the start of the window: use one")
    out: dict[str, Any] = {}
    if last:
        out["since"] = now - parse_duration(last)
    elif since:
        out["since"] = parse_time(since, now)
    if until:
        out["until"] = parse_time(until, now)
    return out


@policy.command("replay")
@click.argument("candidate", nargs=-1, required=True, metavar="CANDIDATE...")
@click.option("--from-audit", is_flag=True, default=True, help="Replay the decisions recorded in the audit log (the default, and for now the only source).")
@click.option("--last", metavar="DURATION", help="Only the last DURATION (e.g. 7d, 24h).")
@click.option("--since", metavar="TIME", help="From TIME (ISO 8601, or a duration ago).")
@click.option("--until", metavar="TIME", help="Up to TIME (exclusive).")
@click.option("--agent", default=None, help="Only this agent's actions.")
@click.option("--capability", default=None, help="Only this capability ('*' wildcards).")
@click.option("--against", type=click.Choice(["recorded", "current"]), default="recorded", show_default=True,
              help="Compare with what was decided then, or with a fresh decision under the current policies.")
@click.option("--baseline", "baseline", multiple=True, metavar="P", help="The policies the candidate joins (default: the store's active policies, else the configuration's).")
@click.option("--examples", type=int, default=5, show_default=True, help="Actions shown per group.")
@_format_option
@db_option
@config_option
@_errors
def replay_cmd(candidate: tuple[str, ...], from_audit: bool, last: str | None, since: str | None, until: str | None, agent: str | None,
               capability: str | None, against: str, baseline: tuple[str, ...], examples: int, fmt: str, db: str | None, config_path: str | None) -> None:
    """Re-decide recorded actions under CANDIDATE (files, a directory, or NAME@VERSION from the
    store) and report every action whose decision would change, grouped by rule."""
    from bastion.lifecycle.policyset import read_sources
    from bastion.lifecycle.replay import replay

    window = _window(last, since, until)
    with _Opened(db, config_path) as o:
        cand = _candidate_texts(o, candidate)
        base = read_sources(baseline) if baseline else (o.policies.active_texts() or read_sources(o.cfg["policies"]))
        filters = {k: v for k, v in (("agent", agent), ("capability", capability)) if v}
        report = replay(o.store, cand, baseline=base, against=against, examples=examples, **window, **filters)
    if fmt == "json":
        click.echo(dumps(redact_for_output(report.to_dict())))
    else:
        click.echo(redact_for_output(report.text()))


# --------------------------------------------------------------------------- shadow mode


@policy.command("shadow")
@click.argument("name")
@click.argument("version", type=int)
@click.option("--stop", is_flag=True, help="Stop running this version in shadow mode.")
@click.option("--as", "who", default=None, metavar="WHO", help="Who starts or stops it (default: the OS user).")
@db_option
@config_option
@_errors
def shadow(name: str, version: int, stop: bool, who: str | None, db: str | None, config_path: str | None) -> None:
    """Run VERSION beside the active policies on live traffic (engines built with
    `PolicyStore.engine(shadow=True)`), recording only where it would decide differently."""
    actor = who or f"user:{getpass.getuser()}"
    with _Opened(db, config_path) as o:
        if stop:
            done = o.policies.stop_shadow(name, version, actor)
            click.echo(f"{name} v{version}: shadow mode stopped" if done else f"{name} v{version} was not in shadow mode")
        else:
            o.policies.start_shadow(name, version, actor)
            click.echo(f"{name} v{version}: in shadow mode")


@policy.command("shadow-report")
@click.argument("name", required=False)
@click.option("--last", metavar="DURATION", help="Only the last DURATION (e.g. 24h).")
@click.option("--since", metavar="TIME")
@click.option("--examples", type=int, default=5, show_default=True)
@_format_option
@db_option
@config_option
@_errors
def shadow_report(name: str | None, last: str | None, since: str | None, examples: int, fmt: str, db: str | None, config_path: str | None) -> None:
    """Where shadow versions decided differently from the live policies, grouped by rule."""
    from bastion.lifecycle.shadow import summarise

    window = _window(last, since, None)
    with _Opened(db, config_path) as o:
        report = summarise(o.store, policy=name, examples=examples, **window)
    click.echo(dumps(redact_for_output(report.to_dict())) if fmt == "json" else redact_for_output(report.text()))


# --------------------------------------------------------------------------- the starter library


@click.command("enable")
@click.argument("name")
@click.option("--as", "author", required=True, metavar="AUTHOR", help="Who enables it.")
@click.option("--message", "-m", default=None)
@_format_option
@db_option
@config_option
@_errors
def enable(name: str, author: str, message: str | None, fmt: str, db: str | None, config_path: str | None) -> None:
    """Activate a built-in policy in the policy store (through change management)."""
    with _Opened(db, config_path) as o:
        result = o.policies.enable_builtin(name, author, message)
    _print_result([result], fmt)


@click.command("fork")
@click.argument("name")
@click.argument("new_id")
@click.option("--as", "author", required=True, metavar="AUTHOR", help="Who forks it.")
@click.option("--message", "-m", default=None)
@_format_option
@db_option
@config_option
@_errors
def fork(name: str, new_id: str, author: str, message: str | None, fmt: str, db: str | None, config_path: str | None) -> None:
    """Create NEW_ID in the policy store as an editable copy of built-in NAME
    (`bastion policy show NEW_ID > f.yaml`, edit, `bastion policy push f.yaml`)."""
    with _Opened(db, config_path) as o:
        result = o.policies.fork(name, new_id, author, message)
    _print_result([result], fmt)


policy.add_command(enable)
policy.add_command(fork)


def _extend_templates() -> None:
    from bastion.cli.templates import templates

    for cmd in (enable, fork):
        if cmd.name not in templates.commands:
            templates.add_command(cmd)


_extend_templates()
