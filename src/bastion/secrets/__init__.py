"""Secret detection and redaction (GitHub issue 4).

Public API::

    from bastion.secrets import Scanner, Finding, Redactor, DetectorSpec, default_scanner

    scanner = default_scanner()                       # built-in catalogue, compiled once
    scanner = Scanner.build(extra=[DetectorSpec(...)], disabled={"generic_password"})
    scanner.scan(text) -> list[Finding]               # kind, start, end, line, column, marker()

    redactor = Redactor(scanner=None, key=None)       # key: see markers.py
    redactor.redact_text(text) -> (text, findings)
    redactor.redact_value(value, path="") -> (copy, [{"kind", "path", "marker"}])
    redactor.redact_action(action_dict) -> (copy, redactions)
    redactor.summarise(action_dict) -> {"kinds": [...], "count": n}

`redact(value)` is the shortcut for tool results and log payloads; `RedactingFilter`
scrubs ``logging`` records. docs/secrets.md describes the catalogue and the figures.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from bastion.secrets.redact import Redactor
from bastion.secrets.scanner import Finding, Scanner
from bastion.secrets.spec import DetectorSpec

__all__ = [
    "DetectorSpec",
    "Finding",
    "RedactingFilter",
    "Redactor",
    "Scanner",
    "default_redactor",
    "default_scanner",
    "redact",
]


@lru_cache(maxsize=1)
def default_scanner() -> Scanner:
    """The built-in catalogue, compiled once per process."""
    return Scanner.build()


@lru_cache(maxsize=1)
def default_redactor() -> Redactor:
    """A `Redactor` over `default_scanner()` with the default key."""
    return Redactor(default_scanner())


def redact(value: Any) -> Any:
    """`value` with secrets replaced by markers: a str, or dicts/lists of them (tool results, log payloads)."""
    if isinstance(value, str):
        return default_redactor().redact_text(value)[0]
    return default_redactor().redact_value(value)[0]


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message (and drops args) of every record.

    ``logging.getLogger("bastion").addFilter(RedactingFilter())`` and no secret that
    reaches a log call is written by any handler attached below it.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self._redactor or default_redactor()
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template, redacted
            message = str(record.msg)
        record.msg = redactor.redact_text(message)[0]
        record.args = None
        if record.exc_text:
            record.exc_text = redactor.redact_text(record.exc_text)[0]
        return True
