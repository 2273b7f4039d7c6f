"""With the project's real Redactor: no secret it detects reaches the stored log (corpus-driven).

Secrets come from the public gitleaks samples (shared/corpora/gitleaks). Every sample is
placed where agents put secrets (a command line, a header, an env var, a tool argument,
the decision's reason); whatever the Redactor detects in a sample must be absent from the
database file and from every exported line, while the digest still binds the real action.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from bastion.canonical import action_digest
from bastion.model import Action
from bastion.store import AuditWriter, open_store

CORPUS = Path("/work/shared/corpora/gitleaks/gitleaks_samples.jsonl")
if not CORPUS.exists():
    CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "gitleaks" / "gitleaks_samples.jsonl"


def _samples(n: int) -> list[str]:
    if not CORPUS.exists():
        pytest.skip(f"corpus not found: {CORPUS}")
    rows = [json.loads(line) for line in CORPUS.open(encoding="utf-8")]
    texts = [r["text"] for r in rows if r["expect"] == "secret"]
    random.Random(5).shuffle(texts)  # a fixed, spread-out subset: every run checks the same samples
    return texts[:n]


def test_detected_secrets_never_reach_the_store(store_url: str, make_action: Any, make_decision: Any) -> None:
    from bastion.secrets import Redactor

    redactor = Redactor()
    samples = _samples(120)
    places = [
        lambda s, i: make_action(i, capability="shell.exec", target=f"deploy --token '{s}'"),
        lambda s, i: make_action(i, capability="network.request", target="https://api.example.com/v1", args={"headers": {"Authorization": f"Bearer {s}"}, "body": s}),
        lambda s, i: make_action(i, capability="env.write", target="API_KEY", args={"value": s}),
        lambda s, i: make_action(i, capability="tool.call", target="notes.save", args={"text": f"remember this: {s}"}, context={"note": s}),
    ]
    secrets_found: list[str] = []
    digests = []
    store = open_store(store_url)
    with AuditWriter(store, "async", redactor=redactor) as w:
        for i, sample in enumerate(samples):
            findings = redactor.scanner.scan(sample)
            rest = sample
            for f in sorted(findings, key=lambda f: -f.start):
                rest = rest[: f.start] + "\x00" + rest[f.end :]
            # a value that also stands in the sample where it is no secret ("password":"password")
            # may rightly remain in the log; every other detected value must not
            secrets_found.extend(
                sample[f.start : f.end] for f in findings if f.end - f.start >= 8 and sample[f.start : f.end] not in rest
            )
            action: Action = places[i % len(places)](sample, i)
            decision = make_decision(action, i, reason=f"blocked: saw {sample}")
            w.record(decision, action)
            digests.append(action_digest(action))
    assert len(secrets_found) >= 60, "the redactor should detect most corpus secrets"
    lines = [r.json_line() for r in store.query()]
    assert len(lines) == len(samples)
    assert [json.loads(line)["record"]["action_digest"] for line in lines] == digests
    # markers and redaction kinds name what was found ("generic_password"): not a leak
    dump = re.sub(r'\[REDACTED:[a-z0-9_]+:[0-9a-f]+\]|"kind":"[a-z0-9_]+"', "", "\n".join(lines))
    leaked = [s for s in secrets_found if s in dump]
    assert not leaked, f"{len(leaked)} detected secrets reached the log, e.g. {leaked[0][:6]}..."
    if not store_url.startswith("postgres"):
        raw = b""
        for suffix in ("", "-wal"):
            p = Path(store_url + suffix)
            if p.exists():
                raw += p.read_bytes()
        raw = re.sub(rb'\[REDACTED:[a-z0-9_]+:[0-9a-f]+\]|"kind":"[a-z0-9_]+"', b"", raw)
        assert not [s for s in secrets_found if s.encode() in raw]
    assert store.verify().ok
    store.close()


def test_group_screening_finds_what_the_redactor_finds_alone(make_action: Any, make_decision: Any) -> None:
    """RecordBuilder.decisions() lets the redactor screen actions in groups and skips
    redact_action() for a group it reports clean. That holds only if a group is never
    clean while one of its actions, alone, is not: checked here on the corpus, in every
    place, at every position of a group, and end to end (same bytes as one by one)."""
    from bastion.canonical import digest_fields
    from bastion.secrets import Redactor
    from bastion.store.records import RecordBuilder

    redactor = Redactor()
    samples = _samples(80)
    places = [
        lambda s, i: make_action(i, capability="shell.exec", target=f"deploy --token '{s}'"),
        lambda s, i: make_action(i, capability="network.request", target="https://api.example.com/v1", args={"headers": {"Authorization": f"Bearer {s}"}}),
        lambda s, i: make_action(i, capability="env.write", target="API_KEY", args={"value": s}),
        lambda s, i: make_action(i, capability="process.spawn", target="mysql", args={"argv": ["mysql", "--password", s]}),
        lambda s, i: make_action(i, capability="tool.call", target="notes.save", args={"text": f"remember this: {s}"}, context={"note": s}),
        lambda s, i: make_action(i, id=f"call-{s}", capability="tool.call", target="notes.save"),
    ]
    clean = [digest_fields(make_action(i)) for i in range(7)]
    alone_found = 0
    for i, sample in enumerate(samples):
        for place in places:
            action = place(sample, i)
            scan = {**digest_fields(action), "action_id": action.id}
            if not redactor.redact_action(scan)[1]:
                continue
            alone_found += 1
            for pos in (0, 3, 7):
                group = clean[:pos] + [scan] + clean[pos:]
                assert redactor.redact_value(group)[1], f"sample {i}: found alone, missed in a group at {pos}"
    assert alone_found >= 200

    # end to end: the same records, clean and secret-bearing actions interleaved
    items = []
    for i, sample in enumerate(samples[:40]):
        for k in range(3):
            a = make_action(100 * i + k)
            items.append((make_decision(a, i), a))
        a = places[i % len(places)](sample, i)
        items.append((make_decision(a, i, reason=f"saw {sample}"), a))
    one_by_one = [RecordBuilder(redactor).decision(d.to_dict(), a).body for d, a in items]
    grouped = RecordBuilder(redactor).decisions([(d.to_dict(), a, None) for d, a in items])
    assert [r.body for r in grouped] == one_by_one  # type: ignore[union-attr]
