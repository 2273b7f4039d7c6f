"""Canonical JSON (RFC 8785 style) and the action digest approvals bind to."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.canonical import CanonicalError, action_digest, canonical, canonical_bytes, digest_fields, format_number
from bastion.errors import ActionError

# RFC 8785 appendix / ECMAScript Number.prototype.toString reference values
NUMBER_VECTORS = [
    (0.0, "0"),
    (-0.0, "0"),
    (5e-324, "5e-324"),
    (-5e-324, "-5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (9007199254740992.0, "9007199254740992"),
    (295147905179352830000.0, "295147905179352830000"),
    (1e21, "1e+21"),
    (1e23, "1e+23"),
    (1e-7, "1e-7"),
    (0.000001, "0.000001"),
    (333333333.33333329, "333333333.3333333"),
    (100.0, "100"),
    (1.5, "1.5"),
    (-1.25e-10, "-1.25e-10"),
    (123456789012.5, "123456789012.5"),
    (1e20, "100000000000000000000"),
    (0.1, "0.1"),
]


@pytest.mark.parametrize("value,expected", NUMBER_VECTORS)
def test_number_formatting_matches_ecmascript(value: float, expected: str) -> None:
    assert format_number(value) == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    with pytest.raises(CanonicalError):
        canonical({"x": bad})


def test_rfc8785_structure_example() -> None:
    # keys sorted by UTF-16 code units; numbers ES-formatted; only required escapes
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical(value) == expected


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FFFF; by code point it would not
    assert canonical({"\uffff": 2, "\U0001f600": 1, "a": 0}) == '{"a":0,"\U0001f600":1,"\uffff":2}'


def test_fast_and_careful_paths_agree_on_plain_data() -> None:
    from bastion.canonical import _emit

    value = {"b": [1, "x\n\x01\u2028", None, True], "a": {"z": -7, "é": "ü"}, "c": ()}
    parts: list[str] = []
    _emit(value, parts, 0)
    assert canonical(value) == "".join(parts)


def test_big_integers_are_exact_and_lone_surrogates_escaped() -> None:
    assert canonical([2**70, -(2**64)]) == f"[{2**70},{-(2**64)}]"
    assert canonical("a\ud800b") == '"a\\ud800b"'


@pytest.mark.parametrize("bad", [{1: "x"}, {"s": {1, 2}}, b"bytes", object()])
def test_values_without_json_form_are_refused(bad: object) -> None:
    with pytest.raises(CanonicalError):
        canonical(bad)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    deep: list = []
    cur = deep
    for _ in range(2000):
        nxt: list = []
        cur.append(nxt)
        cur = nxt
    with pytest.raises(CanonicalError):
        canonical(deep)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_canonical_is_a_fixed_point_of_parse_and_reencode(value: object) -> None:
    once = canonical_bytes(value)
    parsed = json.loads(once)
    assert canonical_bytes(parsed) == once


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_number_formatting_round_trips(x: float) -> None:
    text = format_number(x)
    assert float(text) == x or (x == 0 and float(text) == 0)
    mantissa = text.split("e")[0]
    assert "." not in mantissa or not mantissa.endswith("0")  # shortest form: no trailing zeros


# --------------------------------------------------------------------------- action digest


def test_action_digest_is_pinned() -> None:
    """Approvals bind to this value: a change here breaks every stored approval."""
    action = {
        "capability": "shell.exec",
        "target": "git push --force origin main",
        "args": {"cwd": "/home/dana/repo"},
        "agent": {"id": "coder-7", "role": "coding-agent", "team": "payments", "owner": "dana@example.com", "tags": ["phi-cleared"]},
        "session": {"id": "s-42", "parent_id": None, "depth": 0},
        "environment": "development",
        "resource": {"type": "repository", "path": "/home/dana/repo", "classification": "internal"},
        "risk": {"tier": "medium", "signals": []},
        "context": {},
    }
    fields = digest_fields(action)
    assert canonical(fields) == (
        '{"agent":{"id":"coder-7","owner":"dana@example.com","role":"coding-agent","tags":["phi-cleared"],"team":"payments"},'
        '"args":{"cwd":"/home/dana/repo"},"capability":"shell.exec","environment":"development",'
        '"resource":{"classification":"internal","path":"/home/dana/repo","type":"repository"},'
        '"risk":{"tier":"medium"},"session":{"id":"s-42"},"target":"git push --force origin main"}'
    )
    assert action_digest(action) == "sha256:ad6dc19a9d2decb6957f1c9c72584f4b08902eecf0a71583d85ad8d56b5dd42d"


def test_action_digest_value() -> None:
    import hashlib

    action = {"capability": "filesystem.read", "target": "/etc/passwd"}
    expected = "sha256:" + hashlib.sha256(b'{"capability":"filesystem.read","target":"/etc/passwd"}').hexdigest()
    assert action_digest(action) == expected


def test_digest_ignores_id_and_spelled_out_defaults() -> None:
    a = {"capability": "x.y", "target": "t"}
    b = {"id": "a-123", "capability": "x.y", "target": "t", "args": {}, "context": {}, "agent": {"tags": []}, "session": {"depth": 0}}
    assert action_digest(a) == action_digest(b)


def test_digest_sees_every_meaningful_difference() -> None:
    base = {"capability": "x.y", "target": "t", "args": {"k": 1}}
    variants = [
        {**base, "target": "u"},
        {**base, "args": {"k": 2}},
        {**base, "args": {"k": 1, "extra": None}},  # a null inside args is kept, not pruned
        {**base, "agent": {"id": "other"}},
        {**base, "session": {"depth": 1}},
        {**base, "environment": "production"},
        {**base, "capability": "x.z"},
    ]
    digests = {action_digest(v) for v in variants}
    assert len(digests) == len(variants)
    assert action_digest(base) not in digests


def test_digest_rejects_malformed_actions() -> None:
    with pytest.raises(ActionError):
        action_digest({"capability": "x", "bogus": 1})


opt_text = st.none() | st.text(max_size=6)
actions = st.fixed_dictionaries(
    {"capability": st.sampled_from(["shell.exec", "tool.call", "x.y"])},
    optional={
        "target": opt_text,
        "args": st.dictionaries(st.text(max_size=4), json_values, max_size=3),
        "context": st.dictionaries(st.text(max_size=4), json_values, max_size=3),
        "agent": st.fixed_dictionaries({}, optional={"id": opt_text, "role": opt_text, "team": opt_text, "owner": opt_text, "tags": st.lists(st.text(max_size=3), max_size=2)}),
        "session": st.fixed_dictionaries({}, optional={"id": opt_text, "parent_id": opt_text, "depth": st.integers(0, 3)}),
        "environment": opt_text,
        "resource": st.fixed_dictionaries({}, optional={"type": opt_text, "path": opt_text, "classification": opt_text}),
        "risk": st.fixed_dictionaries({}, optional={"tier": opt_text, "signals": st.lists(st.text(max_size=3), max_size=2)}),
    },
)


@settings(max_examples=300, deadline=None)
@given(actions)
def test_fast_digest_fields_match_the_generic_path(data: dict) -> None:
    from bastion.canonical import _defaults, _fast_fields, _prune
    from bastion.model import Action

    action = Action.from_dict(data)
    generic = _prune(action.model_dump(mode="json"), _defaults())
    fast = _fast_fields(action)
    if fast is not None:
        assert canonical_bytes(fast) == canonical_bytes(generic)
    assert canonical_bytes(digest_fields(action)) == canonical_bytes(generic)


# --------------------------------------------------------------------------- reading back

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300)
@given(_JSON)
def test_loads_reads_back_whatever_canonical_bytes_writes(value: object) -> None:
    """What crosses to the audit writer's child process: canonical JSON read back whole,
    lone surrogates and integers beyond 64 bits (which orjson refuses) included."""
    from bastion.canonical import loads

    assert loads(canonical_bytes(value)) == value
    assert loads(canonical_bytes({"big": 2**70, "lone": "\ud800"})) == {"big": 2**70, "lone": "\ud800"}
