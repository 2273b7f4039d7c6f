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

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol

from bastion.canonical import CanonicalError, canonical, canonical_bytes, digest_fields, sha256_hex

RECORD_VERSION = 1
DECISION = "decision"


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


def _redaction_list(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items or ():
        if hasattr(item, "to_dict"):
            item = item.to_dict()
        elif not isinstance(item, (dict, str)):
            # never str() an unknown object: it might render the secret it describes
            item = {"kind": type(item).__name__}
        out.append(item)
    return out


def build_decision_record(decision: Mapping[str, Any], action: Any, redactor: RedactorLike) -> PreparedRecord:
    """A decision (its `to_dict()`) and its action (Action or mapping) as a record."""
    fields = digest_fields(action)
    raw = canonical_bytes(fields)
    digest = "sha256:" + sha256_hex(raw)
    red_action, found_a = redactor.redact_action(fields)
    action_bytes = raw if not found_a else canonical_bytes(red_action)
    red_decision, found_d = redactor.redact_value(dict(decision))
    ts = red_decision.get("timestamp")
    if not isinstance(ts, str):
        raise CanonicalError("the decision has no timestamp")
    redacted = _redaction_list(found_a) + _redaction_list(found_d)
    # Keys are written in canonical order, so the concatenation IS the canonical JSON.
    body = b"".join(
        (
            b'{"action":',
            action_bytes,
            b',"action_digest":"',
            digest.encode("ascii"),
            b'","decision":',
            canonical_bytes(red_decision),
            b',"kind":"decision","redacted":',
            canonical_bytes(redacted),
            b',"ts":',
            canonical_bytes(ts),
            b',"v":%d}' % RECORD_VERSION,
        )
    )
    record = {"action": red_action, "decision": red_decision, "kind": DECISION, "ts": ts}
    return PreparedRecord(body, index_columns(record))


def build_event_record(
    kind: str, payload: Mapping[str, Any], actor: str | None, redactor: RedactorLike, ts: str | None = None
) -> PreparedRecord:
    """A policy change, approval event or writer notice as a record."""
    check_kind(kind)
    if actor is not None and not isinstance(actor, str):
        raise CanonicalError("actor must be a string")
    if not isinstance(payload, Mapping):
        raise CanonicalError("an event payload must be a JSON object")
    red_payload, found = redactor.redact_value(dict(payload))
    red_actor = actor
    found_actor: list[Any] = []
    if actor is not None:
        red_actor, found_actor = redactor.redact_value(actor)
    record = {
        "actor": red_actor,
        "kind": kind,
        "payload": red_payload,
        "redacted": _redaction_list(found) + _redaction_list(found_actor),
        "ts": ts or iso_now(),
        "v": RECORD_VERSION,
    }
    return PreparedRecord(canonical_bytes(record), index_columns(record))


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
    return v if isinstance(v, str) else None


def _names(values: Any) -> str | None:
    """A sorted, de-duplicated list of names as canonical JSON text (None when empty)."""
    names = sorted({v for v in values if isinstance(v, str)})
    return canonical(names) if names else None


def index_columns(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """(ts, kind, decision, agent, session, capability, actor, policies, rules) of a record."""
    kind = _str(record.get("kind"))
    ts = _str(record.get("ts"))
    if kind == DECISION:
        d = record.get("decision")
        d = d if isinstance(d, Mapping) else {}
        a = record.get("action")
        a = a if isinstance(a, Mapping) else {}
        agent = a.get("agent")
        session = a.get("session")
        rules = [r for r in d.get("rules") or () if isinstance(r, Mapping)] if isinstance(d.get("rules"), list) else []
        policy_ids = d.get("policy_ids") if isinstance(d.get("policy_ids"), list) else []
        return (
            ts,
            kind,
            _str(d.get("decision")),
            _str(agent.get("id")) if isinstance(agent, Mapping) else None,
            _str(session.get("id")) if isinstance(session, Mapping) else None,
            _str(a.get("capability")),
            None,
            _names([*policy_ids, *(r.get("policy") for r in rules)]),
            _names(r.get("rule") for r in rules),
        )
    p = record.get("payload")
    p = p if isinstance(p, Mapping) else {}
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
