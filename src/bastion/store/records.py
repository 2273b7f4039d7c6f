"""What an audit record holds, built from a decision or an event, secrets redacted.

A decision record is the decision's contract JSON (`Decision.to_dict()`), the action's
digest (`bastion.canonical.action_digest`) and the action itself, both passed through
the redactor, so no raw secret is ever stored:

    {"action": {...digest fields, redacted...}, "action_digest": "sha256:...",
     "decision": {...Decision.to_dict(), redacted...}, "kind": "decision",
     "redacted": [...where the redactor replaced something...], "ts": "...Z", "v": 1}

An event record (policy change, approval, writer notices) is

    {"actor": ..., "kind": "policy.change", "payload": {...redacted...},
     "redacted": [...], "ts": "...Z", "v": 1}

`index_columns(record)` derives the columns stores index for queries; the verifier
recomputes them from the stored body, so a query can never be fooled by an edited column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol

import orjson

from bastion.canonical import CanonicalError, _plain, canonical, canonical_bytes, digest_fields, sha256_hex
from bastion.model import new_id

RECORD_VERSION = 1
DECISION = "decision"
#: ids made by bastion.model.new_id in this process: a kind letter, this process's random
#: prefix and a counter. They carry nothing from the agent, so they skip the redactor
#: (which spends tens of microseconds on each such hex string).
_GENERATED_ID = re.compile(r"\A[a-z]-" + re.escape(new_id("x")[2:10]) + r"[0-9a-f]{8,}\Z")
#: the one timestamp form records use (fixed pattern, no backtracking): it sorts like time
_ISO_MS = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")


class RedactorLike(Protocol):
    """The interface of `bastion.secrets.Redactor` this module relies on."""

    def redact_action(self, action: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]: ...

    def redact_value(self, value: Any) -> tuple[Any, list[Any]]: ...


@dataclass(slots=True)
class PreparedRecord:
    """A record ready to be chained: its canonical body and its index columns."""

    body: bytes
    columns: tuple[Any, ...]  # index_columns() order: ts, kind, decision, agent, session, capability, actor, policies, rules

    @property
    def kind(self) -> str:
        return self.columns[1]


def iso_now() -> str:
    return iso_ms(datetime.now(timezone.utc))


def iso_ms(dt: datetime) -> str:
    """UTC, millisecond precision, fixed width: these strings sort like the instants they name."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_redactor() -> RedactorLike:
    """The project's redactor. Fails loudly rather than storing unredacted records."""
    try:
        from bastion.secrets import Redactor
    except ImportError as exc:  # pragma: no cover - depends on the secrets package being present
        from bastion.store.base import StoreError

        raise StoreError(
            "bastion.secrets.Redactor is not available; refusing to write audit records without redaction"
        ) from exc
    return Redactor()


def _redaction_list(items: Any, prefix: str) -> list[Any]:
    """Redactions as stored: dicts, paths prefixed with the part of the record they are in."""
    out: list[Any] = []
    for item in items or ():
        if hasattr(item, "to_dict"):
            item = item.to_dict()
        if not isinstance(item, dict):
            # never str() an unknown object: it might render the secret it describes
            item = {"kind": type(item).__name__}
        item = {k: v for k, v in item.items() if k in ("kind", "path", "marker", "detector", "severity")}
        if isinstance(item.get("path"), str):
            item["path"] = prefix + item["path"] if item["path"] not in ("", "$") else prefix.rstrip(".")
        out.append(item)
    return out


#: Decision fields that differ from one decision to the next; the rest (reason, rules,
#: policy ids, obligations...) repeats for every decision a rule makes.
_VOLATILE = frozenset(("decision_id", "action_id", "timestamp", "risk_score", "redactions", "redacted_action"))


class RecordBuilder:
    """Builds records; remembers the redaction of the repeating part of decisions.

    The redactor costs microseconds per string it scans, and most of a decision (rule
    reasons, sources, policy ids) is the same text for every decision a rule makes, so
    that part is redacted once per distinct content (bounded memo, exact: the key is its
    canonical JSON). The per-decision ids ride along with the action in one redactor call.
    """

    def __init__(self, redactor: RedactorLike, memo_size: int = 4096) -> None:
        self.redactor = redactor
        self._memo: dict[bytes, _Stable] = {}
        self._memo_size = memo_size

    def _stable(self, stable: dict[str, Any]) -> "_Stable":
        key = _memo_key(stable)
        hit = self._memo.get(key)
        if hit is None:
            red, found = self.redactor.redact_value(stable)
            rules = [r for r in _list(red.get("rules")) if type(r) is dict]
            hit = _Stable(
                red,
                _redaction_list(found, "decision."),
                _plain(red),
                _str(red.get("decision")),
                _names([*_list(red.get("policy_ids")), *(r.get("policy") for r in rules)]),
                _names([r.get("rule") for r in rules]),
            )
            if len(self._memo) >= self._memo_size:
                self._memo.clear()
            self._memo[key] = hit
        return hit

    def decision(self, decision: Mapping[str, Any], action: Any) -> PreparedRecord:
        """A decision (its `to_dict()`) and its action (Action or mapping) as a record."""
        red = self.redactor
        fields = digest_fields(action)
        raw = canonical_bytes(fields)
        digest = "sha256:" + sha256_hex(raw)
        # the action, and the ids the decision carries unless this process generated them
        # (an agent may choose its action ids; ids from bastion.model.new_id hold no input)
        ids = {k: decision[k] for k in ("action_id", "decision_id") if k in decision}
        scan = dict(fields)
        for name, value in ids.items():
            if not (type(value) is str and _GENERATED_ID.match(value)):
                scan[name] = value
        red_scan, found_a = red.redact_action(scan)
        if found_a:
            red_scan = dict(red_scan)
            for name in ids:
                if name in scan:
                    ids[name] = red_scan.pop(name, None)
            action_bytes = canonical_bytes(red_scan)
        else:
            red_scan = fields
            action_bytes = raw
        hit = self._stable({k: v for k, v in decision.items() if k not in _VOLATILE})
        red_decision = dict(hit.redacted)
        red_decision.update(ids)
        ts = decision.get("timestamp")
        if not isinstance(ts, str) or not _ISO_MS.match(ts):
            raise CanonicalError("the decision's timestamp is not an ISO 8601 UTC time with milliseconds")
        red_decision["timestamp"] = ts
        extra: dict[str, Any] = {}
        for k in ("risk_score", "redactions", "redacted_action"):
            if k in decision:
                v = decision[k]
                if type(v) is int or v is None or (type(v) in (list, dict) and not v):
                    red_decision[k] = v
                else:
                    extra[k] = v
        found_v: list[Any] = []
        plain = hit.plain and all(type(v) is str for v in ids.values())
        if extra:
            red_extra, found_v = red.redact_value(extra)
            red_decision.update(red_extra)
            plain = plain and _plain(red_extra)
        redacted = [_place(r, ids) for r in _redaction_list(found_a, "")] + hit.found + _redaction_list(found_v, "decision.")
        # Keys are written in canonical order, so the concatenation IS the canonical JSON.
        body = b"".join(
            (
                b'{"action":',
                action_bytes,
                b',"action_digest":"',
                digest.encode("ascii"),
                b'","decision":',
                canonical_bytes(red_decision, plain=True if plain else None),
                b',"kind":"decision","redacted":',
                canonical_bytes(redacted) if redacted else b"[]",
                b',"ts":"',
                ts.encode("ascii"),
                b'","v":%d}' % RECORD_VERSION,
            )
        )
        agent = red_scan.get("agent")
        session = red_scan.get("session")
        columns = (
            ts,
            DECISION,
            hit.effect,
            _str(agent.get("id")) if type(agent) is dict else None,
            _str(session.get("id")) if type(session) is dict else None,
            _str(red_scan.get("capability")),
            None,
            hit.policies,
            hit.rules,
        )
        return PreparedRecord(body, columns)

    def event(self, kind: str, payload: Mapping[str, Any], actor: str | None, ts: str | None = None) -> PreparedRecord:
        """A policy change, approval event or writer notice as a record."""
        check_kind(kind)
        if actor is not None and not isinstance(actor, str):
            raise CanonicalError("actor must be a string")
        if not isinstance(payload, Mapping):
            raise CanonicalError("an event payload must be a JSON object")
        red, found = self.redactor.redact_value({"actor": actor, "payload": dict(payload)})
        record = {
            "actor": red["actor"],
            "kind": kind,
            "payload": red["payload"],
            "redacted": _redaction_list(found, ""),
            "ts": ts or iso_now(),
            "v": RECORD_VERSION,
        }
        return PreparedRecord(canonical_bytes(record), index_columns(record))


@dataclass(slots=True, frozen=True)
class _Stable:
    """The redacted repeating part of a decision, and what the index needs from it."""

    redacted: dict[str, Any]
    found: list[Any]
    plain: bool
    effect: str | None
    policies: str | None
    rules: str | None


def _place(redaction: dict[str, Any], ids: Mapping[str, Any]) -> dict[str, Any]:
    """Paths from the action scan: the ids it carried live in the decision."""
    path = redaction.get("path")
    if isinstance(path, str):
        head = path.split(".", 1)[0].split("[", 1)[0]
        redaction["path"] = ("decision." if head in ids else "action.") + path if path else "action"
    return redaction


def _memo_key(value: Any) -> bytes:
    """A key that differs whenever `value` differs (orjson is exact except NaN/inf -> null)."""
    try:
        key = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return b"c" + canonical_bytes(value)
    return b"c" + canonical_bytes(value) if b"null" in key else b"o" + key


def build_decision_record(decision: Mapping[str, Any], action: Any, redactor: RedactorLike) -> PreparedRecord:
    return RecordBuilder(redactor, memo_size=0).decision(decision, action)


def build_event_record(
    kind: str, payload: Mapping[str, Any], actor: str | None, redactor: RedactorLike, ts: str | None = None
) -> PreparedRecord:
    return RecordBuilder(redactor).event(kind, payload, actor, ts)


def check_kind(kind: Any) -> None:
    """Event kinds are dotted lower-case names; "decision" is reserved for decisions."""
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        raise CanonicalError("an event kind must be a non-empty string of at most 64 characters")
    if kind == DECISION:
        raise CanonicalError('"decision" records are written by AuditWriter.record(), not as events')
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
    if not kind[0].isalpha() or not set(kind) <= allowed:
        raise CanonicalError(f"bad event kind {kind!r}: use lower-case dotted names such as 'policy.change'")


def _str(v: Any) -> str | None:
    return v if type(v) is str else None


def _names(values: list[Any]) -> str | None:
    """A sorted, de-duplicated list of names as canonical JSON text (None when empty)."""
    names = sorted({v for v in values if type(v) is str})
    if not names:
        return None
    if len(names) == 1 and names[0].isascii():
        return orjson.dumps(names).decode()  # the common case; identical to canonical()
    return canonical(names)


def index_columns(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """(ts, kind, decision, agent, session, capability, actor, policies, rules) of a record."""
    kind = _str(record.get("kind"))
    ts = _str(record.get("ts"))
    if kind == DECISION:
        d = _dict(record.get("decision"))
        a = _dict(record.get("action"))
        rules = [r for r in _list(d.get("rules")) if type(r) is dict]
        return (
            ts,
            kind,
            _str(d.get("decision")),
            _str(_dict(a.get("agent")).get("id")),
            _str(_dict(a.get("session")).get("id")),
            _str(a.get("capability")),
            None,
            _names([*_list(d.get("policy_ids")), *(r.get("policy") for r in rules)]),
            _names([r.get("rule") for r in rules]),
        )
    p = _dict(record.get("payload"))
    return (
        ts,
        kind,
        _str(p.get("decision")),
        _str(p.get("agent")),
        _str(p.get("session")),
        _str(p.get("capability")),
        _str(record.get("actor")),
        _names([p.get("policy")]),
        _names([p.get("rule")]),
    )


_EMPTY: dict[str, Any] = {}


def _dict(v: Any) -> Mapping[str, Any]:
    return v if type(v) is dict else _EMPTY


def _list(v: Any) -> list[Any]:
    return v if type(v) is list else []
