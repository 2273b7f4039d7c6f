"""`bastion audit ...` on both backends, through click's runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bastion.cli import main
from bastion.model import Effect
from bastion.store import AuditWriter, open_store


@pytest.fixture
def filled_url(store_url: str, redactor: Any, make_action: Any, make_decision: Any) -> str:
    store = open_store(store_url)
    store.redactor = redactor
    with AuditWriter(store, "sync", redactor=redactor) as w:
        for i in range(30):
            a = make_action(i)
            w.record(make_decision(a, i, effect=Effect.DENY if i % 3 else Effect.ALLOW), a)
    store.append_event("policy.change", {"policy": "builtin:coding-agent", "to": "2"}, actor="dana@example.com")
    store.close()
    return store_url


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_query_jsonl_and_filters(filled_url: str) -> None:
    res = run("audit", "query", "--db", filled_url, "--format", "jsonl", "--decision", "deny", "--agent", "agent-1")
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.output.splitlines()]
    assert lines and all(x["record"]["decision"]["decision"] == "deny" for x in lines)
    assert all(x["record"]["action"]["agent"]["id"] == "agent-1" for x in lines)
    res = run("audit", "query", "--db", filled_url, "-f", "jsonl", "--kind", "policy.change")
    assert [json.loads(x)["seq"] for x in res.output.splitlines()] == [31]
    res = run("audit", "query", "--db", filled_url, "-f", "jsonl", "--rule", "rule-2", "--capability", "*.read", "-n", "2", "--newest-first")
    seqs = [json.loads(x)["seq"] for x in res.output.splitlines()]
    assert len(seqs) == 2 and seqs[0] > seqs[1]


def test_query_table_and_env(filled_url: str) -> None:
    res = run("audit", "query", "--format", "table", "--last", "3650d", env={"BASTION_DB": filled_url})
    assert res.exit_code == 0
    assert "rule-1" in res.output and "policy.change" in res.output


def test_time_options_are_checked(filled_url: str) -> None:
    assert run("audit", "query", "--db", filled_url, "--last", "soon").exit_code == 2
    assert run("audit", "query", "--db", filled_url, "--since", "2026-13-40").exit_code == 2
    assert run("audit", "query", "--db", filled_url, "--last", "1h", "--since", "2h").exit_code == 2
    assert run("audit", "query", "--db", filled_url, "--decision", "maybe").exit_code == 2
    # decisions at 1_790_000_000 + i (2026-09-21T...); a window before them is empty
    res = run("audit", "query", "--db", filled_url, "-f", "jsonl", "--until", "2020-01-01")
    assert res.exit_code == 0 and res.output == ""


def test_verify_ok_and_broken(filled_url: str) -> None:
    res = run("audit", "verify", "--db", filled_url)
    assert res.exit_code == 0 and "OK: 31 records verified" in res.output
    res = run("audit", "verify", "--db", filled_url, "--format", "json")
    assert json.loads(res.output)["ok"] is True
    _tamper(filled_url)
    res = CliRunner().invoke(main, ["audit", "verify", "--db", filled_url])
    assert res.exit_code == 1
    assert "BROKEN at record 4" in res.output and "altered" in res.output


def _tamper(url: str) -> None:
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as cx:
            cx.execute("DROP TRIGGER bastion_audit_no_change ON bastion_audit")
            cx.execute("UPDATE bastion_audit SET body = replace(body, '\"risk_score\":30', '\"risk_score\":0') WHERE seq = 4")
    else:
        import sqlite3

        cx = sqlite3.connect(url, isolation_level=None)
        cx.execute("DROP TRIGGER bastion_audit_no_update")
        cx.execute("UPDATE bastion_audit SET body = replace(body, '\"risk_score\":30', '\"risk_score\":0') WHERE seq = 4")
        cx.close()


def test_export_and_verify_the_file_with_signed_checkpoints(filled_url: str, tmp_path: Path) -> None:
    key = tmp_path / "audit.key"
    res = run("audit", "keygen", str(key))
    assert res.exit_code == 0 and key.exists() and (tmp_path / "audit.key.pub").exists()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert run("audit", "keygen", str(key)).exit_code == 2  # never overwrite a key by accident
    res = run("audit", "checkpoint", "--db", filled_url, "--key", str(key))
    assert res.exit_code == 0 and "checkpoint at record 31" in res.output
    out = tmp_path / "export.jsonl"
    res = run("audit", "export", "--db", filled_url, "-o", str(out))
    assert res.exit_code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 32 and "checkpoint" in json.loads(lines[-1])
    pub = str(tmp_path / "audit.key.pub")
    res = run("audit", "verify", "--file", str(out), "--public-key", pub, "--require-signed")
    assert res.exit_code == 0 and "1 with a valid signature" in res.output
    res = run("audit", "verify", "--db", filled_url, "--public-key", pub, "--require-signed")
    assert res.exit_code == 0
    # an edited export line is caught offline
    rec = json.loads(lines[9])
    rec["record"]["decision"]["reason"] = "nothing to see"
    lines[9] = json.dumps(rec)
    out.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(main, ["audit", "verify", "--file", str(out)])
    assert res.exit_code == 1 and "record 10 was altered" in res.output
    # a signature from nobody we trust does not count as signed
    other = tmp_path / "other.key"
    run("audit", "keygen", str(other))
    res = CliRunner().invoke(main, ["audit", "verify", "--db", filled_url, "--public-key", str(other) + ".pub", "--require-signed"])
    assert res.exit_code == 1


def test_stats_json(filled_url: str) -> None:
    res = run("audit", "stats", "--db", filled_url, "--format", "json")
    s = json.loads(res.output)
    assert s["total"] == 31 and s["by_decision"] == {"deny": 20, "allow": 10}
    assert s["by_kind"]["policy.change"] == 1 and sum(s["by_rule"].values()) == 30
    res = run("audit", "stats", "--db", filled_url, "--format", "table")
    assert res.exit_code == 0 and "by rule" in res.output


def test_bad_store_is_a_clear_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["audit", "verify", "--db", "mysql://x/y"])
    assert res.exit_code == 2 and "unsupported store URL scheme" in res.output
    not_db = tmp_path / "not.db"
    not_db.write_text("this is not a database, just text" * 100)
    res = CliRunner().invoke(main, ["audit", "query", "--db", str(not_db)])
    assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output
