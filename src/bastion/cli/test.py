"""`bastion test`: run rule examples and *_test.yaml files; show uncovered rules."""

from __future__ import annotations

import click

from bastion.cli.common import console, dumps, load_config_or_exit, print_problems


@click.command("test")
@click.argument("paths", nargs=-1, metavar="[P...]")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--show-passed", is_flag=True, help="List passing cases too.")
@click.option("--config", "config_path", default=None, help="Configuration file.")
def test(paths: tuple[str, ...], fmt: str, show_passed: bool, config_path: str | None) -> None:
    """Run the examples of every rule in P (files, directories, builtin:NAME) and the
    *_test.yaml files found there. Exit 1 on any failure."""
    from bastion.testing import find_test_files, run_tests

    sources = list(paths) or load_config_or_exit(config_path)["policies"]
    report = run_tests(sources, find_test_files(sources))
    if fmt == "json":
        click.echo(dumps({
            "ok": report.ok,
            "cases": [c.__dict__ for c in report.cases],
            "problems": [p.to_dict() for p in report.problems],
            "uncovered": report.uncovered,
        }))
    else:
        _print(report, show_passed)
    if not report.ok:
        raise SystemExit(1)


def _print(report, show_passed: bool) -> None:  # noqa: ANN001
    from rich.table import Table

    out = console()
    if report.problems:
        print_problems(report.problems)
    rows = [c for c in report.cases if show_passed or not c.ok]
    if rows:
        table = Table(title="failures" if not show_passed else "cases")
        for col in ("", "case", "where", "expected", "got", "detail"):
            table.add_column(col, overflow="fold")
        for c in rows:
            mark = "[green]PASS[/]" if c.ok else "[red]FAIL[/]"
            table.add_row(mark, c.name, f"{c.file}:{c.line}", c.expected, c.got, c.message or "")
        out.print(table)
    passed = sum(1 for c in report.cases if c.ok)
    failed = len(report.cases) - passed
    if report.uncovered:
        out.print(f"[yellow]{len(report.uncovered)} rule(s) not covered by any example or test:[/] " + ", ".join(report.uncovered))
    out.print(f"{passed} passed, {failed} failed" + (f", {len(report.problems)} file problem(s)" if report.problems else ""))
