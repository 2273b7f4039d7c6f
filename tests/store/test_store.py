"""The same suite on both backends: appending, chaining, querying, events, migrations."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from bastion.canonical import action_digest, canonical
from bastion.model import Effect
from bastion.store import AuditWriter, StoreError, build_decision_record, chain_hash, open_store
from bastion.store.chain import GENESIS
from bastion.store.schema import register


def _fill(store: Any, redactor: Any, make_action: Any, make_decision: Any, n: int = 40) -> list[Any]:
    decisions = []
    with AuditWriter(store, "sync", redactor=redactor) as w:
        for i in range(n):
            a = make_action(i)
            d = make_decision(a, i, effect=Effect.DENY if i % 3 else Effect.ALLOW)
            w.record(d, a)
            decisions.append((d, a))
    return decisions


def test_records_are_chained_and_verify(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    _fill(store, redactor, make_action, make_decision, 25)
    records = list(store.query())
    assert [r.seq for r in records] == list(range(1, 26))
    prev = GENESIS
    for r in records:
        assert r.prev_hash == prev
        assert r.hash == chain_hash(prev, r.seq, r.body.encode())
        prev = r.hash
    assert store.head() == (25, prev)
    result = store.verify()
    assert result.ok and result.checked == 25 and result.head_seq == 25


def test_records_with_long_integers_and_lone_surrogates_verify(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    """An agent's action may carry integers beyond 64 bits and half a surrogate pair: the
    record keeps them exactly and verify reads them back (orjson alone refuses or rounds
    them, which made such records look broken)."""
    args = {"big": 2**70, "low": -(2**63) - 1, "odd": "half a pair: \ud800"}
    action = make_action(1, args=args)
    store.append([build_decision_record(make_decision(action, 1).to_dict(), action, redactor)])
    (rec,) = store.query()
    assert rec.record["action"]["args"] == args
    assert store.verify().ok


def test_decision_record_content(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    a = make_action(7)
    d = make_decision(a, 7, approver_roles=["security-lead"], extra={"approval_id": "ap-1", "approver": "sam@example.com"})
    with AuditWriter(store, "sync", redactor=redactor) as w:
        w.record(d, a)
    (rec,) = list(store.query())
    body = rec.record
    assert body["kind"] == "decision" and body["v"] == 1
    assert body["action_digest"] == action_digest(a)
    assert body["decision"] == json.loads(json.dumps(d.to_dict()))
    assert body["decision"]["rules"][0]["version"] == "3"
    assert body["decision"]["approval_id"] == "ap-1"
    assert body["action"]["target"] == a.target and "id" not in body["action"]
    assert body["ts"] == d.timestamp_iso == rec.ts
    # the stored body is exactly the canonical JSON of what it says
    assert canonical(body) == rec.body
    assert (rec.decision, rec.agent, rec.session, rec.capability) == ("deny", a.agent.id, a.session.id, a.capability)


def test_no_raw_secret_is_stored(store: Any, redactor: Any, make_action: Any, make_decision: Any, store_url: str) -> None:
    token = "sk-test-" + "A1b2C3d4E5f6G7h8I9j0"
    a = make_action(1, target=f"curl -H 'Authorization: Bearer {token}' https://api.example.com", args={"env": {"TOKEN": token}})
    d = make_decision(a, 1, reason=f"token {token} seen")
    with AuditWriter(store, "async", redactor=redactor) as w:
        w.record(d, a)
    store.append_event("policy.change", {"note": f"rotated {token}"}, actor="dana@example.com")
    dump = "\n".join(r.json_line() for r in store.query())
    assert token not in dump
    assert "[REDACTED:fake_token]" in dump
    rec = next(store.query(kinds=("decision",)))
    assert {x["path"] for x in rec.record["redacted"]} == {"action.target", "action.args.env.TOKEN", "decision.reason"}
    # the digest is over the real action, so approvals bind to what the agent really asked
    assert rec.record["action_digest"] == action_digest(a)
    if not store_url.startswith("postgres"):
        with open(store_url, "rb") as fh:
            raw = fh.read()
        for suffix in ("-wal",):
            try:
                with open(store_url + suffix, "rb") as fh:
                    raw += fh.read()
            except FileNotFoundError:
                pass
        assert token.encode() not in raw


def test_ids_are_redacted_too_and_repeating_parts_once(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    token = "sk-test-" + "Z9y8X7w6V5u4T3s2R1q0"
    a = make_action(2, id=f"call-{token}")
    with AuditWriter(store, "sync", redactor=redactor) as w:
        w.record(make_decision(a, 2), a)
        calls = redactor.calls
        for i in range(10):  # same rule, same reason: the stable part is redacted once
            b = make_action(i * 4 + 2)
            w.record(make_decision(b, i * 4 + 2), b)
        assert redactor.calls - calls <= 10 + 1
    rec = next(store.query())
    assert token not in rec.body
    assert rec.record["decision"]["action_id"] == "call-[REDACTED:fake_token]"
    assert {x["path"] for x in rec.record["redacted"]} == {"decision.action_id"}


def test_query_filters(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    _fill(store, redactor, make_action, make_decision, 40)
    store.append_event("policy.change", {"policy": "builtin:coding-agent", "version": "4"}, actor="dana@example.com")
    every = list(store.query())
    assert len(every) == 41

    def seqs(**kw: Any) -> list[int]:
        return [r.seq for r in store.query(**kw)]

    def expect(pred: Any) -> list[int]:
        return [r.seq for r in every if pred(r)]

    assert seqs(decisions=("deny",)) == expect(lambda r: r.decision == "deny")
    assert seqs(decisions=("allow", "deny")) == expect(lambda r: r.decision in ("allow", "deny"))
    assert seqs(agent="agent-1") == expect(lambda r: r.agent == "agent-1")
    assert seqs(session="s-3") == expect(lambda r: r.session == "s-3")
    assert seqs(capability="shell.exec") == expect(lambda r: r.capability == "shell.exec")
    assert seqs(capability="filesystem.*") == expect(lambda r: (r.capability or "").startswith("filesystem."))
    assert seqs(capability="*.read") == expect(lambda r: (r.capability or "").endswith(".read"))
    assert seqs(rule="rule-2") == expect(lambda r: r.kind == "decision" and r.record["decision"]["rules"][0]["rule"] == "rule-2")
    assert seqs(rule="rule-") == []  # exact names, not prefixes
    assert seqs(rule="RULE-2") == []  # and case matters on every backend
    assert seqs(policy="builtin:coding-agent") == expect(lambda r: True)
    assert seqs(kinds=("policy.change",)) == [41]
    assert seqs(actor="dana@example.com") == [41]
    assert seqs(limit=5) == [1, 2, 3, 4, 5]
    assert seqs(limit=3, descending=True) == [41, 40, 39]
    assert seqs(rule="rule-1", limit=2) == expect(lambda r: r.kind == "decision" and r.record["decision"]["rules"][0]["rule"] == "rule-1")[:2]
    assert seqs(after_seq=38) == [39, 40, 41]
    # time windows: since inclusive, until exclusive (decision i is at 1_790_000_000 + i)
    t10 = every[10].ts
    t20 = every[20].ts
    assert seqs(since=t10, until=t20, kinds=("decision",)) == list(range(11, 21))
    assert store.count(since=t10, until=t20, kinds=("decision",)) == 10
    assert store.count(rule="rule-3") == len(expect(lambda r: r.kind == "decision" and r.record["decision"]["rules"][0]["rule"] == "rule-3"))
    with pytest.raises(StoreError):
        list(store.query(since="yesterday-ish"))


def test_like_wildcards_in_filters_are_literal(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    from bastion.model import Layer, RuleMatch

    with AuditWriter(store, "sync", redactor=redactor) as w:
        for i, name in enumerate(["a_b", "axb", "a%b"]):
            a = make_action(i)
            w.record(make_decision(a, i, rules=[RuleMatch("p", name, Layer.SYSTEM, Effect.DENY, "p:1")]), a)
    assert [r.record["decision"]["rules"][0]["rule"] for r in store.query(rule="a_b")] == ["a_b"]
    assert [r.record["decision"]["rules"][0]["rule"] for r in store.query(rule="a%b")] == ["a%b"]


def test_stats(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    _fill(store, redactor, make_action, make_decision, 30)
    store.append_event("approval.granted", {"approval_id": "ap-1"}, actor="sam@example.com")
    s = store.stats()
    assert s.total == 31
    assert s.by_decision == {"deny": 20, "allow": 10}
    assert s.by_kind == {"decision": 30, "approval.granted": 1}
    assert sum(s.by_agent.values()) == 30 and set(s.by_agent) == {"agent-0", "agent-1", "agent-2"}
    assert s.by_rule == {"rule-0": 8, "rule-1": 8, "rule-2": 7, "rule-3": 7}
    assert list(s.by_rule)[0] == "rule-0"  # most frequent first
    narrowed = store.stats(agent="agent-0")
    assert narrowed.total == 10 and narrowed.by_agent == {"agent-0": 10}


def test_events(store: Any) -> None:
    r1 = store.append_event("policy.change", {"policy": "p", "from": "1", "to": "2"}, actor="dana@example.com")
    r2 = store.append_event("approval.requested", {"approval_id": "ap-9", "agent": "coder-7", "decision": "require_approval"})
    assert (r1.seq, r2.seq) == (1, 2)
    assert r2.prev_hash == r1.hash
    assert r1.record["payload"]["to"] == "2" and r1.actor == "dana@example.com"
    assert r2.agent == "coder-7" and r2.decision == "require_approval"
    assert [r.json_line() for r in store.query()] == [r1.json_line(), r2.json_line()]
    for bad in ["decision", "", "Policy Change", "1abc", "x" * 65]:
        with pytest.raises(ValueError):
            store.append_event(bad, {})
    with pytest.raises(ValueError):
        store.append_event("policy.change", {"when": {1, 2}})  # type: ignore[dict-item]
    assert store.verify().ok and store.head()[0] == 2


def test_reopen_keeps_chain_and_migrations_are_idempotent(store_url: str, redactor: Any, make_action: Any, make_decision: Any) -> None:
    with open_store(store_url) as s1:
        s1.redactor = redactor
        _fill(s1, redactor, make_action, make_decision, 5)
        assert s1.schema_versions()["audit"] == 3
        assert s1.migrate() == []
    with open_store(store_url) as s2:
        s2.redactor = redactor
        _fill(s2, redactor, make_action, make_decision, 5)
        assert s2.verify().ok and s2.head()[0] == 10


def test_newer_schema_and_changed_migrations_are_refused(store_url: str) -> None:
    with open_store(store_url) as s:
        with s.transaction() as tx:
            tx.execute(
                "INSERT INTO bastion_migrations (component, version, name, checksum, applied_at) VALUES (?, ?, ?, ?, ?)",
                ("audit", 99, "from the future", "x", "2030-01-01T00:00:00.000Z"),
            )
    with pytest.raises(StoreError, match="newer than this Bastion"):
        open_store(store_url)
    with _raw(store_url) as tx:
        tx("DELETE FROM bastion_migrations WHERE version = 99")
        tx("UPDATE bastion_migrations SET checksum = 'tampered' WHERE component = 'audit'")
    with pytest.raises(StoreError, match="differs from the one applied"):
        open_store(store_url)


class _raw:
    """Plain driver access, bypassing the store (to simulate someone editing the database)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> Any:
        if self.url.startswith("postgres"):
            import psycopg

            self.cx = psycopg.connect(self.url, autocommit=True)
        else:
            import sqlite3

            self.cx = sqlite3.connect(self.url, isolation_level=None)
        return lambda sql, params=(): self.cx.execute(sql if not self.url.startswith("postgres") else sql.replace("?", "%s"), params)

    def __exit__(self, *exc: Any) -> None:
        self.cx.close()


def test_component_migrations_can_be_registered(store_url: str) -> None:
    comp = "testcomp_" + str(abs(hash(store_url)) % 10_000)
    register(comp, 1, "a table", "CREATE TABLE " + comp + " (id {int64_pk}, name TEXT NOT NULL)")
    register(comp, 2, "a column", "ALTER TABLE " + comp + " ADD COLUMN note TEXT")
    with open_store(store_url) as s:
        assert s.schema_versions()[comp] == 2
        with s.transaction() as tx:
            tx.execute(f"INSERT INTO {comp} (id, name, note) VALUES (?, ?, ?)", (1, "x", "y"))
            assert tx.execute(f"SELECT name, note FROM {comp} WHERE id = ?", (1,)) == [("x", "y")]
    from bastion.store import schema

    del schema._REGISTRY[comp]


def test_database_refuses_updates_and_deletes(store: Any, store_url: str, redactor: Any, make_action: Any, make_decision: Any) -> None:
    _fill(store, redactor, make_action, make_decision, 3)
    with _raw(store_url) as sql:
        for stmt in ("UPDATE bastion_audit SET decision = 'allow'", "DELETE FROM bastion_audit WHERE seq = 2"):
            with pytest.raises(Exception, match="append-only"):
                sql(stmt)
    assert store.verify().ok


def test_concurrent_threads_on_one_store(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    """Several writers and event appenders in one process share the chain without loss."""
    writers = [AuditWriter(store, mode, redactor=redactor) for mode in ("sync", "async", "sync")]
    ids: list[str] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        w = writers[t % len(writers)]
        for i in range(60):
            a = make_action(i)
            d = make_decision(a, i)
            w.record(d, a)
            with lock:
                ids.append(d.decision_id)
            if i % 20 == 0:
                store.append_event("policy.change", {"thread": t, "i": i})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        w.close()
    stored = [r.record["decision"]["decision_id"] for r in store.query(kinds=("decision",))]
    assert sorted(stored) == sorted(ids) and len(stored) == 360
    assert store.count(kinds=("policy.change",)) == 18
    result = store.verify()
    assert result.ok and result.checked == 378


def test_build_decision_record_is_canonical(redactor: Any, make_action: Any, make_decision: Any) -> None:
    a = make_action(3, args={"ratio": 0.5, "big": 2**70, "nested": {"z": [1.0, None]}})
    d = make_decision(a, 3, obligations={"alert": {"channel": "#sec", "score": 1e21}})
    rec = build_decision_record(d.to_dict(), a, redactor)
    assert canonical(json.loads(rec.body)) == rec.body.decode()


def test_unsupported_urls_are_clear_errors(tmp_path: Any) -> None:
    for bad in ["mysql://x/y", ":memory:", "", "file:x.db"]:
        with pytest.raises(StoreError):
            open_store(bad)
    s = open_store(f"sqlite://{tmp_path}/via-url.db")  # sqlite:///abs/path
    assert s.url == f"{tmp_path}/via-url.db"
    s.close()


def test_sqlite_default_location_and_env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import stat

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BASTION_DB", raising=False)
    with open_store(None) as s:
        assert s.url == str(tmp_path / ".bastion" / "bastion.db")
    assert stat.S_IMODE(os.stat(tmp_path / ".bastion").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / ".bastion" / "bastion.db").st_mode) == 0o600
    monkeypatch.setenv("BASTION_DB", str(tmp_path / "elsewhere.db"))
    with open_store(None) as s:
        assert s.url == str(tmp_path / "elsewhere.db")


def test_sqlite_new_files_use_8k_pages_and_old_files_keep_theirs(tmp_path: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    import sqlite3

    with open_store(tmp_path / "new.db") as s:
        s.redactor = redactor
        _fill(s, redactor, make_action, make_decision, 3)
    with sqlite3.connect(tmp_path / "new.db") as cx:
        assert cx.execute("PRAGMA page_size").fetchone()[0] == 8192
    # a database created with 4 KiB pages (an earlier Bastion) opens and grows as it is
    with sqlite3.connect(tmp_path / "old.db") as cx:
        cx.execute("PRAGMA page_size=4096")
        cx.execute("PRAGMA journal_mode=WAL")
        cx.execute("CREATE TABLE placeholder (x)")
    with open_store(tmp_path / "old.db") as s:
        _fill(s, redactor, make_action, make_decision, 3)
        assert s.verify().ok and s.count() == 3
    with sqlite3.connect(tmp_path / "old.db") as cx:
        assert cx.execute("PRAGMA page_size").fetchone()[0] == 4096


@pytest.mark.postgres
def test_postgres_url_password_never_shown(pg_url: str) -> None:
    from bastion.store.postgres import display_url

    assert display_url("postgresql://user:hunter2@db.example.com:5432/x") == "postgresql://user:***@db.example.com:5432/x"
    with pytest.raises(StoreError) as info:
        open_store("postgresql://nobody:hunter2@127.0.0.1:1/none?connect_timeout=1", timeout=1.0)
    assert "hunter2" not in str(info.value)
