"""The engine writes every decision to the audit log; an unrecordable decision becomes a deny."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bastion.canonical import action_digest
from bastion.engine import Engine
from bastion.model import Effect
from bastion.store import AuditUnavailable, AuditWriter, StoreUnavailable

CORPUS = Path("/work/shared/corpora/dcg/dcg_commands.jsonl")
if not CORPUS.exists():  # CI: shared/ sits beside the clone
    CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "dcg" / "dcg_commands.jsonl"


def _commands(n: int) -> list[str]:
    if not CORPUS.exists():
        pytest.skip(f"corpus not found: {CORPUS}")
    rows = [json.loads(line)["command"] for line in CORPUS.open(encoding="utf-8")]
    step = max(1, len(rows) // n)
    return rows[::step][:n]  # spread over the file: it mixes blocked and allowed commands


def test_every_decision_is_recorded_as_decided(store: Any, redactor: Any) -> None:
    writer = AuditWriter(store, "sync", redactor=redactor)
    engine = Engine.from_paths(["builtin:coding-agent"], audit=writer)
    decided = []
    for i, cmd in enumerate(_commands(120)):
        action = {"capability": "shell.exec", "target": cmd, "agent": {"id": f"coder-{i % 4}"}, "session": {"id": "s-1"}}
        decided.append((engine.decide(action), action))
    engine.close()
    records = list(store.query(kinds=("decision",)))
    assert len(records) == len(decided)
    effects = set()
    for rec, (decision, action) in zip(records, decided):
        body = rec.record
        assert body["decision"] == json.loads(json.dumps(decision.to_dict()))
        assert body["action_digest"] == action_digest(action)
        assert rec.decision == decision.decision.label
        effects.add(rec.decision)
    assert {"allow", "deny"} <= effects  # the corpus mixes both
    deny_rules = {r.record["decision"]["rules"][0]["rule"] for r in store.query(decisions=("deny",)) if r.record["decision"]["rules"]}
    for rule in deny_rules:
        assert store.count(rule=rule) >= 1
    assert store.verify().ok


def test_store_shortcut(store: Any) -> None:
    engine = Engine.from_paths(["builtin:coding-agent"], store=store)
    engine.decide({"capability": "filesystem.read", "target": "README.md"})
    engine.close()  # drains the async writer
    assert store.count() == 1


def test_audit_outage_turns_decisions_into_denies(store: Any, redactor: Any) -> None:
    class Down:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def append(self, records: Any) -> Any:
            raise StoreUnavailable("test: store is down")

    writer = AuditWriter(Down(store), "sync", redactor=redactor, sync_timeout=0.2, retry_max_delay=0.01)  # type: ignore[arg-type]
    engine = Engine.from_paths(["builtin:coding-agent"], audit=writer)
    d = engine.decide({"capability": "filesystem.read", "target": "README.md"})
    assert d.decision == Effect.DENY and "audit" in d.reason
    with pytest.raises(AuditUnavailable, match="could not be written"):
        writer.close(timeout=0.1)  # the store never comes back: the loss is reported, not hidden
    engine.close()
