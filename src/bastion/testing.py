"""Policy tests: rule examples plus `*_test.yaml` files of actions with expected decisions.

    policies: [builtin:coding-agent, ./policies]     # optional; relative to this file
    tests:
      - name: force pushes are denied
        action: {capability: shell.exec, target: git push -f}
        expect: deny                                 # or {decision: deny, rule: deny-force-push, reason_contains: ...}
        at: 2026-11-20T18:00:00Z                     # optional clock for time windows

Coverage: a rule is covered when one of its examples or one test's decision names it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from bastion.errors import ActionError, PolicyError, Problem
from bastion.examples import EXAMPLE_EPOCH, run_rule_examples
from bastion.model import Action, Effect
from bastion.policy.loader import BUILTIN_PREFIX, TEST_SUFFIXES, builtin_dir
from bastion.policy.yamlpos import load_documents, position

TEST_KEYS = {"name", "action", "expect", "at"}
EXPECT_KEYS = {"decision", "rule", "reason_contains", "policy"}


@dataclass
class CaseResult:
    name: str
    file: str
    line: int | None
    ok: bool
    expected: str
    got: str
    message: str | None = None


@dataclass
class TestReport:
    cases: list[CaseResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # files that could not be run
    covered: set[str] = field(default_factory=set)
    rules: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.ok]

    @property
    def uncovered(self) -> list[str]:
        return [r for r in self.rules if r not in self.covered]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems


def find_test_files(paths: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.startswith(BUILTIN_PREFIX):
            name = p[len(BUILTIN_PREFIX) :]
            files.extend(f for f in (builtin_dir() / f"{name}_test.yaml",) if f.is_file())
            continue
        path = Path(p)
        if path.is_dir():
            files.extend(sorted(f for f in path.rglob("*") if f.name.endswith(TEST_SUFFIXES)))
        elif path.name.endswith(TEST_SUFFIXES):
            files.append(path)
    return files


def _engine_for(sources: list[str], cache: dict[tuple[str, ...], Any], clock_box: list[float]) -> Any:
    from bastion.engine import Engine

    key = tuple(sources)
    if key not in cache:
        cache[key] = Engine.from_paths(sources, clock=lambda: clock_box[0])
    return cache[key]


def _at(raw: Any) -> float:
    when = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def run_tests(policy_sources: list[str], test_files: list[Path]) -> TestReport:
    report = TestReport()
    cache: dict[tuple[str, ...], Any] = {}
    clock_box = [EXAMPLE_EPOCH]
    engines = []
    if policy_sources:
        try:
            engines.append(_engine_for(policy_sources, cache, clock_box))
        except PolicyError as exc:
            report.problems.extend(exc.problems)
    for tf in test_files:
        _run_file(tf, policy_sources, cache, clock_box, report)
    engines.extend(e for e in cache.values() if e not in engines)
    for engine in engines:
        for res in run_rule_examples(engine.policies, engine._analyzer, engine._secrets_summary if engine._redactor else None):
            key = res.rule.key
            name = f"{key} example {res.kind}[{res.index}]"
            line = res.rule.src.position("examples", res.kind, res.index)[0]
            report.cases.append(
                CaseResult(name, res.rule.src.file, line, res.ok, "match" if res.kind == "match" else "no match", "ok" if res.ok else "mismatch", res.message)
            )
            if res.ok and res.kind == "match":
                report.covered.add(key)
        for r in engine.policies.rules:
            if r.key not in report.rules:
                report.rules.append(r.key)
    return report


def _run_file(tf: Path, default_sources: list[str], cache: dict, clock_box: list[float], report: TestReport) -> None:
    file = str(tf)
    try:
        docs = load_documents(tf.read_text(encoding="utf-8"), file)
    except PolicyError as exc:
        report.problems.extend(exc.problems)
        return
    except OSError as exc:
        report.problems.append(Problem(file, None, None, None, f"cannot read: {exc}"))
        return
    if not docs or not isinstance(docs[0][0], dict):
        report.problems.append(Problem(file, 1, 1, None, "a test file is a mapping with 'tests:' (and optional 'policies:')"))
        return
    data, positions = docs[0]
    unknown = set(data) - {"policies", "tests"}
    for key in unknown:
        line, col = position(positions, (key,))
        report.problems.append(Problem(file, line, col, str(key), "unknown key (expected policies, tests)"))
    sources = data.get("policies")
    if sources is None:
        sources = default_sources or _sibling_policies(tf)
    elif isinstance(sources, str):
        sources = [sources]
    sources = [s if s.startswith(BUILTIN_PREFIX) or os.path.isabs(s) else str(tf.parent / s) for s in sources]
    try:
        engine = _engine_for(sources, cache, clock_box)
    except PolicyError as exc:
        report.problems.extend(exc.problems)
        return
    tests = data.get("tests") or []
    if not isinstance(tests, list):
        line, col = position(positions, ("tests",))
        report.problems.append(Problem(file, line, col, "tests", "tests must be a list"))
        return
    for i, case in enumerate(tests):
        line, col = position(positions, ("tests", i))
        name = case.get("name", f"tests[{i}]") if isinstance(case, dict) else f"tests[{i}]"
        try:
            if not isinstance(case, dict):
                raise ValueError("a test is a mapping with action and expect")
            bad = set(case) - TEST_KEYS
            if bad:
                raise ValueError(f"unknown test key {sorted(bad)[0]!r} (expected {sorted(TEST_KEYS)})")
            expect = case.get("expect")
            if isinstance(expect, str):
                expect = {"decision": expect}
            if not isinstance(expect, dict) or "decision" not in expect or set(expect) - EXPECT_KEYS:
                raise ValueError("expect is an effect, or {decision, rule, policy, reason_contains}")
            want = Effect.parse(expect["decision"])
            action = Action.from_dict(case.get("action"))
            clock_box[0] = _at(case["at"]) if "at" in case else EXAMPLE_EPOCH
            decision = engine.explain(action).decision
        except (ActionError, ValueError) as exc:
            report.cases.append(CaseResult(name, file, line, False, "?", "error", str(exc)))
            continue
        problems = []
        if decision.decision != want:
            problems.append(f"decision {decision.decision.label}, expected {want.label} ({decision.reason})")
        names = {m.rule for m in decision.rules} | {f"{m.policy}/{m.rule}" for m in decision.rules}
        if "rule" in expect and expect["rule"] not in names:
            problems.append(f"rule {expect['rule']!r} not among the matched rules {sorted(names) or '[]'}")
        if "policy" in expect and expect["policy"] not in decision.policy_ids:
            problems.append(f"policy {expect['policy']!r} not among {decision.policy_ids}")
        if "reason_contains" in expect and str(expect["reason_contains"]) not in decision.reason:
            problems.append(f"reason {decision.reason!r} does not contain {expect['reason_contains']!r}")
        for m in decision.rules:
            report.covered.add(f"{m.policy}/{m.rule}")
        report.cases.append(CaseResult(name, file, line, not problems, want.label, decision.decision.label, "; ".join(problems) or None))


def _sibling_policies(tf: Path) -> list[str]:
    if tf.parent == builtin_dir():
        stem = tf.name
        for suffix in TEST_SUFFIXES:
            stem = stem.removesuffix(suffix)
        return [f"{BUILTIN_PREFIX}{stem}"]
    return [str(tf.parent)]
