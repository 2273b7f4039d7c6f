"""Redaction of nested values and encoded forms, and the never-stored-raw guarantee."""

from __future__ import annotations

import base64
import json
import logging
import urllib.parse

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.secrets import RedactingFilter, Redactor, default_scanner, redact

KEY = b"\x07" * 32
GH = "ghp_" + "Zq8Wn3vLp0Zs7Yt2Kd9Fh4Jm6Rb1Xc5Vg2Nq"
PW = "Tr0ub4dor&3-horse"


def _leaks(obj, secret=GH) -> bool:
    return secret in json.dumps(obj, default=str)


def test_nested_json_string_and_structure():
    r = Redactor(key=KEY)
    body = json.dumps({"user": {"name": "dana", "creds": {"password": PW}}, "tokens": [GH]})
    value = {"request": {"body": body, "layers": [[{"auth": {"token": GH}}]]}}
    out, red = r.redact_value(value, "args")
    assert not _leaks(out) and not _leaks(out, PW)
    assert {x["path"] for x in red} == {"args.request.body", "args.request.layers[0][0].auth.token"}
    assert json.loads(out["request"]["body"])["user"]["name"] == "dana"  # the JSON stays valid JSON


def test_encoded_values_are_decoded_and_redacted():
    r = Redactor(key=KEY)
    plain = f"export GITHUB_TOKEN={GH}"
    cases = {
        "base64": base64.b64encode(plain.encode()).decode(),
        "base64url": base64.urlsafe_b64encode(plain.encode()).decode(),
        "hex": plain.encode().hex(),
        "percent": urllib.parse.quote(f"db_password={PW}", safe=""),
        "double base64": base64.b64encode(base64.b64encode(plain.encode())).decode(),
    }
    for name, enc in cases.items():
        out, findings = r.redact_text(f"config: {enc}\n")
        assert findings, name
        assert enc not in out, name
        assert findings[0].encoding, name


def test_decoded_secret_has_same_marker_as_plain():
    r = Redactor(key=KEY)
    (plain,) = r.redact_text(GH)[1]
    (enc,) = r.redact_text("blob " + base64.b64encode(f"token={GH}".encode()).decode())[1]
    assert r.marker(plain) == r.marker(enc)


def test_gitleaks_decoder_vectors(corpora):
    from bastion.secrets.decode import decode_all

    rows = [json.loads(line) for line in open(corpora / "gitleaks/gitleaks_decoder_vectors.jsonl")]
    supported = [r for r in rows if not r["name"].startswith("unicode")]
    assert len(supported) >= 15
    for row in supported:
        assert decode_all(row["encoded"]) == row["decoded"], row["name"]


def test_redaction_is_idempotent():
    r = Redactor(key=KEY)
    once, _ = r.redact_text(f"a={GH} postgres://u:{PW}@h/db")
    twice, findings = r.redact_text(once)
    assert twice == once and findings == []


def test_argv_flag_and_header_context():
    r = Redactor(key=KEY)
    out, red = r.redact_value({"argv": ["deploy", "--password", PW, "--verbose"], "headers": {"Authorization": "Basic " + base64.b64encode(f"bob:{PW}".encode()).decode(), "Cookie": f"theme=dark; session={GH}"}})
    assert not _leaks(out, PW) and not _leaks(out)
    assert out["argv"][3] == "--verbose" and out["headers"]["Cookie"].startswith("theme=dark; session=[REDACTED:")


def test_never_stored_raw_every_field():
    """A secret in any field of an action appears in no output of the secrets layer."""
    r = Redactor(key=KEY)
    fields = {
        "target": f"git push https://x:{GH}@github.com/o/r",
        "args": {"env": {"TOKEN": GH}, "body": f'{{"token": "{GH}"}}', "list": [GH], "b64": base64.b64encode(f"token={GH}".encode()).decode()},
        "context": {"note": f"use {GH} please", "deep": {"a": {"b": [{"c": GH}]}}},
        "agent": {"id": "coder", "owner": f"{GH}@example.com"},
        "resource": {"path": f"/tmp/{GH}"},
        "risk": {"signals": [GH]},
    }
    for name, value in fields.items():
        action = {"id": "a-1", "capability": "tool.call", name: value} if name != "target" else {"id": "a-1", "capability": "tool.call", "target": value}
        red, redactions = r.redact_action(action)
        summary = r.summarise(action)
        assert not _leaks(red), name
        assert not _leaks(redactions), name
        assert summary["count"] >= 1 and not _leaks(summary), name
        for f in default_scanner().scan(json.dumps(action)):
            assert GH not in repr(f) and GH not in json.dumps(f.to_dict(KEY))


def test_logging_filter_scrubs_messages_and_args(caplog):
    logger = logging.getLogger("bastion.test.secrets")
    logger.addFilter(RedactingFilter(Redactor(key=KEY)))
    with caplog.at_level(logging.INFO, logger="bastion.test.secrets"):
        logger.info("calling with %s and %r", GH, {"password": PW})
    text = caplog.text
    assert GH not in text and "[REDACTED:github_token:" in text


def test_redact_shortcut():
    assert GH not in redact(f"token={GH}")
    assert GH not in json.dumps(redact({"x": [GH]}))


def test_cli_scan_and_redact_never_print_secret(tmp_path):
    from bastion.cli import main

    f = tmp_path / "conf.env"
    f.write_text(f"DB_PASSWORD={PW}\nGITHUB_TOKEN={GH}\nPLAIN=1\n")
    runner = CliRunner()
    res = runner.invoke(main, ["scan", str(f)])
    assert res.exit_code == 1
    assert GH not in res.output and PW not in res.output
    assert f"{f}:2:14: github_token [REDACTED:github_token:" in res.output
    res = runner.invoke(main, ["scan", "--format", "json", str(f)])
    rows = json.loads(res.output)
    assert [(x["line"], x["kind"]) for x in rows] == [(1, "generic_password"), (2, "github_token")]
    res = runner.invoke(main, ["redact", str(f)])
    assert res.exit_code == 0 and GH not in res.output and PW not in res.output and "PLAIN=1" in res.output
    clean = tmp_path / "clean.txt"
    clean.write_text("nothing to see\n")
    assert runner.invoke(main, ["scan", str(clean)]).exit_code == 0
    assert runner.invoke(main, ["scan", str(tmp_path / "missing")]).exit_code == 2


def test_cli_custom_detectors(tmp_path):
    from bastion.cli import main

    det = tmp_path / "det.yaml"
    det.write_text("secrets:\n  detectors:\n    - id: acme_key\n      pattern: 'ACME-[0-9A-F]{12}'\n  disable: [generic_password]\n")
    f = tmp_path / "x.txt"
    f.write_text(f"k=ACME-0123456789AB\npassword = '{PW}'\n")
    res = CliRunner().invoke(main, ["scan", "--detectors", str(det), "--format", "jsonl", str(f)])
    kinds = [json.loads(line)["kind"] for line in res.output.splitlines()]
    assert kinds == ["acme_key"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: broken\n  pattern: '(unclosed'\n")
    res = CliRunner().invoke(main, ["scan", "--detectors", str(bad), str(f)])
    assert res.exit_code == 2 and "invalid pattern" in res.output


@settings(max_examples=150, deadline=None)
@given(prefix=st.text(max_size=200), suffix=st.text(max_size=200))
def test_property_secret_never_survives(prefix, suffix):
    r = Redactor(key=KEY)
    text = f"{prefix} {GH} {suffix}"
    out, _ = r.redact_text(text)
    assert GH not in out


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_property_scan_never_raises_and_spans_are_valid(text):
    for f in default_scanner().scan(text):
        assert 0 <= f.start < f.end <= len(text)
        assert f.line >= 1 and f.column >= 1
