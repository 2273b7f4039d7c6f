"""Canonical JSON (RFC 8785 style) and THE canonical action digest.

Hashes only mean something if every writer and every verifier turns the same value
into the same bytes. This module is the one place that does that:

* objects: keys sorted by their UTF-16 code units, no whitespace;
* strings: UTF-8, only `"`, `\\` and control characters escaped (`\\b \\t \\n \\f \\r`,
  others `\\u00xx`); a lone surrogate (which UTF-8 cannot carry) is written `\\udxxx`;
* numbers: floats as ECMAScript writes them (`1e+21`, `1e-7`, `100`); NaN and
  infinities are refused. Integers are written exactly, whatever their size (RFC 8785
  would round integers beyond 2**53 through a double; an audit record never rounds);
* true, false, null; lists and tuples are arrays. Anything else is refused.

The fast path hands plain data (str, int, bool, None, dict, list, tuple) to orjson,
whose output is byte-identical to the rules above for such data; a value holding a
float, an unusual type or a non-BMP key takes the pure-Python path.

`action_digest(action)` is "sha256:" + hex over the canonical JSON of the action's
contract fields, without `id` and without fields left at their defaults, so that
`{"capability": "x"}` and `{"capability": "x", "args": {}}` digest alike and a field
added to Action later does not change the digest of actions that do not use it.
Approvals bind to this digest: change it only with a migration plan.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Mapping

import orjson

from bastion.errors import BastionError
from bastion.model import Action, coerce_action

__all__ = ["CanonicalError", "DigestedAction", "canonical", "canonical_bytes", "action_digest", "digest_bytes", "digest_fields", "loads", "sha256_hex"]


class CanonicalError(BastionError, ValueError):
    """A value that has no canonical JSON form (NaN, a set, a non-string key...)."""


_SORT = orjson.OPT_SORT_KEYS


def canonical_bytes(value: Any, *, plain: bool | None = None) -> bytes:
    """The canonical JSON of `value`, as UTF-8 bytes.

    `plain=True` is for callers that already know `value` holds only str, int, bool,
    None, dict, list and tuple (it skips that check); anything else is checked.
    """
    if plain or (plain is None and _plain(value)):
        try:
            out = orjson.dumps(value, option=_SORT)
        except (TypeError, orjson.JSONEncodeError):
            pass  # big integer, lone surrogate, recursion...: the careful path decides
        else:
            # Keys sort by code point in orjson and by UTF-16 unit here; they differ only
            # when a key holds a character beyond U+FFFF (a 4-byte UTF-8 sequence).
            if out.isascii() or not _has_astral(out):
                return out
    parts: list[str] = []
    _emit(value, parts, 0)
    return "".join(parts).encode("utf-8")


def canonical(value: Any) -> str:
    """The canonical JSON of `value`, as text."""
    return canonical_bytes(value).decode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- fast-path check

_LEAF = (str, int, type(None), bool)


def _plain(value: Any, depth: int = 0) -> bool:
    """True when `value` holds only types whose orjson form is already canonical."""
    if depth > _MAX_DEPTH:
        return False  # the careful path raises a clear error
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                return False
            tv = type(v)
            if tv is str or tv is int or v is None or tv is bool:
                continue
            if not _plain(v, depth + 1):
                return False
        return True
    if t is list or t is tuple:
        for v in value:
            tv = type(v)
            if tv is str or tv is int or v is None or tv is bool:
                continue
            if not _plain(v, depth + 1):
                return False
        return True
    return t in _LEAF


def _has_astral(data: bytes) -> bool:
    return max(data) >= 0xF0


# --------------------------------------------------------------------------- careful path

_MAX_DEPTH = 512

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(s: str) -> str:
    try:
        return orjson.dumps(s).decode("utf-8")  # same escapes as below, in C
    except orjson.JSONEncodeError:
        pass  # a lone surrogate: written as an escape by hand
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utf16_key(s: str) -> bytes:
    return s.encode("utf-16-be", "surrogatepass")


def _emit(value: Any, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise CanonicalError(f"value nested deeper than {_MAX_DEPTH} levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(str(value)))
    elif isinstance(value, int):
        out.append(int.__repr__(int(value)))
    elif isinstance(value, float):
        out.append(format_number(float(value)))
    elif isinstance(value, Mapping):
        keys = list(value.keys())
        for k in keys:
            if not isinstance(k, str):
                raise CanonicalError(f"object keys must be strings, got {type(k).__name__}")
        out.append("{")
        for i, k in enumerate(sorted(keys, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(_string(str(k)))
            out.append(":")
            _emit(value[k], out, depth + 1)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _emit(v, out, depth + 1)
        out.append("]")
    else:
        raise CanonicalError(f"{type(value).__name__} has no JSON form")


def format_number(x: float) -> str:
    """A float as ECMAScript's Number.prototype.toString writes it (RFC 8785 section 3.2.2.3)."""
    if math.isnan(x) or math.isinf(x):
        raise CanonicalError("NaN and infinities have no JSON form")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    r = repr(abs(x))  # shortest round-trip digits, e.g. '1.5e-07', '0.00012', '123.0', '1e+16'
    mantissa, _, exp = r.partition("e")
    int_part, _, frac = mantissa.partition(".")
    all_digits = int_part + frac
    digits = all_digits.lstrip("0")
    # value = 0.<digits> * 10**n
    n = len(int_part) - (len(all_digits) - len(digits)) + (int(exp) if exp else 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    es = f"e+{e}" if e > 0 else f"e{e}"
    if k == 1:
        return sign + digits + es
    return sign + digits[0] + "." + digits[1:] + es


# --------------------------------------------------------------------------- action digest


def digest_fields(action: Any) -> dict[str, Any]:
    """The part of an action its digest covers: contract fields except `id`, defaults left out."""
    act = coerce_action(action)
    fast = _fast_fields(act)
    if fast is not None:
        return fast
    return _prune(act.model_dump(mode="json"), _DEFAULTS or _defaults())


#: The Action schema the fast path was written for; any other shape takes the generic path.
_SCHEMA = {
    "": ("id", "capability", "target", "args", "agent", "session", "environment", "resource", "risk", "context"),
    "agent": ("id", "role", "team", "owner", "tags"),
    "session": ("id", "parent_id", "depth"),
    "resource": ("type", "path", "classification"),
    "risk": ("tier", "signals"),
}
_FAST: list[Any] = []  # [Action class] once the schema check passed, [None] if it failed
_OPTIONAL = {"agent": ("id", "role", "team", "owner"), "session": ("id", "parent_id"), "resource": ("type", "path", "classification"), "risk": ("tier",)}
_SEQUENCES = {"agent": ("tags",), "risk": ("signals",)}


#: the field values (`__dict__`) of each nested model at its defaults
_EMPTY_NESTED: dict[str, dict[str, Any]] = {}


def _fast_ok() -> Any:
    if not _FAST:
        fields = {"": tuple(Action.model_fields)}
        for name in _NESTED:
            fields[name] = tuple(Action.model_fields[name].annotation.model_fields)  # type: ignore[union-attr]
        empty = Action(capability="x")
        for name in _NESTED:
            _EMPTY_NESTED[name] = dict(getattr(empty, name).__dict__)
        ok = fields == _SCHEMA and all(
            list(_EMPTY_NESTED[name]) == list(_SCHEMA[name])
            and all(_EMPTY_NESTED[name][f] is None for f in _OPTIONAL[name])
            and all(_EMPTY_NESTED[name][f] == () for f in _SEQUENCES.get(name, ()))
            for name in _NESTED
        ) and _EMPTY_NESTED["session"]["depth"] == 0
        _FAST.append(Action if ok else None)
    return _FAST[0]


def _fast_fields(a: Any) -> dict[str, Any] | None:
    """digest_fields() without model_dump for plain actions (2x faster); None: take the generic path.

    Identical output by construction (and by a property test against the generic path).
    """
    fields = _fast_plain_fields(a)
    return fields[0] if fields is not None else None


def _fast_plain_fields(a: Any) -> tuple[dict[str, Any], bool] | None:
    """(digest fields, whether every value is of a plain JSON type), or None for the generic path.

    The flag lets `digest_bytes` skip the second walk over the value that
    `canonical_bytes` would otherwise make to find out (args and context are walked
    here anyway; the other fields are checked one by one, which costs nothing).
    """
    cls = _fast_ok()
    if cls is None or type(a) is not cls:
        return None
    d = a.__dict__  # pydantic keeps field values here: plain dict reads, no attribute lookups
    args, context = d["args"], d["context"]
    if (args and not _plain(args)) or (context and not _plain(context)):
        return None
    capability, target, environment = d["capability"], d["target"], d["environment"]
    plain = type(capability) is str
    out: dict[str, Any] = {"capability": capability}
    if target is not None:
        out["target"] = target
        plain = plain and type(target) is str
    if args:
        out["args"] = args
    if environment is not None:
        out["environment"] = environment
        plain = plain and type(environment) is str
    for name in _NESTED:
        fields = d[name].__dict__
        if fields == _EMPTY_NESTED[name]:
            continue  # every field at its default: the common case for resource and risk
        sub: dict[str, Any] = {}
        for f in _OPTIONAL[name]:  # default None
            v = fields[f]
            if v is not None:
                sub[f] = v
                if type(v) is not str:
                    plain = False
        for f in _SEQUENCES.get(name, ()):  # default ()
            v = fields[f]
            if v:
                v = sub[f] = list(v)
                for item in v:
                    if type(item) is not str:
                        plain = False
        if name == "session":
            depth = fields["depth"]
            if depth != 0:
                sub["depth"] = depth
                if type(depth) is not int:
                    plain = False
        if sub:
            out[name] = sub
    if context:
        out["context"] = context
    return out, plain


def loads(data: bytes | str) -> Any:
    """Compact JSON that `canonical_bytes` or orjson wrote, read back exactly.

    orjson reads integers beyond 64 bits as floats without a word (-2**63 - 1 comes back
    as -9.223372036854776e+18) and refuses lone surrogates; the standard library does
    neither. orjson first, and its reading is kept only when writing it again gives the
    same bytes (about a third of the cost of one search for long digit runs); otherwise
    the standard library reads it.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        value = _MISSING
    if value is not _MISSING:
        again = orjson.dumps(value)
        if again == data if type(data) is not str else again == data.encode("utf-8", "surrogatepass"):
            return value
    return json.loads(data if type(data) is str else bytes(data).decode("utf-8", "surrogatepass"))


class DigestedAction:
    """An action already reduced to `digest_bytes()`: its digest fields and their canonical
    JSON. What crosses to a process that records actions it never saw as `Action`s (the
    audit writer's child process); `digest_bytes` hands the two back as they are."""

    __slots__ = ("fields", "raw")

    def __init__(self, fields: dict[str, Any], raw: bytes) -> None:
        self.fields = fields
        self.raw = raw


def digest_bytes(action: Any) -> tuple[dict[str, Any], bytes]:
    """`digest_fields(action)` and its canonical JSON (the bytes `action_digest` hashes)."""
    if type(action) is DigestedAction:
        return action.fields, action.raw
    act = coerce_action(action)
    fast = _fast_plain_fields(act)
    if fast is not None:
        fields, plain = fast
        return fields, canonical_bytes(fields, plain=True if plain else None)
    fields = _prune(act.model_dump(mode="json"), _DEFAULTS or _defaults())
    return fields, canonical_bytes(fields)


def action_digest(action: Any) -> str:
    """"sha256:<hex>" of the canonical JSON of `digest_fields(action)`. Stable; approvals bind to it."""
    return "sha256:" + hashlib.sha256(digest_bytes(action)[1]).hexdigest()


_DEFAULTS: dict[str, Any] | None = None
#: top-level fields that are nested models (pruned field by field); args and context are
#: free-form and kept whole, so `{"x": null}` in args never collapses into `{}`.
_NESTED = ("agent", "session", "resource", "risk")


def _defaults() -> dict[str, Any]:
    global _DEFAULTS
    if _DEFAULTS is None:
        d = Action(capability="x").model_dump(mode="json")
        d.pop("capability")
        _DEFAULTS = d
    return _DEFAULTS


def _prune(dumped: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dumped.items():
        default = defaults.get(key, _MISSING)
        if value == default or key == "id":
            continue
        if key in _NESTED and type(value) is dict:
            value = {k: v for k, v in value.items() if default.get(k, _MISSING) != v}
        out[key] = value
    return out


_MISSING = object()
