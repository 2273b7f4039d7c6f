"""The no-secret fast paths agree with the full scan: nothing they skip holds a finding."""

from __future__ import annotations

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.secrets import DetectorSpec, Redactor, Scanner, default_scanner
from bastion.secrets import scanner as scanner_mod
from bastion.secrets.redact import _CLEAN

KEY = b"\x05" * 32
GH = "ghp_" + "Qw7Er4Ty1Ui8Op5As2Df9Gh6Jk3Lz0Xc7Vb4N"
PW = "Gr33n-Tea!Pot-42"
AWS_BARE = "wK9rT2mX7pL4qZ8vN1bC6yH3jF5dS0gA9eR2tY7u"  # found by its own RE2 pass, not the prefilter


def test_clean_value_comes_back_uncopied():
    r = Redactor(key=KEY)
    action = {"capability": "shell.exec", "target": "ls -la /tmp", "args": {"cwd": "/home/dana", "argv": ["ls", "-la"]}, "context": {"n": 1, "ok": True, "x": None}}
    red, redactions = r.redact_action(action)
    assert red is action and redactions == []
    value = [{"a": "b"}, ("c", 2.5)]
    out, redactions = r.redact_value(value)
    assert out is value and redactions == []
    assert r.summarise(action) == {"kinds": [], "count": 0}


def test_value_with_a_secret_is_copied_and_input_untouched():
    r = Redactor(key=KEY)
    action = {"capability": "network.request", "args": {"headers": {"X-Api": GH}, "n": 3}}
    snapshot = json.dumps(action)
    red, redactions = r.redact_action(action)
    assert red is not action and json.dumps(action) == snapshot
    assert GH not in json.dumps(red) and [x["path"] for x in redactions] == ["args.headers.X-Api"]


def test_prefilter_fires_but_nothing_found_returns_input():
    r = Redactor(key=KEY)
    # "--vault-password-file pass.txt" fires the command-line flag anchor; the value is a path
    action = {"capability": "shell.exec", "target": "ansible-vault view --vault-password-file pass.txt secrets.yml"}
    red, redactions = r.redact_action(action)
    assert redactions == [] and red is action


def test_non_plain_values_are_converted_as_before():
    r = Redactor(key=KEY)
    out, redactions = r.redact_value({"blob": b"plain bytes", "obj": object()})
    assert out["blob"] == "plain bytes"
    assert [x["kind"] for x in redactions] == ["unscanned"] and out["obj"].startswith("[REDACTED:unscanned:")


def test_name_context_is_not_skipped_by_the_quick_check():
    r = Redactor(key=KEY)
    cases = [
        ({"password": "hunter2x"}, "password"),
        ({"env": {"password": ["aa1bb2cc", "dd3ee4ff"]}}, "env.password[1]"),
        ({"argv": ["deploy", "--token", "k9Xq2Lm8Vt4Rw1Zp"]}, "argv[2]"),
        ({"password": ["-v", "hunter2x"]}, "password[1]"),
        ({"headers": {"Authorization": "sekrit-value-123"}}, "headers.Authorization"),
        ({"headers": {"Cookie": "theme=dark; session=a8F3kL0pQ2"}}, "headers.Cookie"),
    ]
    for value, path in cases:
        _, redactions = r.redact_value(value)
        assert path in {x["path"] for x in redactions}, value


def test_line_anchored_policy_detector_found_in_nested_strings():
    det = DetectorSpec.from_dict({"id": "corp_key", "pattern": r"^corp_[a-z]{12}$"})
    r = Redactor(Scanner.build(extra=[det]), key=KEY)
    _, redactions = r.redact_value({"a": "x", "b": ["y", "corp_abcdefghijkl"], "c": "z"})
    assert [(x["kind"], x["path"]) for x in redactions] == [("corp_key", "b[1]")]


def test_whole_text_anchored_policy_detector_checks_each_string():
    det = DetectorSpec.from_dict({"id": "corp_key", "pattern": r"\Acorp_[a-z]{12}\z"})
    scanner = Scanner.build(extra=[det])
    assert not scanner.joinable and default_scanner().joinable
    r = Redactor(scanner, key=KEY)
    _, redactions = r.redact_value({"a": "x", "b": ["y", "corp_abcdefghijkl"], "c": "z"})
    assert [(x["kind"], x["path"]) for x in redactions] == [("corp_key", "b[1]")]


# ---------------------------------------------------------------- property: quick check vs full walk

_STRINGS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            GH,
            f"token={GH}",
            f"postgres://app:{PW}@db.internal/app",
            base64.b64encode(f"password={PW}".encode()).decode(),
            "--password",
            "--verbose",
            PW,
            "AKIAQYLPMN5HHHFPZAM2",
            AWS_BARE,
            f"f({AWS_BARE}, 1)",
            "curl -u admin:" + PW + " https://x",
            "application/json",
            "",
            "  ",
        ]
    ),
)
_KEYS = st.one_of(st.text(max_size=12), st.sampled_from(["password", "api_key", "Authorization", "Cookie", "token", "cwd", "body", "id"]))
_VALUES = st.recursive(
    st.one_of(_STRINGS, st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False)),
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(_KEYS, children, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_property_quick_check_never_skips_a_finding(value):
    r = Redactor(key=KEY)
    full: list[dict] = []
    walked = r._walk(value, "", None, full, 0)
    if r._quick_state(value) == _CLEAN:
        assert full == []
    out, redactions = r.redact_value(value)
    assert redactions == full
    assert out == walked


# ---------------------------------------------------------------- decoding from trigger positions


def test_only_runs_with_a_trigger_are_decoded_and_all_of_them_are():
    plain_runs = [base64.b64encode(f"just some words number {i} here".encode()).decode() for i in range(50)]
    secret_run = base64.b64encode(f"export API_TOKEN={GH}".encode()).decode()
    text = "\n".join(plain_runs[:25] + [f"data: {secret_run}"] + plain_runs[25:] + [f"again {secret_run}"])
    findings = default_scanner().scan(text)
    assert [f.encoding for f in findings] == [("base64",), ("base64",)]
    for f in findings:
        assert text[f.start : f.end] == secret_run


def test_too_many_trigger_positions_fall_back_to_every_run(monkeypatch):
    monkeypatch.setattr(scanner_mod, "MAX_POSITIONS", 5)
    runs = [base64.b64encode(f"password={PW}{i:02d}".encode()).decode() for i in range(20)]
    text = "\n".join(f"value {run}" for run in runs)
    found = Scanner.build().scan(text)
    assert [text[f.start : f.end] for f in found] == runs


def test_non_ascii_text_keeps_character_offsets_for_decoded_chunks():
    secret = base64.b64encode(f"token={GH}".encode()).decode()
    text = f"héllo wörld ✓ {secret} ünd"
    (f,) = default_scanner().scan(text)
    assert text[f.start : f.end] == secret and f.encoding == ("base64",)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from([GH, f"password = '{PW}'", "é✓\n", "\n", base64.b64encode(f"token={GH}".encode()).decode()])), max_size=12))
def test_property_line_and_column_match_a_reference(parts):
    text = " ".join(parts)
    for f in default_scanner().scan(text):
        assert f.line == text.count("\n", 0, f.start) + 1
        assert f.column == f.start - (text.rfind("\n", 0, f.start) + 1) + 1
