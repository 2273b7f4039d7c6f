"""Tampering: whoever edits the database directly is caught by `verify`, which names the record.

Each test plays an attacker with plain driver access who first drops the append-only
triggers, then edits, deletes, swaps, inserts or truncates records.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from bastion.model import Effect
from bastion.store import AuditWriter, PublicKeyRing, Signer, chain_hash
from bastion.store.chain import COLUMNS

N = 20


class Attacker:
    def __init__(self, url: str) -> None:
        self.pg = url.startswith("postgres")
        if self.pg:
            import psycopg

            self.cx = psycopg.connect(url, autocommit=True)
        else:
            import sqlite3

            self.cx = sqlite3.connect(url, isolation_level=None)
        if self.pg:
            self.sql("DROP TRIGGER bastion_audit_no_change ON bastion_audit")
        else:
            self.sql("DROP TRIGGER bastion_audit_no_update")
            self.sql("DROP TRIGGER bastion_audit_no_delete")

    def sql(self, stmt: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cur = self.cx.execute(stmt.replace("?", "%s") if self.pg else stmt, params)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []

    def row(self, seq: int) -> dict[str, Any]:
        (r,) = self.sql(f"SELECT {', '.join(COLUMNS)} FROM bastion_audit WHERE seq = ?", (seq,))
        return dict(zip(COLUMNS, r))

    def put(self, row: dict[str, Any]) -> None:
        self.sql(f"INSERT INTO bastion_audit ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})", tuple(row[c] for c in COLUMNS))

    def replace(self, seq: int, row: dict[str, Any]) -> None:
        sets = ", ".join(f"{c} = ?" for c in COLUMNS if c != "seq")
        self.sql(f"UPDATE bastion_audit SET {sets} WHERE seq = ?", tuple(row[c] for c in COLUMNS if c != "seq") + (seq,))

    def rehash_from(self, seq: int) -> None:
        """Recompute every hash from `seq` on and move the head: a consistent rewrite."""
        prev = self.row(seq - 1)["hash"] if seq > 1 else "0" * 64
        last = self.sql("SELECT MAX(seq) FROM bastion_audit")[0][0]
        for s in range(seq, last + 1):
            r = self.row(s)
            h = chain_hash(prev, s, r["body"].encode())
            self.sql("UPDATE bastion_audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, s))
            prev = h
        self.sql("UPDATE bastion_audit_head SET seq = ?, hash = ? WHERE id = 1", (last, prev))

    def close(self) -> None:
        self.cx.close()


@pytest.fixture
def filled(store: Any, redactor: Any, make_action: Any, make_decision: Any) -> Any:
    with AuditWriter(store, "sync", redactor=redactor) as w:
        for i in range(N):
            a = make_action(i)
            w.record(make_decision(a, i, effect=Effect.DENY), a)
    assert store.verify().ok
    return store


@pytest.fixture
def attacker(filled: Any, store_url: str) -> Iterator[Attacker]:
    a = Attacker(store_url)
    yield a
    a.close()


def _broken(store: Any, keys: Any = None) -> tuple[int | None, str]:
    result = store.verify(keys)
    assert not result.ok, "tampering went unnoticed"
    return result.first_bad, result.why or ""


def test_edit_a_field_in_the_record(filled: Any, attacker: Attacker) -> None:
    r = attacker.row(5)
    r["body"] = r["body"].replace('"decision":"deny"', '"decision":"allow"')
    attacker.replace(5, r)
    seq, why = _broken(filled)
    assert seq == 5 and "altered" in why


def test_edit_only_an_index_column(filled: Any, attacker: Attacker) -> None:
    r = attacker.row(7)
    r["decision"] = "allow"  # a query for denies would now miss it
    attacker.replace(7, r)
    seq, why = _broken(filled)
    assert seq == 7 and "column decision" in why


def test_edit_and_rehash_the_record_itself(filled: Any, attacker: Attacker) -> None:
    r = attacker.row(9)
    r["body"] = r["body"].replace('"decision":"deny"', '"decision":"allow"')
    r["decision"] = "allow"
    r["hash"] = chain_hash(r["prev_hash"], 9, r["body"].encode())
    attacker.replace(9, r)
    seq, why = _broken(filled)
    assert seq == 10 and "does not follow record 9" in why


def test_delete_a_record(filled: Any, attacker: Attacker) -> None:
    attacker.sql("DELETE FROM bastion_audit WHERE seq = 6")
    seq, why = _broken(filled)
    assert seq == 6 and "record 6 is missing" in why


def test_delete_several_records(filled: Any, attacker: Attacker) -> None:
    attacker.sql("DELETE FROM bastion_audit WHERE seq BETWEEN 3 AND 5")
    seq, why = _broken(filled)
    assert seq == 3 and "records 3 to 5 are missing" in why


def test_delete_the_first_record(filled: Any, attacker: Attacker) -> None:
    attacker.sql("DELETE FROM bastion_audit WHERE seq = 1")
    seq, why = _broken(filled)
    assert seq == 1 and "missing" in why


def test_swap_two_records(filled: Any, attacker: Attacker) -> None:
    r5, r8 = attacker.row(5), attacker.row(8)
    attacker.replace(5, r8)
    attacker.replace(8, r5)
    seq, why = _broken(filled)
    assert seq == 5 and "does not follow record 4" in why


def test_reorder_by_renumbering(filled: Any, attacker: Attacker) -> None:
    r11, r12 = attacker.row(11), attacker.row(12)
    attacker.sql("DELETE FROM bastion_audit WHERE seq IN (11, 12)")
    r11["seq"], r12["seq"] = 12, 11
    attacker.put(r12)
    attacker.put(r11)
    seq, why = _broken(filled)
    assert seq == 11


def test_insert_a_record_in_the_middle(filled: Any, attacker: Attacker) -> None:
    last = N
    for s in range(last, 5, -1):  # make room at 6
        r = attacker.row(s)
        attacker.sql("DELETE FROM bastion_audit WHERE seq = ?", (s,))
        r["seq"] = s + 1
        attacker.put(r)
    forged = attacker.row(5)
    forged["seq"] = 6
    forged["prev_hash"] = attacker.row(5)["hash"]
    forged["hash"] = chain_hash(forged["prev_hash"], 6, forged["body"].encode())
    attacker.put(forged)
    attacker.sql("UPDATE bastion_audit_head SET seq = ? WHERE id = 1", (last + 1,))
    seq, why = _broken(filled)
    assert seq == 7 and "does not follow record 6" in why


def test_truncate_the_tail(filled: Any, attacker: Attacker) -> None:
    attacker.sql("DELETE FROM bastion_audit WHERE seq > 17")
    seq, why = _broken(filled)
    assert seq == 18 and "records 18 to 20 missing (tail truncated)" in why


def test_append_behind_the_heads_back(filled: Any, attacker: Attacker) -> None:
    r = attacker.row(N)
    forged = dict(r, seq=N + 1, prev_hash=r["hash"])
    forged["hash"] = chain_hash(forged["prev_hash"], N + 1, forged["body"].encode())
    attacker.put(forged)
    seq, why = _broken(filled)
    assert seq == N + 1 and "without moving the head" in why


def test_a_consistent_rewrite_needs_a_signed_checkpoint_to_be_caught(filled: Any, attacker: Attacker) -> None:
    """Whoever can rewrite every hash after an edit fools the chain alone; a checkpoint does not move."""
    signer = Signer.generate()
    filled.checkpoint(signer)  # pins record 20
    r = attacker.row(12)
    r["body"] = r["body"].replace('"decision":"deny"', '"decision":"allow"')
    r["decision"] = "allow"
    attacker.replace(12, r)
    attacker.rehash_from(12)
    assert filled.verify(check_columns=True).ok is False  # the stored checkpoint still pins record 20
    seq, why = _broken(filled, PublicKeyRing([signer.public_key]))
    assert seq == 20 and "checkpoint" in why


def test_truncate_and_move_the_head_is_caught_by_a_checkpoint(filled: Any, attacker: Attacker) -> None:
    signer = Signer.generate()
    filled.checkpoint(signer)
    attacker.sql("DELETE FROM bastion_audit WHERE seq > 15")
    attacker.rehash_from(15)  # head now says 15
    seq, why = _broken(filled, PublicKeyRing([signer.public_key]))
    assert seq == 16 and "tail truncated" in why


def test_forged_checkpoint_signature(filled: Any, attacker: Attacker) -> None:
    signer = Signer.generate()
    filled.checkpoint(signer)
    attacker.sql("UPDATE bastion_audit_checkpoints SET ts = '2020-01-01T00:00:00.000Z'")
    seq, why = _broken(filled, PublicKeyRing([signer.public_key]))
    assert seq == N and "invalid signature" in why


def test_checkpoint_from_an_unknown_key_is_a_warning(filled: Any) -> None:
    filled.checkpoint(Signer.generate())
    result = filled.verify(PublicKeyRing([Signer.generate().public_key]))
    assert result.ok and result.signed_checkpoints == 0 and result.warnings


def test_untampered_chain_with_checkpoints_verifies(filled: Any, redactor: Any, make_action: Any, make_decision: Any) -> None:
    signer = Signer.generate()
    filled.checkpoint(signer)
    with AuditWriter(filled, "async", redactor=redactor, signer=signer, checkpoint_every=5) as w:
        for i in range(12):
            a = make_action(i)
            w.record(make_decision(a, i), a)
    cps = filled.checkpoints()
    assert cps[0].seq == N and cps[-1].seq == N + 12
    result = filled.verify(PublicKeyRing([signer.public_key]))
    assert result.ok and result.signed_checkpoints == len(cps) >= 2
