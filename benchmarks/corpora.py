"""How Bastion's built-in policies judge other projects' labelled commands and SQL.

    python benchmarks/corpora.py            # every corpus, tables on stdout
    python benchmarks/corpora.py --quick    # a deterministic 1-in-5 sample

Corpora (read each /work/shared/corpora/*/SOURCE.md): `dcg`, `dcg_go`, `dippy` (shell
commands, judged with builtin:coding-agent) and `postgres_mcp` (SQL, judged with
builtin:read_only). Their labels encode their own policies, so no blended score is
computed; per source and category this prints how many `block` rows Bastion blocks
(require_approval, deny or terminate), how many `allow` rows it lets through (alert or
less), and how many inputs did not parse. Every disagreement is written to
benchmarks/out/corpora_disagreements.jsonl to be judged (a bug, or a deliberate
difference documented in docs/analysis.md), and the figures to
benchmarks/out/corpora_summary.json.

Label handling (documented in docs/analysis.md):
- dippy `ask` means "confirm", not "dangerous": only its `allow` rows count.
- dcg_go_expanded rows whose upstream rule is `-` (`git status`, `echo "do not run rm
  -rf ..."`) are upstream's negative controls; the extraction labelled them `block`,
  upstream expects no match. They are counted as `allow`.
- dcg rows without a command (raw hook-JSON robustness cases) are skipped.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from bastion.engine import Engine  # noqa: E402
from bastion.model import Action, Effect  # noqa: E402

CORPORA = Path("/work/shared/corpora")
OUT = ROOT / "benchmarks" / "out"

#: (source, file, field, policy)
FILES = [
    ("dcg", "dcg/dcg_commands.jsonl", "command", "builtin:coding-agent"),
    ("dcg", "dcg/dcg_pack_unit_tests.jsonl", "command", "builtin:coding-agent"),
    ("dcg_go", "dcg_go/dcg_go_golden.jsonl", "command", "builtin:coding-agent"),
    ("dcg_go", "dcg_go/dcg_go_expanded_corpus.jsonl", "command", "builtin:coding-agent"),
    ("dippy", "dippy/dippy_commands.jsonl", "command", "builtin:coding-agent"),
    ("postgres_mcp", "postgres_mcp/postgres_mcp_safe_sql.jsonl", "sql", "builtin:read_only"),
]


def rows(path: Path, quick: bool) -> Iterator[dict[str, Any]]:
    with path.open() as fh:
        for i, line in enumerate(fh):
            if quick and i % 5:
                continue
            yield json.loads(line)


def expected(row: dict[str, Any], file: str) -> str:
    if file.endswith("dcg_go_expanded_corpus.jsonl") and row.get("rule_id") == "-:-":
        return "allow"
    return row["expect"]


def category(row: dict[str, Any]) -> str:
    cat = row.get("category") or "-"
    return cat.split("/")[0]


def family(cat: str) -> str:
    """`storage.s3` -> storage, `database_postgresql` -> database, `false_positives` -> false_positives."""
    head = cat.split(".", 1)[0]
    if head.startswith(("cloud_", "core_", "database_", "containers_", "kubernetes_", "infrastructure_", "personal_", "platform_", "remote_", "secrets_", "frameworks_")):
        head = head.split("_", 1)[0]
    return head


def parse_failed(decision_subjects: Any, capability: str) -> bool:
    facts = decision_subjects[0].facts if decision_subjects else {}
    if capability == "shell.exec":
        return bool(facts.get("parse_error"))
    return bool(facts.get("parse_error"))


class Tally:
    def __init__(self) -> None:
        self.block = [0, 0]  # [rows, blocked]
        self.allow = [0, 0]  # [rows, let through]
        self.ask = [0, 0]  # dippy ask rows: [rows, blocked] (informational)
        self.parse_fail = 0
        self.rows = 0

    def add(self, exp: str, blocked: bool, failed: bool) -> None:
        self.rows += 1
        self.parse_fail += failed
        if exp == "block":
            self.block[0] += 1
            self.block[1] += blocked
        elif exp == "allow":
            self.allow[0] += 1
            self.allow[1] += not blocked
        elif exp == "ask":
            self.ask[0] += 1
            self.ask[1] += blocked

    def merge(self, other: "Tally") -> None:
        for attr in ("block", "allow", "ask"):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            mine[0] += theirs[0]
            mine[1] += theirs[1]
        self.parse_fail += other.parse_fail
        self.rows += other.rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "block_rows": self.block[0],
            "blocked": self.block[1],
            "allow_rows": self.allow[0],
            "let_through": self.allow[1],
            "ask_rows": self.ask[0],
            "ask_blocked": self.ask[1],
            "parse_failures": self.parse_fail,
        }


def pct(a: int, n: int) -> str:
    return f"{100.0 * a / n:5.1f}%" if n else "    -"


def line(name: str, t: Tally) -> str:
    b = f"{t.block[1]:5d}/{t.block[0]:<5d} {pct(t.block[1], t.block[0])}" if t.block[0] else " " * 18
    a = f"{t.allow[1]:5d}/{t.allow[0]:<5d} {pct(t.allow[1], t.allow[0])}" if t.allow[0] else " " * 18
    return f"  {name:46s} {b}   {a}   {pct(t.parse_fail, t.rows)}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="every fifth row only")
    ap.add_argument("--categories", action="store_true", help="print every category (default: the 12 with most disagreements)")
    args = ap.parse_args()

    engines: dict[str, Engine] = {}
    OUT.mkdir(parents=True, exist_ok=True)
    disagreements = (OUT / "corpora_disagreements.jsonl").open("w")
    per_file: dict[str, Tally] = {}
    per_source: dict[str, Tally] = collections.defaultdict(Tally)
    per_cat: dict[tuple[str, str], Tally] = collections.defaultdict(Tally)
    wrong_per_cat: collections.Counter[tuple[str, str]] = collections.Counter()
    timings: list[float] = []
    skipped = 0
    t_start = time.perf_counter()
    for source, rel, field, policy in FILES:
        engine = engines.get(policy)
        if engine is None:
            # actions carry no session or agent id, so session state (escalation) stays out of it
            engine = engines[policy] = Engine.from_paths([policy])
        capability = "shell.exec" if field == "command" else "database.query"
        tally = per_file[rel] = Tally()
        for row in rows(CORPORA / rel, args.quick):
            text = row.get(field)
            if not isinstance(text, str):
                skipped += 1
                continue
            exp = expected(row, rel)
            action_args: dict[str, Any] = {}
            if capability == "database.query" and row.get("dialect"):
                action_args["dialect"] = row["dialect"]
            action = Action(capability=capability, target=text, args=action_args)
            t0 = time.perf_counter()
            decision = engine.decide(action)
            timings.append(time.perf_counter() - t0)
            blocked = decision.decision >= Effect.REQUIRE_APPROVAL
            failed = parse_failed(engine.analyzer.analyze(action), capability)
            tally.add(exp, blocked, failed)
            per_cat[(source, category(row))].add(exp, blocked, failed)
            agree = (exp == "block") == blocked if exp in ("block", "allow") else True
            if not agree:
                wrong_per_cat[(source, category(row))] += 1
                disagreements.write(
                    json.dumps(
                        {
                            "source": source,
                            "file": rel,
                            "category": row.get("category"),
                            field: text,
                            "expected": exp,
                            "decision": decision.decision.label,
                            "reason": decision.reason,
                            "rules": [r.rule for r in decision.rules],
                            "upstream": row.get("source"),
                        }
                    )
                    + "\n"
                )
        per_source[source].merge(tally)
    disagreements.close()
    elapsed = time.perf_counter() - t_start

    print(f"{'':48s} {'block rows blocked':18s}   {'allow rows through':18s}   parse failures")
    print("per file")
    for _, rel, _, policy in FILES:
        print(line(f"{rel.split('/')[-1]} ({policy.split(':')[1]})", per_file[rel]))
    print("per source")
    for source in ("dcg", "dcg_go", "dippy", "postgres_mcp"):
        print(line(source, per_source[source]))
    dippy_ask = per_source["dippy"].ask
    if dippy_ask[0]:
        print(f"  (dippy 'ask' rows, not scored: {dippy_ask[1]}/{dippy_ask[0]} {pct(dippy_ask[1], dippy_ask[0])} need approval or are denied)")

    families: dict[tuple[str, str], Tally] = collections.defaultdict(Tally)
    for (src, cat), t in per_cat.items():
        families[(src, family(cat))].merge(t)
    print("per category family (the part of the category before '.' or '_')")
    for key in sorted(families):
        print(line(f"{key[0]}:{key[1]}", families[key]))
    print("per category" + ("" if args.categories else " (the 12 with most disagreements; --categories for all)"))
    cats = sorted(per_cat, key=lambda k: (-wrong_per_cat[k], k)) if not args.categories else sorted(per_cat)
    for key in cats if args.categories else cats[:12]:
        print(line(f"{key[0]}:{key[1]}", per_cat[key]))

    dcg_both = Tally()
    dcg_both.merge(per_source["dcg"])
    dcg_both.merge(per_source["dcg_go"])
    allow_all = Tally()
    for s in ("dcg", "dcg_go", "dippy"):
        allow_all.merge(per_source[s])
    pm = per_source["postgres_mcp"]
    expanded = per_file["dcg_go/dcg_go_expanded_corpus.jsonl"]
    targets = {
        "dcg_go_expanded_blocked": (expanded.block[1], expanded.block[0], 0.98),
        "dcg_and_dcg_go_blocked": (dcg_both.block[1], dcg_both.block[0], 0.95),
        "dcg_dcg_go_dippy_allowed": (allow_all.allow[1], allow_all.allow[0], 0.95),
        "postgres_mcp_agreement": (pm.block[1] + pm.allow[1], pm.block[0] + pm.allow[0], 0.95),
    }
    print("targets")
    for name, (ok, n, want) in targets.items():
        mark = "ok" if n and ok / n >= want else "BELOW"
        print(f"  {name:46s} {ok:5d}/{n:<5d} {pct(ok, n)}   (target {want:.0%}) {mark}")
    med = statistics.median(timings) * 1e6 if timings else 0.0
    print(f"{len(timings)} decisions in {elapsed:.1f} s (median {med:.0f} µs per decision, uncached and cached mixed); {skipped} rows without text skipped")
    print(f"disagreements: {OUT / 'corpora_disagreements.jsonl'}")
    summary = {
        "quick": args.quick,
        "files": {rel: per_file[rel].to_dict() for _, rel, _, _ in FILES},
        "sources": {s: t.to_dict() for s, t in per_source.items()},
        "categories": {f"{k[0]}:{k[1]}": t.to_dict() for k, t in sorted(per_cat.items())},
        "families": {f"{k[0]}:{k[1]}": t.to_dict() for k, t in sorted(families.items())},
        "targets": {k: {"ok": v[0], "rows": v[1], "target": v[2]} for k, v in targets.items()},
    }
    (OUT / "corpora_summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
