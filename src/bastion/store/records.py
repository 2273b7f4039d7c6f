"""What an audit record holds, built from a decision or an event, secrets redacted.

A decision record is the decision's contract JSON (`Decision.to_dict()`), the action's
digest (`bastion.canonical.action_digest`) and the action itself, both passed through
the redactor, so no raw secret is ever stored:

    {"action": {...digest fields, redacted...}, "action_digest": "sha256:...",
     "decision": {...Decision.to_dict(), redacted...}, ["idempotency_key": "...",]
     "kind": "decision", "redacted": [...where the redactor replaced something...],
     "ts": "...Z", "v": 1}

(`idempotency_key` only when the caller gave one: records without keys are unchanged.)

An event record (policy change, approval, writer notices) is

    {"actor": ..., "kind": "policy.change", "payload": {...redacted...},
     "redacted": [...], "ts": "...Z", "v": 1}

`index_columns(record)` derives the columns stores index for queries; the verifier
recomputes them from the stored body, so a query can never be fooled by an edited column.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol, Sequence

import orjson

from bastion.canonical import CanonicalError, canonical, canonical_bytes, digest_bytes
from bastion.model import new_id

RECORD_VERSION = 1
DECISION = "decision"
#: ids made by bastion.model.new_id in this process: a short kind, this process's random
#: prefix and a counter. They carry nothing from the agent, so they skip the redactor
#: (which spends tens of microseconds on each such hex string).
def generated_id_pattern(prefix: str) -> "re.Pattern[str]":
    """Ids `new_id` makes in the process whose random prefix is `prefix`."""
    return re.compile(r"\A[a-z]{1,4}-" + re.escape(prefix) + r"[0-9a-f]{8,16}\Z")


ID_PREFIX = new_id("x")[2:10]
_GENERATED_ID = generated_id_pattern(ID_PREFIX)
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
    #: index_columns() order: ts, kind, decision, agent, session, capability, actor, policies, rules, idem_key
    columns: tuple[Any, ...]
    #: a keyed decision record: (action digest, effect). A stored record with the same key
    #: and these makes this one a duplicate, which stores skip.
    match: tuple[str, str | None] | None = None

    @property
    def key(self) -> str | None:
        return self.columns[9]

    @property
    def kind(self) -> str:
        return self.columns[1]


def caller_chosen_id(value: Any) -> str | None:
    """`value` when it is an id the caller chose (not one bastion.model.new_id made here)."""
    if type(value) is not str or not value or len(value) > MAX_KEY or _GENERATED_ID.match(value):
        return None
    return value


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


#: Decision fields that differ from one decision to the next, in canonical (sorted)
#: order; the rest (reason, rules, policy ids, obligations...) repeats for every decision
#: a rule makes.
_VOLATILE_ORDER = (
    "action_id",
    "approval_id",
    "decision_id",
    "redacted_action",
    "redactions",
    "retry_after",
    "risk_score",
    "timestamp",
)
_VOLATILE = frozenset(_VOLATILE_ORDER)
#: ids a decision carries: scanned with the action unless this process generated them
_IDS = ("action_id", "approval_id", "decision_id")
_OTHER_VOLATILE = ("redacted_action", "redactions", "retry_after", "risk_score")
#: where a decision record holds the caller's idempotency key, and how long a key may be
_KEY = "idempotency_key"
MAX_KEY = 256
#: how many actions the redactor screens at once in RecordBuilder.decisions()
_MIN_GROUP, _MAX_GROUP = 4, 32


class RecordBuilder:
    """Builds records; remembers the redaction of the repeating part of decisions.

    The redactor costs microseconds per string it scans, and most of a decision (rule
    reasons, sources, policy ids) is the same text for every decision a rule makes, so
    that part is redacted and rendered as canonical JSON once per distinct content
    (bounded memo, exact: looked up by its JSON and confirmed by equality). A record's
    bytes are then spliced together from those pieces and the per-decision fields, in
    canonical key order, in one pass without intermediate dicts. The per-decision ids
    ride along with the action in one redactor call.
    """

    def __init__(self, redactor: RedactorLike, memo_size: int = 4096, *, id_prefix: str | None = None) -> None:
        """`id_prefix`: the `new_id` prefix of the process that made the decisions, when
        that is another process (the audit writer's child builds its parent's records)."""
        self.redactor = redactor
        self._generated = _GENERATED_ID if id_prefix is None else generated_id_pattern(id_prefix)
        self._memo: dict[bytes, _Stable] = {}
        self._memo_size = memo_size
        self._group = _MAX_GROUP  # actions the redactor screens at once (decisions())

    def _stable(self, stable: dict[str, Any]) -> "_Stable":
        key = _memo_key(stable)
        hit = self._memo.get(key) if key is not None else None
        if hit is None or hit.source != stable:
            hit = self._render_stable(stable)
            if key is not None and self._memo_size:
                if len(self._memo) >= self._memo_size:
                    self._memo.clear()
                self._memo[key] = hit
        return hit

    def _render_stable(self, stable: dict[str, Any]) -> "_Stable":
        red, found = self.redactor.redact_value(stable)
        if type(red) is not dict:
            raise CanonicalError("the redactor returned something other than an object for a decision")
        rules = [r for r in _list(red.get("rules")) if type(r) is dict]
        # each field as a pre-rendered canonical JSON fragment: orjson then writes the
        # whole decision, sorted, in one call. Its key order (code points) is canonical
        # (UTF-16 code units) unless a key holds a character beyond U+FFFF: then the
        # decision takes the careful path.
        fragments: dict[str, Any] | None = {}
        for k, v in red.items():
            if type(k) is not str:
                raise CanonicalError(f"object keys must be strings, got {type(k).__name__}")
            if k in _VOLATILE:  # a key the redactor rewrote into a per-decision name
                raise CanonicalError(f"decision field {k!r} appears twice")
            if fragments is not None:
                fragments[k] = orjson.Fragment(canonical_bytes(v))
                if not k.isascii() and max(k) > "\uffff":
                    fragments = None
        return _Stable(
            stable,
            red,
            fragments,
            _redaction_list(found, "decision."),
            _str(red.get("decision")),
            _names([*_list(red.get("policy_ids")), *(r.get("policy") for r in rules)]),
            _names([r.get("rule") for r in rules]),
        )

    def decision(
        self, decision: Mapping[str, Any], action: Any, *, owned: bool = False, key: str | None = None
    ) -> PreparedRecord:
        """A decision (its `to_dict()`) and its action (Action or mapping) as a record.

        `owned=True`: `decision` is the caller's own copy, which this may take apart.
        `key`: the caller's idempotency key (e.g. a tool-call id), recorded as
        `idempotency_key`; stores skip a keyed record that repeats a stored one.
        """
        return self._finish(self._begin(decision, action, owned, key))

    def decisions(
        self, items: Sequence[tuple[Mapping[str, Any], Any, str | None]], *, owned: bool = False
    ) -> list[PreparedRecord | Exception]:
        """Several `(decision, action, key)` as records, or the exception each one raised.

        The same records as `decision()` one by one, cheaper: the redactor first screens
        the actions in groups, one pass over a group instead of one per action (5.2 ->
        about 2 us per action, measured), and only a group in which it finds something
        has its actions redacted one by one. Groups of at most 32: one pass over a group
        holds the GIL throughout, and with 64 a caller deciding meanwhile waited 0.9 ms
        at p99 (32: 0.15 ms, at the same throughput). A group the redactor reports clean holds no
        action it would report alone: each string is scanned with the same key context
        (pinned by test_secrets_corpus.py against the secret corpora).
        """
        out: list[PreparedRecord | Exception] = []
        # a group at a time: few half-built records alive at once, so fewer objects
        # outlive the garbage collector's young generations (a full collection of a
        # large heap costs more than building the records)
        if self._group < _MIN_GROUP:
            self._group = _MIN_GROUP * 4  # screening stopped in the last batch: try again
        for start in range(0, len(items), _MAX_GROUP):
            pending: list[_Pending | Exception] = []
            for decision, action, key in items[start : start + _MAX_GROUP]:
                try:
                    pending.append(self._begin(decision, action, owned, key))
                except Exception as exc:  # noqa: BLE001 - reported per item
                    pending.append(exc)
            self._screen([p for p in pending if type(p) is _Pending])
            for p in pending:
                if type(p) is not _Pending:
                    out.append(p)  # type: ignore[arg-type]
                    continue
                try:
                    out.append(self._finish(p))  # type: ignore[arg-type]
                except Exception as exc:  # noqa: BLE001
                    out.append(exc)
        return out

    def _screen(self, pending: list["_Pending"]) -> None:
        """Mark the actions the redactor finds nothing in, screening them in groups. A group
        with a finding costs a second pass (its actions one by one), so groups shrink after
        one and grow back after clean ones; with findings everywhere, screening stops."""
        red = self.redactor
        size = self._group
        i = 0
        while i < len(pending) and size >= _MIN_GROUP:
            group = pending[i : i + size]
            _, found = red.redact_value([p.scan for p in group])
            if not found:
                for p in group:
                    p.clean = True
                size = min(size * 2, _MAX_GROUP)
            else:
                size //= 4
            i += len(group)
        self._group = size  # below _MIN_GROUP: no more screening in this batch

    def _begin(self, decision: Mapping[str, Any], action: Any, owned: bool, key: str | None) -> "_Pending":
        if key is not None and (type(key) is not str or not key or len(key) > MAX_KEY):
            raise CanonicalError(f"an idempotency key must be a non-empty string of at most {MAX_KEY} characters")
        snap: dict[str, Any] = decision if owned and type(decision) is dict else dict(decision)  # type: ignore[assignment]
        # the per-decision fields come out; what remains is the repeating part
        vol = {k: snap.pop(k) for k in _VOLATILE_ORDER if k in snap}
        try:
            fields, raw = digest_bytes(action)
            ts = vol.get("timestamp")
            if type(ts) is not str or not _ISO_MS.match(ts):
                raise CanonicalError("the decision's timestamp is not an ISO 8601 UTC time with milliseconds")
            # the action, and the ids the decision carries unless this process generated
            # them (an agent may choose its action ids; new_id ids hold no input)
            scan = fields
            scanned_ids: list[str] = []
            for name in _IDS:
                if name in vol:
                    value = vol[name]
                    if not (type(value) is str and self._generated.match(value)):
                        if scan is fields:
                            scan = dict(fields)
                        scan[name] = value
                        scanned_ids.append(name)
            if key is not None:  # the caller chose it: scanned like the action
                if scan is fields:
                    scan = dict(fields)
                scan[_KEY] = key
        except BaseException:
            snap.update(vol)  # the caller's copy stays whole (it names the decision in errors)
            raise
        return _Pending(snap, vol, fields, raw, ts, scan, scanned_ids, key)

    def _finish(self, p: "_Pending") -> PreparedRecord:
        try:
            return self._decision(p)
        except BaseException:
            p.snap.update(p.vol)
            raise

    def _decision(self, p: "_Pending") -> PreparedRecord:
        red = self.redactor
        snap, vol, fields, raw, ts, scan, scanned_ids, key = p.snap, p.vol, p.fields, p.raw, p.ts, p.scan, p.scanned_ids, p.key
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if p.clean:
            red_scan, found_a = scan, []
        else:
            red_scan, found_a = red.redact_action(scan)
        if found_a:
            red_scan = dict(red_scan)
            for name in scanned_ids:
                vol[name] = red_scan.pop(name, None)
            if key is not None:
                key = red_scan.pop(_KEY, None)
                if type(key) is not str:
                    raise CanonicalError("the redactor turned the idempotency key into something other than a string")
            action_bytes = canonical_bytes(red_scan)
        else:
            red_scan = fields
            action_bytes = raw
        hit = self._stable(snap)
        # Per-decision fields of plain shapes (generated ids, integers, empty lists, null)
        # go to orjson as they are; anything else (a non-empty redactions list, a redacted
        # action, a float) is redacted first and rendered by the careful path.
        odd: dict[str, Any] | None = None
        for k in _OTHER_VOLATILE:
            if k in vol:
                v = vol[k]
                if not (type(v) is int or v is None or (type(v) in (list, dict) and not v)):
                    if odd is None:
                        odd = {}
                    odd[k] = v
        found_v: list[Any] = []
        if odd is not None:
            red_odd, found_v = red.redact_value(odd)
            if type(red_odd) is not dict or red_odd.keys() != odd.keys():
                raise CanonicalError("the redactor changed the shape of a decision's fields")
            vol.update(red_odd)
            odd = red_odd
        if found_a:  # a redacted id may be anything the redactor returns
            for name in _IDS:
                if name in vol and type(vol[name]) is not str:
                    odd = odd if odd is not None else {}
                    odd[name] = vol[name]
        decision_bytes = None
        if hit.fragments is not None:
            rendered = vol
            if odd is not None:
                rendered = dict(vol)
                for k, v in odd.items():
                    rendered[k] = orjson.Fragment(canonical_bytes(v))
            try:
                decision_bytes = orjson.dumps({**hit.fragments, **rendered}, option=orjson.OPT_SORT_KEYS)
            except orjson.JSONEncodeError:  # a lone surrogate or an integer beyond 64 bits
                pass
        if decision_bytes is None:
            decision_bytes = canonical_bytes({**hit.redacted, **vol})
        if found_a or found_v or hit.found:
            redacted = [_place(r, scanned_ids) for r in _redaction_list(found_a, "")] + hit.found + _redaction_list(found_v, "decision.")
            redacted_bytes = canonical_bytes(redacted)
        else:
            redacted_bytes = b"[]"
        # Keys are written in canonical order, so the concatenation IS the canonical JSON.
        body = b"".join(
            (
                b'{"action":',
                action_bytes,
                b',"action_digest":"',
                digest.encode("ascii"),
                b'","decision":',
                decision_bytes,
                b"" if key is None else b',"idempotency_key":' + _string_bytes(key),
                b',"kind":"decision","redacted":',
                redacted_bytes,
                b',"ts":"',
                ts.encode("ascii"),
                b'","v":%d}' % RECORD_VERSION,
            )
        )
        agent = red_scan.get("agent")
        agent = agent.get("id") if type(agent) is dict else None
        session = red_scan.get("session")
        session = session.get("id") if type(session) is dict else None
        capability = red_scan.get("capability")
        columns = (
            ts,
            DECISION,
            hit.effect,
            agent if type(agent) is str else None,
            session if type(session) is str else None,
            capability if type(capability) is str else None,
            None,
            hit.policies,
            hit.rules,
            key,
        )
        return PreparedRecord(body, columns, None if key is None else (digest, hit.effect))

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


@dataclass(slots=True)
class _Pending:
    """A decision record half built: what the redactor must see, before it has."""

    snap: dict[str, Any]
    vol: dict[str, Any]
    fields: dict[str, Any]
    raw: bytes
    ts: str
    scan: dict[str, Any]  # the action's digest fields, plus ids and key the caller chose
    scanned_ids: list[str]
    key: str | None
    clean: bool = False  # the redactor screened the scan and found nothing


@dataclass(slots=True, frozen=True)
class _Stable:
    """The redacted repeating part of a decision, rendered, and what the index needs from it."""

    source: dict[str, Any]  # what was redacted (a memo hit must equal it)
    redacted: dict[str, Any]
    fragments: dict[str, Any] | None  # field -> orjson.Fragment of its canonical JSON; None: careful path
    found: list[Any]
    effect: str | None
    policies: str | None
    rules: str | None


def _place(redaction: dict[str, Any], ids: Any) -> dict[str, Any]:
    """Paths from the action scan: the ids it carried live in the decision, the key at the top."""
    path = redaction.get("path")
    if isinstance(path, str):
        head = path.split(".", 1)[0].split("[", 1)[0]
        if head != _KEY:
            redaction["path"] = ("decision." if head in ids else "action.") + path if path else "action"
    return redaction


def _string_bytes(text: str) -> bytes:
    try:
        return orjson.dumps(text)  # a string's canonical form, in C
    except orjson.JSONEncodeError:
        return canonical_bytes(text)  # a lone surrogate: the careful path escapes it


def _memo_key(value: Any) -> bytes | None:
    """A lookup key for `value` (None: not memoised). Equal values of one shape give equal
    keys; a hit is confirmed by equality, since orjson writes a few distinct values alike
    (NaN and null, a datetime and its ISO string)."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return None


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
    """(ts, kind, decision, agent, session, capability, actor, policies, rules, idem_key) of a record."""
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
            _str(record.get(_KEY)),
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
        None,
    )


_EMPTY: dict[str, Any] = {}


def _dict(v: Any) -> Mapping[str, Any]:
    return v if type(v) is dict else _EMPTY


def _list(v: Any) -> list[Any]:
    return v if type(v) is list else []
