"""``bastion scan`` and ``bastion redact``: the secret scanner on files and stdin.

``bastion scan`` prints one finding a line (``file:line:column: kind marker``) or
JSON, and exits 1 when anything is found, so it works as a pre-commit hook.
``bastion redact`` writes the text with every secret replaced by its marker.
Neither ever prints a secret: findings are shown by kind, position and marker.

Custom detectors come from ``--detectors FILE`` (YAML or JSON: a list of detector
mappings, or ``{detectors: [...], disable: [...]}`` as under ``secrets:`` in a
policy) and ``--disable ID``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

import click

EXIT_FOUND = 1
EXIT_ERROR = 2
_BINARY_SNIFF = 8192


def _load_detectors(path: str | None) -> tuple[list[Any], list[str]]:
    if not path:
        return [], []
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.UsageError(f"cannot read detectors file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise click.UsageError(f"detectors file {path} is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if isinstance(data, dict) and "secrets" in data:
        data = data["secrets"]
    if data is None:
        return [], []
    if isinstance(data, list):
        return data, []
    if isinstance(data, dict):
        unknown = set(data) - {"detectors", "disable"}
        if unknown:
            raise click.UsageError(f"detectors file {path}: unknown key(s) {', '.join(sorted(unknown))} (expected detectors, disable)")
        detectors = data.get("detectors") or []
        disable = data.get("disable") or []
        if not isinstance(detectors, list) or not isinstance(disable, list):
            raise click.UsageError(f"detectors file {path}: 'detectors' and 'disable' must be lists")
        return detectors, [str(d) for d in disable]
    raise click.UsageError(f"detectors file {path}: expected a list of detectors or a mapping")


def _scanner(detectors_file: str | None, disable: Iterable[str], decode_depth: int | None, enable: Iterable[str] = ()):
    from bastion.secrets import default_scanner
    from bastion.secrets.catalogue import OPTIONAL
    from bastion.secrets.scanner import DEFAULT_DECODE_DEPTH, Scanner
    from bastion.secrets.spec import DetectorSpec

    extra, file_disable = _load_detectors(detectors_file)
    disabled = list(disable) + file_disable
    enable = list(enable)
    unknown = [e for e in enable if e not in OPTIONAL]
    if unknown:
        raise click.UsageError(f"unknown optional detector(s) {', '.join(unknown)} (available: {', '.join(sorted(OPTIONAL))})")
    if not extra and not disabled and not enable and decode_depth in (None, DEFAULT_DECODE_DEPTH):
        return default_scanner()
    try:
        specs = [OPTIONAL[e] for e in enable] + [DetectorSpec.from_dict(d, source=detectors_file or "cli") for d in extra]
        return Scanner.build(extra=specs, disabled=disabled, decode_depth=DEFAULT_DECODE_DEPTH if decode_depth is None else decode_depth)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _read(name: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, reason it was skipped)."""
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except IsADirectoryError:
        return None, "is a directory"
    except OSError as exc:
        return None, exc.strerror or str(exc)
    if b"\x00" in raw[:_BINARY_SNIFF]:
        return None, "binary file"
    return raw.decode("utf-8", "surrogateescape"), None


def _write(text: str, out) -> None:
    out.write(text.encode("utf-8", "surrogateescape"))


_common = [
    click.option("--detectors", "detectors_file", type=click.Path(dir_okay=False), help="YAML/JSON file of extra detectors (and a 'disable' list)."),
    click.option("--disable", multiple=True, metavar="ID", help="Turn off a built-in detector or kind (repeatable)."),
    click.option("--enable", multiple=True, metavar="ID", help="Turn on an optional detector from catalogue.OPTIONAL (repeatable; none at present)."),
    click.option("--decode-depth", type=click.IntRange(0, 4), default=None, help="Levels of base64/hex/percent decoding to look through (default 2)."),
]


def _with_common(fn):
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


@click.command("scan")
@click.argument("files", nargs=-1, type=click.Path(allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "jsonl"]), default="text", show_default=True)
@_with_common
def scan(files: tuple[str, ...], fmt: str, detectors_file: str | None, disable: tuple[str, ...], enable: tuple[str, ...], decode_depth: int | None) -> None:
    """Find secrets in FILES (or stdin, "-"). Exit 1 when any is found.

    Prints kind, line, column and a redaction marker, never the secret itself.
    """
    scanner = _scanner(detectors_file, disable, decode_depth, enable)
    from bastion.secrets import default_redactor
    from bastion.secrets.redact import Redactor

    redactor = default_redactor() if scanner is default_redactor().scanner else Redactor(scanner)
    results: list[dict] = []
    errors = 0
    for name in files or ("-",):
        text, skipped = _read(name)
        label = "<stdin>" if name == "-" else name
        if text is None:
            if skipped not in ("binary file", "is a directory"):
                errors += 1
                click.echo(f"bastion scan: {label}: {skipped}", err=True)
            continue
        for f in scanner.scan(text):
            row = {"file": label, **f.to_dict(redactor.key)}
            row["marker"] = redactor.marker(f)
            results.append(row)
            if fmt == "jsonl":
                click.echo(json.dumps(row))
            elif fmt == "text":
                enc = f" (in {'/'.join(f.encoding)})" if f.encoding else ""
                click.echo(f"{label}:{f.line}:{f.column}: {f.kind} {row['marker']}{enc}")
    if fmt == "json":
        click.echo(json.dumps(results, indent=2))
    elif fmt == "text" and results:
        files_hit = len({r["file"] for r in results})
        click.echo(f"{len(results)} secret(s) found in {files_hit} file(s)", err=True)
    if errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FOUND if results else 0)


@click.command("redact")
@click.argument("file", required=False, default="-", type=click.Path(allow_dash=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-", help="Where to write the redacted text (default stdout).")
@click.option("--report/--no-report", default=False, help="Also list the redactions (kind, line, marker) on stderr.")
@_with_common
def redact(file: str, output: str, report: bool, detectors_file: str | None, disable: tuple[str, ...], enable: tuple[str, ...], decode_depth: int | None) -> None:
    """Write FILE (or stdin) with every secret replaced by [REDACTED:kind:fingerprint]."""
    scanner = _scanner(detectors_file, disable, decode_depth, enable)
    from bastion.secrets import default_redactor
    from bastion.secrets.redact import Redactor

    redactor = default_redactor() if scanner is default_redactor().scanner else Redactor(scanner)
    text, skipped = _read(file)
    if text is None:
        click.echo(f"bastion redact: {file}: {skipped}", err=True)
        sys.exit(EXIT_ERROR)
    red, findings = redactor.redact_text(text)
    if output == "-":
        _write(red, sys.stdout.buffer)
        sys.stdout.flush()
    else:
        try:
            Path(output).write_bytes(red.encode("utf-8", "surrogateescape"))
        except OSError as exc:
            click.echo(f"bastion redact: {output}: {exc.strerror}", err=True)
            sys.exit(EXIT_ERROR)
    if report:
        for f in findings:
            click.echo(f"{f.line}:{f.column}: {f.kind} {redactor.marker(f)}", err=True)
        click.echo(f"{len(findings)} redaction(s)", err=True)


def _register_companion() -> None:
    """The core CLI registers one command per COMMANDS line (``scan``); ``redact`` joins it here."""
    cli = sys.modules.get("bastion.cli")
    main = getattr(cli, "main", None)
    if isinstance(main, click.Group) and "redact" not in main.commands:
        main.add_command(redact)


_register_companion()
