"""The public interface other parts of Bastion call: Scanner, Finding, Redactor."""

from __future__ import annotations

import pickle

import pytest

from bastion.secrets import DetectorSpec, Finding, Redactor, Scanner, default_scanner

KEY = b"\x01" * 32
GH = "ghp_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"


def test_default_scanner_is_cached():
    assert default_scanner() is default_scanner()


def test_scan_reports_kind_position_and_marker():
    text = f"first line\nexport GITHUB_TOKEN={GH}\n"
    (f,) = default_scanner().scan(text)
    assert f.kind == "github_token"
    assert text[f.start : f.end] == GH
    assert (f.line, f.column) == (2, len("export GITHUB_TOKEN=") + 1)
    m = f.marker(KEY)
    assert m.startswith("[REDACTED:github_token:") and m.endswith("]")
    assert len(m.split(":")[-1]) == 5  # 4 hex + "]"


def test_finding_never_shows_the_secret():
    (f,) = default_scanner().scan(GH)
    for rendered in (repr(f), str(f), str(f.to_dict(KEY)), f.marker(KEY)):
        assert GH not in rendered
        assert GH[4:12] not in rendered  # not even a prefix of the random part
    with pytest.raises(TypeError):
        pickle.dumps(f)


def test_marker_is_stable_and_keyed():
    a = default_scanner().scan(f"a={GH}")[0]
    b = default_scanner().scan(f"b: '{GH}'")[0]
    assert a.marker(KEY) == b.marker(KEY)
    assert a.marker(KEY) != a.marker(b"\x02" * 32)


def test_marker_default_key_stable_within_process(monkeypatch, tmp_path):
    from bastion.secrets import markers

    monkeypatch.delenv("BASTION_REDACTION_KEY", raising=False)
    monkeypatch.setenv("BASTION_REDACTION_KEY_FILE", str(tmp_path / "k"))
    markers.reset_default_key()
    try:
        f = default_scanner().scan(GH)[0]
        assert f.marker() == f.marker()
        assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
        first = f.marker()
        markers.reset_default_key()  # a new process reads the same file
        assert f.marker() == first
    finally:
        markers.reset_default_key()


def test_key_from_environment(monkeypatch):
    from bastion.secrets import markers

    monkeypatch.setenv("BASTION_REDACTION_KEY", "aa" * 32)
    markers.reset_default_key()
    try:
        assert markers.default_key() == (bytes.fromhex("aa" * 32), "env")
    finally:
        markers.reset_default_key()


def test_build_with_extra_and_disabled():
    spec = DetectorSpec(id="acme_token", pattern=r"\bacme_[a-z0-9]{20}\b", description="ACME", keywords=("acme_",))
    sc = Scanner.build(extra=[spec], disabled={"generic_password"})
    (f,) = sc.scan("x = acme_0123456789abcdefghij")
    assert f.kind == "acme_token"
    assert sc.scan('password = "hunter22!"') == []
    assert default_scanner().scan('password = "hunter22!"')[0].kind == "generic_password"
    assert "acme_token" in sc.kinds and "generic_password" not in sc.kinds


def test_build_rejects_unknown_disable_and_bad_patterns():
    with pytest.raises(ValueError, match="unknown secret detector"):
        Scanner.build(disabled={"genric_password"})
    with pytest.raises(ValueError, match="invalid pattern"):
        Scanner.build(extra=[DetectorSpec(id="bad", pattern="(unclosed")])
    with pytest.raises(ValueError, match="invalid pattern"):
        Scanner.build(extra=[DetectorSpec(id="backref", pattern=r"(a)\1")])  # not RE2
    with pytest.raises(ValueError, match="empty string"):
        Scanner.build(extra=[DetectorSpec(id="empty", pattern=r"x*")])
    with pytest.raises(ValueError, match="duplicate id"):
        Scanner.build(extra=[DetectorSpec(id="jwt", pattern=r"abc")])


def test_detector_from_policy_dict():
    spec = DetectorSpec.from_dict({"id": "corp_key", "pattern": r"CORP-[A-Z0-9]{16}", "min_entropy": 2.5, "severity": "critical"}, source="p.yaml")
    assert spec.severity == "critical" and spec.source == "p.yaml"
    with pytest.raises(ValueError, match="unknown field"):
        DetectorSpec.from_dict({"id": "x1", "pattern": "abc", "regex": "typo"})
    with pytest.raises(ValueError, match="missing required field 'pattern'"):
        DetectorSpec.from_dict({"id": "x1"})
    with pytest.raises(ValueError, match="unknown validator"):
        DetectorSpec.from_dict({"id": "x1", "pattern": "abc", "validators": ["nope"]})
    with pytest.raises(ValueError, match="severity"):
        DetectorSpec.from_dict({"id": "x1", "pattern": "abc", "severity": "extreme"})


def test_redact_text_replaces_every_finding():
    r = Redactor(key=KEY)
    text = f"a {GH} b postgres://app:Sup3rS3cret@db:5432/x c"
    out, findings = r.redact_text(text)
    assert [f.kind for f in findings] == ["github_token", "database_url"]
    assert GH not in out and "Sup3rS3cret" not in out
    assert out.startswith("a [REDACTED:github_token:") and "postgres://app:[REDACTED:database_url:" in out


def test_redact_value_paths_and_nesting():
    r = Redactor(key=KEY)
    value = {"headers": {"Authorization": f"token {GH}", "X-Trace": "abc"}, "items": ["ok", {"deep": [GH]}], "a.b": GH}
    out, red = r.redact_value(value, "args")
    paths = sorted(x["path"] for x in red)
    assert paths == ['args.headers.Authorization', 'args.items[1].deep[0]', 'args["a.b"]']
    assert GH not in repr(out)
    assert out["headers"]["X-Trace"] == "abc" and value["headers"]["Authorization"].endswith(GH)  # input untouched


def test_redact_action_and_summarise():
    r = Redactor(key=KEY)
    action = {"id": "a-1", "capability": "shell.exec", "target": f"git push https://x:{GH}@github.com/o/r", "args": {"env": {"DB_PASSWORD": "c0rrect-h0rse"}}, "context": {}}
    red, redactions = r.redact_action(action)
    assert {x["path"] for x in redactions} == {"target", "args.env.DB_PASSWORD"}
    assert r.summarise(action) == {"kinds": ["generic_password", "github_token"], "count": 2}
    assert r.summarise({"capability": "shell.exec", "target": "ls -la"}) == {"kinds": [], "count": 0}
    assert r.redact_action({"capability": "shell.exec", "target": "ls"}) == ({"capability": "shell.exec", "target": "ls"}, [])


def test_walk_fails_closed_on_depth_and_unknown_types():
    r = Redactor(key=KEY)
    deep: object = GH
    for _ in range(100):
        deep = [deep]
    out, red = r.redact_value(deep)
    assert GH not in repr(out)
    assert red[0]["kind"] == "unscanned"
    out, red = r.redact_value({"x": object()})
    assert red[0]["kind"] == "unscanned" and out["x"].startswith("[REDACTED:unscanned:")


def test_finding_is_exported_type():
    assert isinstance(default_scanner().scan(GH)[0], Finding)
