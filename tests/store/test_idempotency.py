"""Idempotency keys: a re-run of the same decided action is on record once, on both backends.

Graph frameworks re-run a tool step on resume with the same tool-call id; the enforcer
turns that id into the action id. A keyed decision record whose key, action digest and
effect a stored record already has is skipped; a key seen with another action or another
effect is recorded again (de-duplication never hides a decision that differs).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bastion.model import Effect
from bastion.store import AuditUnavailable, AuditWriter, open_store
from bastion.store.records import MAX_KEY, RecordBuilder


def test_a_repeated_keyed_decision_is_recorded_once(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    a = make_action(1)
    with AuditWriter(store, "sync", redactor=redactor) as w:
        w.record(make_decision(a, 1), a, idempotency_key="call-1")
        w.record(make_decision(a, 1), a, idempotency_key="call-1")  # the re-run: same action, same effect
        assert w.stats["duplicates"] == 1
        w.record(make_decision(a, 1, effect=Effect.ALLOW), a, idempotency_key="call-1")  # decided otherwise
        b = make_action(1, target="cat /srv/other.txt")
        w.record(make_decision(b, 1), b, idempotency_key="call-1")  # the key reused for another action
        w.record(make_decision(a, 1), a)  # no key: always recorded
        assert w.stats["duplicates"] == 1 and w.stats["committed"] == 5
    assert store.count() == 4
    keyed = list(store.query(idempotency_key="call-1"))
    assert [r.decision for r in keyed] == ["deny", "allow", "deny"]
    assert {r.record["idempotency_key"] for r in keyed} == {"call-1"} and all(r.idem_key == "call-1" for r in keyed)
    assert "idempotency_key" not in next(store.query(descending=True, limit=1)).record
    assert store.verify().ok


def test_the_action_id_as_key(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    chosen = make_action(2, id="call_8f2b")  # an id the caller chose, e.g. a LangGraph tool-call id
    generated = make_action(2)  # Bastion made this id: it names nothing the caller could repeat
    with AuditWriter(store, "async", redactor=redactor, idempotency="action_id") as w:
        for _ in range(3):
            w.record(make_decision(chosen, 2), chosen)  # fresh decision ids and times each run
            w.record(make_decision(generated, 2), generated)
        w.flush()
        assert w.stats["duplicates"] == 2
    assert store.count(idempotency_key="call_8f2b") == 1
    assert store.count() == 4 and store.verify().ok


def test_repeats_within_one_batch(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    a = make_action(3)
    with AuditWriter(store, "async", redactor=redactor, flush_interval=60.0) as w:
        for _ in range(5):
            w.record(make_decision(a, 3), a, idempotency_key="k")
        w.flush()  # one batch
        assert w.stats["batches"] == 1 and w.stats["duplicates"] == 4
    assert store.count() == 1 and store.verify().ok


def test_writers_on_one_store_agree(store_url: str, redactor: Any, make_action: Any, make_decision: Any) -> None:
    """The check runs inside the append's transaction, under the chain's lock: writers
    in other threads (here two stores on one database) cannot both add the record."""
    stores = [open_store(store_url) for _ in range(2)]
    a = make_action(4)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def run(st: Any) -> None:
        try:
            with AuditWriter(st, "sync", redactor=redactor) as w:
                barrier.wait()
                for _ in range(10):
                    w.record(make_decision(a, 4), a, idempotency_key="shared")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(st,)) for st in stores for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        assert stores[0].count() == 1 and stores[0].verify().ok
    finally:
        for st in stores:
            st.close()


def test_a_key_holding_a_secret_is_redacted(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    token = "sk-test-" + "K" * 20
    a = make_action(5)
    with AuditWriter(store, "sync", redactor=redactor) as w:
        w.record(make_decision(a, 5), a, idempotency_key=f"call-{token}")
        w.record(make_decision(a, 5), a, idempotency_key=f"call-{token}")
    (rec,) = list(store.query())
    assert token not in rec.body and rec.idem_key == "call-[REDACTED:fake_token]"
    assert {"path": "idempotency_key", "kind": "fake_token", "marker": "[REDACTED:fake_token]"} in rec.record["redacted"]
    assert store.verify().ok


def test_bad_keys_are_refused_clearly(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    a = make_action(6)
    with AuditWriter(store, "sync", redactor=redactor) as w:
        for bad in ("", "x" * (MAX_KEY + 1), 42):
            with pytest.raises(AuditUnavailable, match="cannot be recorded"):
                w.record(make_decision(a, 6), a, idempotency_key=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AuditWriter(store, redactor=redactor, idempotency="decision_id")  # type: ignore[arg-type]
    # an action id too long to be a key is recorded without one, not refused
    long_id = make_action(6, id="c" * (MAX_KEY + 1))
    with AuditWriter(store, "sync", redactor=redactor, idempotency="action_id") as w:
        w.record(make_decision(long_id, 6), long_id)
    assert store.count(kinds=("decision",)) == 1 and store.count(kinds=("audit.unrecordable",)) == 3


def test_an_edited_key_column_is_caught(store: Any, store_url: str, redactor: Any, make_action: Any, make_decision: Any) -> None:
    a = make_action(7)
    with AuditWriter(store, "sync", redactor=redactor) as w:
        w.record(make_decision(a, 7), a, idempotency_key="k-7")
        w.record(make_decision(a, 7), a)
    # an attacker gives the unkeyed record the key (to hide it from a query by key)
    with store.transaction() as tx:
        for statement in _drop_triggers(store.dialect):
            tx.execute(statement)
        tx.execute("UPDATE bastion_audit SET idem_key = ? WHERE seq = ?", ("k-7x", 2))
    result = store.verify()
    assert not result.ok and result.first_bad == 2 and "column idem_key" in (result.why or "")


def test_a_version_2_database_is_upgraded(store_url: str, redactor: Any, make_action: Any, make_decision: Any) -> None:
    """Records written before keys existed keep verifying after the migration adds them."""
    from bastion.store import schema

    st = open_store(store_url)
    st.redactor = redactor
    a = make_action(8)
    with AuditWriter(st, "sync", redactor=redactor) as w:
        w.record(make_decision(a, 8), a)
    # back to schema v2: no key column, no v3 row (as a database from before this migration)
    with st.transaction() as tx:
        tx.execute("DROP INDEX bastion_audit_idem")
        if st.dialect == "sqlite":
            # SQLite drops a column only without triggers on the table
            for statement in _drop_triggers("sqlite"):
                tx.execute(statement)
        tx.execute("ALTER TABLE bastion_audit DROP COLUMN idem_key")
        tx.execute("DELETE FROM bastion_migrations WHERE component = 'audit' AND version = 3")
    st.close()
    assert "audit" in schema.registered()
    with open_store(store_url) as st:
        assert st.schema_versions()["audit"] == 3
        st.redactor = redactor
        with AuditWriter(st, "sync", redactor=redactor) as w:
            w.record(make_decision(a, 8), a, idempotency_key="after")
            w.record(make_decision(a, 8), a, idempotency_key="after")
        assert st.count() == 2 and st.verify().ok


def test_builder_puts_the_key_in_canonical_order(redactor: Any, make_action: Any, make_decision: Any) -> None:
    import json

    from bastion.canonical import canonical

    a = make_action(9)
    rec = RecordBuilder(redactor).decision(make_decision(a, 9).to_dict(), a, key="call-9")
    assert canonical(json.loads(rec.body)) == rec.body.decode()
    assert list(json.loads(rec.body)) == ["action", "action_digest", "decision", "idempotency_key", "kind", "redacted", "ts", "v"]
    assert rec.key == "call-9" and rec.match is not None


def _drop_triggers(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return ["DROP TRIGGER IF EXISTS bastion_audit_no_update", "DROP TRIGGER IF EXISTS bastion_audit_no_delete"]
    return ["DROP TRIGGER IF EXISTS bastion_audit_no_change ON bastion_audit"]
