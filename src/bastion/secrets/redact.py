"""The redaction walk: one place that turns secrets into markers.

`Redactor` walks strings, and dicts/lists of them however deeply nested,
replaces every finding with its marker (``[REDACTED:<kind>:<fingerprint>]``) and
reports each redaction as ``{"kind", "path", "marker"}`` with a JSON path
(``args.headers.Authorization``, ``args.items[2]``, ``context["x.y"]``).

Three things go beyond scanning each string on its own:

- **Field names are context.** ``{"password": "hunter2"}``: the value alone says
  nothing, its key says everything. A value under a credential-looking key
  (``validate.key_strength``) is a finding when it is a literal. The same holds
  for an argv flag followed by its value (``["--token", "abc..."]``) and for an
  ``Authorization`` header value.
- **Fast no-secret path.** One walk collects the strings (and keys) of a value
  built from plain JSON types, one Hyperscan pass checks them joined; when nothing
  fires the input itself is returned, uncopied. Only when something fires (or a
  credential-named field holds a value) are the strings scanned one by one.
- **Fail closed.** A value nested deeper than `MAX_DEPTH`, or a type the walk does
  not know, is replaced by ``[REDACTED:unscanned:...]`` rather than passed on unread.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Mapping

from bastion.secrets import markers, validate
from bastion.secrets.scanner import Finding, Scanner

MAX_DEPTH = 64
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization", "x-authorization"})
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})
UNSCANNED = "unscanned"


def join_path(base: str, key: Any) -> str:
    """JSON path of `key` under `base`: ``args.body``, ``args.items[2]``, ``args["a.b"]``."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    key = str(key)
    if _SIMPLE_KEY.match(key):
        return f"{base}.{key}" if base else key
    quoted = json.dumps(key, ensure_ascii=False)
    return f"{base}[{quoted}]"


def _render(path: Any) -> str:
    """A JSON path from the walk's (parent, key) chain."""
    keys = []
    while type(path) is tuple:
        path, k = path
        keys.append(k)
    for k in reversed(keys):
        path = join_path(path, k)
    return path


@lru_cache(maxsize=4096)
def _key_strength(key: str) -> int:
    return validate.key_strength(key)


class Redactor:
    """Replaces secrets with markers in text, nested values and actions."""

    def __init__(
        self,
        scanner: Scanner | None = None,
        key: bytes | None = None,
        *,
        fingerprint_length: int = markers.DEFAULT_FINGERPRINT_LENGTH,
    ) -> None:
        if scanner is None:
            from bastion.secrets import default_scanner

            scanner = default_scanner()
        self.scanner = scanner
        if key is not None and not isinstance(key, (bytes, bytearray)):
            raise TypeError("key must be bytes")
        self._key = bytes(key) if key is not None else None
        if not 4 <= fingerprint_length <= 64:
            raise ValueError("fingerprint_length must be between 4 and 64 hex digits")
        self.fingerprint_length = fingerprint_length

    # ------------------------------------------------------------------ keys and markers

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = markers.default_key()[0]
        return self._key

    def marker(self, finding: Finding) -> str:
        return finding.marker(self.key, self.fingerprint_length)

    # ------------------------------------------------------------------ text

    def redact_text(self, text: str) -> tuple[str, list[Finding]]:
        """`text` with every finding replaced by its marker, and the findings."""
        findings = self.scanner.scan(text)
        return self._apply(text, findings), findings

    def _apply(self, text: str, findings: list[Finding]) -> str:
        if not findings:
            return text
        parts: list[str] = []
        pos = 0
        for f in findings:
            parts.append(text[pos : f.start])
            parts.append(self.marker(f))
            pos = f.end
        parts.append(text[pos:])
        return "".join(parts)

    # ------------------------------------------------------------------ fields (key context)

    def scan_field(self, key: str | None, value: str) -> list[Finding]:
        """Findings in `value`, using `key` (a field name, header, or flag) as context."""
        lk = key.lower() if key else ""
        if lk in _AUTH_HEADERS:
            return self._scan_with_prefix(f"{key}: ", value)
        if lk in _COOKIE_HEADERS:
            return self._scan_cookie(value)
        findings = self.scanner.scan(value)
        if key and value.strip() and _key_strength(key) > 0:
            whole = self._whole_value(key, value, findings)
            if whole is not None:
                return [whole]
        return findings

    def _whole_value(self, key: str, value: str, findings: list[Finding]) -> Finding | None:
        v = value.strip()
        if not validate.generic_value(v):
            return None
        strength = _key_strength(key)
        if strength == 1 and not validate.random_token(v):
            return None
        if any(f.start == 0 and f.end == len(value) for f in findings):
            return None  # a specific detector already covers the whole value
        if findings and not any(f.kind in ("generic_secret", "generic_password") for f in findings) and sum(f.length for f in findings) >= len(v) // 2:
            return None  # specific findings cover most of it; keep their kinds
        kind = "generic_password" if validate.is_password_key(key) else "generic_secret"
        if kind in self.scanner.disabled_kinds:
            return None
        return Finding(kind, "field_name", 0, len(value), 1, 1, "high", value)

    def _scan_with_prefix(self, prefix: str, value: str) -> list[Finding]:
        shifted = []
        n = len(prefix)
        for f in self.scanner.scan(prefix + value):
            if f.end <= n:
                continue
            s = max(f.start - n, 0)
            shifted.append(Finding(f.kind, f.detector, s, f.end - n, f.line, max(f.column - n, 1) if f.line == 1 else f.column, f.severity, f._secret, f.encoding))
        return shifted

    def _scan_cookie(self, value: str) -> list[Finding]:
        # "a=1; session=abc...; theme=dark": each pair is a key=value field
        out = self.scanner.scan(value)
        pos = 0
        for part in value.split(";"):
            start = pos
            pos += len(part) + 1
            name, eq, val = part.partition("=")
            if not eq:
                continue
            name = name.strip()
            if name and _key_strength(name) > 0 or name.lower() in ("session", "sessionid", "sid", "jsessionid", "phpsessid", "connect.sid"):
                vstart = start + len(part) - len(val)
                v = val.strip()
                if len(v) >= 8 and not validate.is_placeholder(v) and not any(f.start <= vstart < f.end for f in out):
                    lead = len(val) - len(val.lstrip())
                    s = vstart + lead
                    out.append(Finding("session_cookie", "field_name", s, s + len(v), 1, s + 1, "high", v))
        out.sort(key=lambda f: f.start)
        return out

    # ------------------------------------------------------------------ nested values

    def redact_value(self, value: Any, path: str = "") -> tuple[Any, list[dict]]:
        """A redacted copy of `value` and the redactions made, with JSON paths.

        When nothing is found and `value` is built from plain JSON types (dict with str
        keys, list, tuple, str, int, float, bool, None), `value` itself is returned,
        uncopied: treat the result as read-only. Other values come back converted
        (bytes to str, other mappings to dict, unknown types to an ``unscanned`` marker).
        """
        state = self._quick_state(value)
        if state == _CLEAN:
            return value, []
        redactions: list[dict] = []
        out = self._walk(value, path, None, redactions, 0)
        if not redactions and state != _NOT_PLAIN:
            return value, []
        return out, redactions

    def _walk(self, value: Any, path: Any, key: str | None, out: list[dict], depth: int) -> Any:
        # `path` is a str (the root) or a (parent, key) pair, rendered only for a finding
        t = type(value)
        if t is str:
            return self._redact_str(value, path, key, out)
        if value is None or t is int or t is float or t is bool:
            return value
        if depth >= MAX_DEPTH:
            return self._unscanned(value, path, out, "nested deeper than the redaction limit")
        if t is dict or isinstance(value, Mapping):
            result: dict = {}
            might_contain = self.scanner.might_contain
            for k, v in value.items():
                if type(k) is str or isinstance(k, str):
                    # keys are names; only a long one can be a token used as a key
                    new_k = self._redact_str(k, (path, k), None, out) if len(k) >= 16 and might_contain(k) else k
                    result[new_k] = self._walk(v, (path, new_k), k, out, depth + 1)
                else:
                    result[k] = self._walk(v, (path, k), None, out, depth + 1)
            return result
        if t is list or t is tuple or isinstance(value, (list, tuple)):
            red: list = []
            prev: Any = None
            for i, item in enumerate(value):
                item_key = key
                if i and isinstance(prev, str) and prev.startswith("-"):
                    flag = prev.lstrip("-").split("=", 1)[0]
                    if flag and _key_strength(flag) == 2:
                        item_key = flag  # ["--password", "hunter2"]
                red.append(self._walk(item, (path, i), item_key, out, depth + 1))
                prev = item
            return red if isinstance(value, list) else tuple(red)
        if isinstance(value, str):  # a str subclass
            return self._redact_str(str(value), path, key, out)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, (bytes, bytearray)):
            text = bytes(value).decode("utf-8", "surrogateescape")
            return self._redact_str(text, path, key, out)
        return self._unscanned(value, path, out, f"unsupported type {type(value).__name__}")

    def _redact_str(self, value: str, path: Any, key: str | None, out: list[dict]) -> str:
        findings = self.scan_field(key, value)
        if not findings:
            return value
        where = _render(path)
        for f in findings:
            entry = {"kind": f.kind, "path": where, "marker": self.marker(f)}
            if f.encoding:
                entry["encoding"] = "/".join(f.encoding)
            out.append(entry)
        return self._apply(value, findings)

    def _unscanned(self, value: Any, path: Any, out: list[dict], why: str) -> str:
        try:
            text = json.dumps(value, sort_keys=True, default=repr)
        except (TypeError, ValueError, RecursionError):
            text = f"<{type(value).__name__}>"
        mark = markers.marker(UNSCANNED, text, self.key, self.fingerprint_length)
        out.append({"kind": UNSCANNED, "path": _render(path), "marker": mark, "reason": why})
        return mark

    # ------------------------------------------------------------------ actions

    def redact_action(self, action: Mapping[str, Any]) -> tuple[dict, list[dict]]:
        """Redact every string of an action dict (``Action.to_dict()``): target, args, context and the rest."""
        if not isinstance(action, Mapping):
            raise TypeError(f"redact_action() takes a mapping, got {type(action).__name__}")
        return self.redact_value(action, "")

    def summarise(self, action: Mapping[str, Any]) -> dict:
        """``{"kinds": [...], "count": n}`` for policy conditions ``secrets.kinds`` / ``secrets.count``."""
        if not isinstance(action, Mapping) or self._quick_state(action) == _CLEAN:
            return {"kinds": [], "count": 0}
        _, redactions = self.redact_value(action, "")
        return {"kinds": sorted({r["kind"] for r in redactions}), "count": len(redactions)}

    def _quick_state(self, value: Any) -> int:
        """`_CLEAN` when one prefilter pass over every string of `value` shows nothing to find.

        `_SCAN`: something fired, or a credential-named field holds a value: walk it.
        `_NOT_PLAIN`: not plain JSON types (or too deep): walk it, it converts and fails closed.
        """
        t = type(value)
        if t is str:
            parts = [value]
        elif t is dict:
            parts = []
            state = _gather(value, parts, 0)
            if state:
                return state
        elif t is list or t is tuple:
            parts = []
            state = _gather_seq(value, None, parts, 0)
            if state:
                return state
        elif value is None or t is int or t is float or t is bool:
            return _CLEAN
        else:
            return _NOT_PLAIN
        scanner = self.scanner
        if scanner.joinable:
            return _SCAN if scanner.might_contain("\n".join(parts)) else _CLEAN
        # a policy pattern anchored to the whole text (\A, \z): check each string alone
        return _SCAN if any(scanner.might_contain(p) for p in parts) else _CLEAN


# --------------------------------------------------------------------------- the quick check
#
# One Python walk over plain JSON values that collects the strings for one prefilter
# pass. It mirrors what the full walk (`Redactor._walk`) looks at: every string, every
# dict key, and whether a string sits under a credential-named key (a dict key, the
# key of an enclosing list, an argv flag before it, an Authorization or Cookie header):
# such a value is a finding by its name alone, so the full walk must see it.

_CLEAN, _SCAN, _NOT_PLAIN = 0, 1, 2
_SENSITIVE: dict[str, bool] = {}


def _sensitive(key: str) -> bool:
    """Would the full walk read a value under this name as a credential (by the name alone)?"""
    hit = _SENSITIVE.get(key)
    if hit is None:
        low = key.lower()
        hit = _key_strength(key) > 0 or low in _AUTH_HEADERS or low in _COOKIE_HEADERS
        if len(_SENSITIVE) >= 8192:
            _SENSITIVE.clear()
        _SENSITIVE[key] = hit
    return hit


def _gather(d: dict, parts: list[str], depth: int) -> int:
    if depth >= MAX_DEPTH:
        return _NOT_PLAIN
    for k, v in d.items():
        if type(k) is not str:
            return _NOT_PLAIN
        parts.append(k)
        t = type(v)
        if t is str:
            if v and not v.isspace():
                hit = _SENSITIVE.get(k)
                if hit if hit is not None else _sensitive(k):
                    return _SCAN
            parts.append(v)
        elif t is dict:
            state = _gather(v, parts, depth + 1)
            if state:
                return state
        elif t is list or t is tuple:
            state = _gather_seq(v, k, parts, depth + 1)
            if state:
                return state
        elif not (v is None or t is int or t is float or t is bool):
            return _NOT_PLAIN
    return _CLEAN


def _gather_seq(seq: list | tuple, key: str | None, parts: list[str], depth: int) -> int:
    if depth >= MAX_DEPTH:
        return _NOT_PLAIN
    key_sensitive = key is not None and _sensitive(key)
    prev: Any = None
    for item in seq:
        t = type(item)
        item_key, named = key, key_sensitive
        if not named and type(prev) is str and prev.startswith("-"):
            flag = prev.lstrip("-").split("=", 1)[0]  # ["--password", "hunter2"]
            if flag and _sensitive(flag):
                item_key, named = flag, True
        if t is str:
            if named and item and not item.isspace():
                return _SCAN
            parts.append(item)
        elif t is dict:
            state = _gather(item, parts, depth + 1)
            if state:
                return state
        elif t is list or t is tuple:
            state = _gather_seq(item, item_key, parts, depth + 1)
            if state:
                return state
        elif not (item is None or t is int or t is float or t is bool):
            return _NOT_PLAIN
        prev = item
    return _CLEAN
