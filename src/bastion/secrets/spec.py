"""`DetectorSpec`: one kind of secret, as data.

A detector is a pattern in RE2 syntax plus the checks that cut its false
positives. Built-in detectors (catalogue.py) and the ones policy authors add in
YAML are the same type, validated the same way, so a bad user pattern fails at
load time with a message naming the detector, never at scan time.

Conventions inside a pattern:
- a named group starting with ``secret`` (``secret``, ``secret2``...) marks the part to
  redact; the first one that took part in the match wins. Without one, the whole
  match is the secret. Several groups let one pattern accept several quoting styles.
- a named group starting with ``key`` holds the name the value was assigned to
  (``password`` in ``password = ...``); when present it must pass
  `validate.is_secret_key` unless ``key_check`` is False.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import re2

from bastion.secrets import validate

_ID = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


def compile_re2(pattern: str | bytes):
    """RE2-compile quietly: RE2's own logging would echo the pattern to stderr."""
    opts = re2.Options()
    opts.log_errors = False
    opts.max_mem = 64 << 20
    return re2.compile(pattern, opts)
SEVERITIES = ("low", "medium", "high", "critical")


def _error_text(exc: Exception) -> str:
    msg = exc.args[0] if exc.args else str(exc)
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    # RE2 quotes the offending fragment; keep the reason only so the message stays short
    return str(msg).split(":", 1)[0] if len(str(msg)) > 120 else str(msg)


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """One detector. `id` is stable: it appears in markers, findings and policy conditions."""

    id: str
    pattern: str
    description: str = ""
    #: reported kind; several detectors may share one (default: the id)
    kind: str | None = None
    #: at least one must occur (case-insensitively) in the scanned text
    keywords: tuple[str, ...] = ()
    #: minimum Shannon entropy, in bits per character, of the secret part
    min_entropy: float | None = None
    #: minimum length of the secret part
    min_length: int = 0
    severity: str = "high"
    #: names from `validate.VALIDATORS`, all must pass
    validators: tuple[str, ...] = ()
    #: a validator from `validate.VALIDATORS` that proves the format (a checksum): a finding
    #: that passes it is reported as "critical"; one that fails is still reported, at `severity`
    confirms: str | None = None
    #: reject placeholders (``xxxx``, ``<token>``, ``${VAR}``) — on unless the format itself is the evidence
    placeholder_check: bool = True
    #: validate the ``key`` group with `validate.is_secret_key`
    key_check: bool = True
    #: on overlapping findings the higher priority wins (specific formats beat generic ones)
    priority: int = 50
    #: where it came from ("builtin" or a policy file), for messages
    source: str = "builtin"
    #: how many bytes before the position where Hyperscan saw a match (or the anchor) a match
    #: can start; the scanner confirms with RE2 only on the lines around it. None: the pattern
    #: may span many lines, confirm on the whole text (the default for policy detectors)
    window: int | None = None
    #: a cheaper Hyperscan pattern that fires once where a match ends or close after it,
    #: for patterns that would otherwise report many end positions (generic assignments)
    anchor: str | None = None
    #: every match lies within one line and the anchor's last byte is on that line: RE2
    #: confirms on that line only (generic assignments fire on every ``token = x`` of code)
    single_line: bool = False
    #: not in the Hyperscan prefilter: RE2 searches the whole text for it in a pass of its own.
    #: For context-free shapes with a long bounded repeat (a bare 40-character key): Hyperscan
    #: slows down on such repeats and reports every position, RE2's DFA runs them at ~650 MB/s
    re2_pass: bool = False
    #: for a re2_pass detector: the characters its secret is a run of (min_length of them in
    #: a row is a necessary condition, checked with one bytes.translate before the RE2 search,
    #: which costs more than the check on the short texts of most actions)
    run_of: str | None = None
    tags: tuple[str, ...] = field(default=())

    @property
    def reported_kind(self) -> str:
        return self.kind or self.id

    # ------------------------------------------------------------------ validation

    def check(self) -> "DetectorSpec":
        """Raise ValueError naming the detector when anything is wrong; return self."""
        where = f"secret detector {self.id!r} ({self.source})"
        if not isinstance(self.id, str) or not _ID.match(self.id):
            raise ValueError(f"{where}: id must be lowercase letters, digits and underscores, starting with a letter")
        if self.kind is not None and not _ID.match(self.kind):
            raise ValueError(f"{where}: kind must be lowercase letters, digits and underscores")
        if not isinstance(self.pattern, str) or not self.pattern:
            raise ValueError(f"{where}: pattern must be a non-empty string")
        try:
            compiled = compile_re2(self.pattern)
        except Exception as exc:  # re2.error, or TypeError for odd inputs
            raise ValueError(f"{where}: invalid pattern (RE2 syntax): {_error_text(exc)}") from None
        if compiled.search("") is not None:
            raise ValueError(f"{where}: pattern matches the empty string")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
        if self.min_entropy is not None and not (0.0 <= float(self.min_entropy) <= 8.0):
            raise ValueError(f"{where}: min_entropy must be between 0 and 8 bits per character")
        if not isinstance(self.min_length, int) or self.min_length < 0:
            raise ValueError(f"{where}: min_length must be a non-negative integer")
        for kw in self.keywords:
            if not isinstance(kw, str) or not kw.strip():
                raise ValueError(f"{where}: keywords must be non-empty strings")
            if not kw.isascii():
                raise ValueError(f"{where}: keywords must be ASCII")
        for name in self.validators + ((self.confirms,) if self.confirms else ()):
            try:
                validate.get_validator(name)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        if not isinstance(self.priority, int):
            raise ValueError(f"{where}: priority must be an integer")
        if self.run_of is not None and not (self.re2_pass and isinstance(self.run_of, str) and self.run_of.isascii() and self.run_of):
            raise ValueError(f"{where}: run_of must be non-empty ASCII and needs re2_pass")
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "policy") -> "DetectorSpec":
        """Build from policy YAML (``secrets: {detectors: [...]}``); raise ValueError on any problem."""
        if not isinstance(data, Mapping):
            raise ValueError(f"secret detector ({source}): expected a mapping, got {type(data).__name__}")
        allowed = {
            "id",
            "pattern",
            "description",
            "kind",
            "keywords",
            "min_entropy",
            "min_length",
            "severity",
            "validators",
            "placeholder_check",
            "priority",
            "confirms",
        }
        unknown = sorted(set(data) - allowed)
        ident = data.get("id", "?")
        if unknown:
            raise ValueError(f"secret detector {ident!r} ({source}): unknown field(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
        for req in ("id", "pattern"):
            if req not in data:
                raise ValueError(f"secret detector {ident!r} ({source}): missing required field {req!r}")
        keywords = data.get("keywords") or ()
        if isinstance(keywords, str):
            keywords = (keywords,)
        validators = data.get("validators") or ()
        if isinstance(validators, str):
            validators = (validators,)
        try:
            spec = cls(
                id=data["id"],
                pattern=data["pattern"],
                description=str(data.get("description", "")),
                kind=data.get("kind"),
                keywords=tuple(keywords),
                min_entropy=None if data.get("min_entropy") is None else float(data["min_entropy"]),
                min_length=int(data.get("min_length", 0)),
                severity=str(data.get("severity", "high")).lower(),
                validators=tuple(validators),
                placeholder_check=bool(data.get("placeholder_check", True)),
                confirms=None if data.get("confirms") is None else str(data["confirms"]),
                priority=int(data.get("priority", 60)),
                source=source,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"secret detector {ident!r} ({source}): {exc}") from None
        return spec.check()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "kind": self.reported_kind, "pattern": self.pattern, "severity": self.severity}
        if self.description:
            out["description"] = self.description
        if self.keywords:
            out["keywords"] = list(self.keywords)
        if self.min_entropy is not None:
            out["min_entropy"] = self.min_entropy
        if self.validators:
            out["validators"] = list(self.validators)
        if self.confirms:
            out["confirms"] = self.confirms
        out["source"] = self.source
        return out
