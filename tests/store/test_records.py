"""The record builder writes canonical bytes directly: they must equal the slow, obvious way.

`RecordBuilder.decision` splices pre-rendered fragments (the repeating part of a decision,
rendered once per distinct content) with the per-decision fields through orjson. These
tests compare its output, byte for byte, with `canonical_bytes()` of the record built as
a plain dict, over generated decisions: floats, big integers, non-ASCII and astral keys,
lone surrogates, redactions, extras, generated and agent-chosen ids.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bastion.canonical import CanonicalError, action_digest, canonical, canonical_bytes, digest_bytes, digest_fields
from bastion.model import Action, new_id
from bastion.store.records import RecordBuilder, index_columns


class PassThrough:
    def redact_action(self, action: Any) -> tuple[Any, list[Any]]:
        return action, []

    def redact_value(self, value: Any) -> tuple[Any, list[Any]]:
        return value, []


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=12,
)
# keys that sort differently by code point and by UTF-16 unit, and that collide with nothing
odd_keys = st.sampled_from(["é", "\U0001f600", "\uffff", "zz", "A", "approval_id_x", "decision_", "reason2"])
ids = st.one_of(st.builds(lambda k: new_id(k), st.sampled_from(["a", "d", "ap"])), st.text(max_size=10))

decisions = st.fixed_dictionaries(
    {
        "decision_id": ids,
        "action_id": ids,
        "decision": st.sampled_from(["allow", "deny", "require_approval"]),
        "reason": st.text(max_size=20),
        "policy_ids": st.lists(st.text(max_size=6), max_size=2),
        "rules": st.lists(
            st.fixed_dictionaries({"policy": st.text(max_size=5), "rule": st.text(max_size=5)}, optional={"score": json_values}),
            max_size=2,
        ),
        "severity": st.sampled_from(["low", "high"]),
        "risk_score": st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False, allow_infinity=False),
        "approver_roles": st.lists(st.text(max_size=5), max_size=2),
        "redactions": st.lists(st.fixed_dictionaries({"kind": st.text(max_size=5), "path": st.text(max_size=5)}), max_size=2),
        "timestamp": st.sampled_from(["2026-11-21T10:00:00.000Z", "1999-01-01T23:59:59.999Z"]),
    },
    optional={
        "approval": st.dictionaries(st.text(max_size=6), json_values, max_size=3),
        "obligations": st.dictionaries(st.text(max_size=6), json_values, max_size=3),
        "redacted_action": st.none() | st.dictionaries(st.text(max_size=4), json_values, max_size=3),
        "approval_id": ids,
        "retry_after": st.floats(min_value=0, max_value=1e6),
        "default": st.just(True),
    },
).flatmap(lambda d: st.dictionaries(odd_keys, json_values, max_size=2).map(lambda extra: {**extra, **d}))

actions = st.builds(
    lambda cap, target, args, agent: Action.from_dict({"capability": cap, "target": target, "args": args, "agent": agent}),
    st.sampled_from(["tool.call", "filesystem.read"]),
    st.none() | st.text(max_size=10),
    st.dictionaries(st.text(max_size=4), json_values, max_size=3),
    st.fixed_dictionaries({}, optional={"id": st.text(max_size=5), "tags": st.lists(st.text(max_size=3), max_size=2)}),
)


def plain_record(decision: dict[str, Any], action: Action) -> bytes:
    """The record as a dict, serialised the slow way (no redaction: nothing to redact)."""
    record = {
        "action": digest_fields(action),
        "action_digest": action_digest(action),
        "decision": decision,
        "kind": "decision",
        "redacted": [],
        "ts": decision["timestamp"],
        "v": 1,
    }
    return canonical_bytes(record)


@settings(max_examples=400, deadline=None)
@given(decisions, actions)
def test_builder_bytes_equal_canonical_json_of_the_record(decision: dict[str, Any], action: Action) -> None:
    builder = RecordBuilder(PassThrough())
    try:
        expected = plain_record(decision, action)
    except CanonicalError:
        with pytest.raises(CanonicalError):
            builder.decision(dict(decision), action)
        return
    for _ in range(2):  # the second time the repeating part comes from the memo
        rec = builder.decision(dict(decision), action)
        assert rec.body == expected
    assert rec.columns == index_columns(json.loads(expected))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(decisions, actions)
def test_builder_output_is_canonical_and_leaves_no_fake_secret(redactor: Any, decision: dict[str, Any], action: Action) -> None:
    token = "sk-test-" + "Q" * 20
    decision = {**decision, "reason": f"{decision['reason']} {token}"}
    try:
        plain_record(decision, action)
    except CanonicalError:
        return
    builder = RecordBuilder(redactor)  # conftest's FakeRedactor: knows one fake token shape
    owned = dict(decision)
    rec = builder.decision(owned, action, owned=True)
    assert token.encode() not in rec.body
    assert canonical_bytes(json.loads(rec.body)) == rec.body
    assert rec.columns == index_columns(json.loads(rec.body))


def test_a_failed_build_leaves_the_callers_copy_whole() -> None:
    action = Action.from_dict({"capability": "tool.call", "target": "x"})
    decision = {"decision_id": "d-1", "action_id": "a-1", "decision": "deny", "risk_score": 1, "timestamp": "not a time"}
    owned = dict(decision)
    with pytest.raises(CanonicalError):
        RecordBuilder(PassThrough()).decision(owned, action, owned=True)
    assert owned == decision


def test_memo_does_not_confuse_values_orjson_writes_alike() -> None:
    """A datetime and its ISO text serialise alike in orjson; only one has a JSON form here."""
    action = Action.from_dict({"capability": "tool.call", "target": "x"})
    when = datetime(2026, 11, 21, tzinfo=timezone.utc)
    base = {"decision_id": "d-1", "action_id": "a-1", "decision": "deny", "risk_score": 1, "timestamp": "2026-11-21T10:00:00.000Z"}
    builder = RecordBuilder(PassThrough())
    as_text = builder.decision({**base, "note": when.isoformat()}, action)
    assert json.loads(as_text.body)["decision"]["note"] == when.isoformat()
    with pytest.raises(CanonicalError):
        builder.decision({**base, "note": when}, action)
    # and equal values of different types that print differently stay apart
    one = builder.decision({**base, "note": 1}, action)
    one_f = builder.decision({**base, "note": 1.0}, action)
    true = builder.decision({**base, "note": True}, action)
    assert {one.body, one_f.body, true.body} == {one.body, one_f.body, true.body} and len({one.body, true.body}) == 2
    assert one.body == one_f.body  # 1 and 1.0 have one canonical form
    assert json.loads(true.body)["decision"]["note"] is True


@settings(max_examples=300, deadline=None)
@given(actions)
def test_digest_bytes_are_the_canonical_json_of_the_digest_fields(action: Action) -> None:
    fields, raw = digest_bytes(action)
    assert fields == digest_fields(action)
    assert raw == canonical_bytes(fields)
    assert action_digest(action).removeprefix("sha256:") == __import__("hashlib").sha256(raw).hexdigest()


def test_digest_bytes_of_an_unvalidated_action_take_the_careful_path() -> None:
    """model_construct skips validation: a float target must not slip through as plain."""
    odd = Action.model_construct(**{**Action.from_dict({"capability": "x"}).__dict__, "target": 1e21})
    assert digest_bytes(odd)[1] == canonical_bytes(digest_fields(odd)) == b'{"capability":"x","target":1e+21}'


def test_canonical_text_of_a_record_is_unchanged_by_the_splice() -> None:
    """A fixed record, pinned: the format verifiers and exports rely on."""
    action = Action.from_dict({"id": "call-1", "capability": "tool.call", "target": "search", "args": {"q": "x"}, "agent": {"id": "a"}})
    decision = {
        "decision_id": "d-1",
        "action_id": "call-1",
        "decision": "require_approval",
        "reason": "Tools that write need approval",
        "policy_ids": ["p"],
        "rules": [],
        "severity": "medium",
        "risk_score": 35,
        "approver_roles": [],
        "redactions": [],
        "timestamp": "2026-11-21T10:00:00.000Z",
        "approval": {"timeout_seconds": 14400.0, "on_timeout": "deny", "quorum": 1},
    }
    rec = RecordBuilder(PassThrough()).decision(decision, action)
    assert rec.body.decode() == canonical(
        {
            "action": {"agent": {"id": "a"}, "args": {"q": "x"}, "capability": "tool.call", "target": "search"},
            "action_digest": action_digest(action),
            "decision": {**decision, "approval": {"on_timeout": "deny", "quorum": 1, "timeout_seconds": 14400}},
            "kind": "decision",
            "redacted": [],
            "ts": "2026-11-21T10:00:00.000Z",
            "v": 1,
        }
    )
    assert b'"timeout_seconds":14400}' in rec.body
