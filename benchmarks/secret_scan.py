"""Secret detection: accuracy on other projects' labelled samples, and throughput.

    python benchmarks/secret_scan.py                 # everything
    python benchmarks/secret_scan.py --no-throughput # accuracy only
    python benchmarks/secret_scan.py --rules         # also the per-rule table

Accuracy, per source (shared/corpora/*/SOURCE.md explains each label):
- recall on ``secret`` samples that are literal credentials. Excluded, as their
  SOURCE.md marks them: gitleaks path/file-type rules (samples with a ``path``),
  noseyparker samples without the ``secret`` category (identifiers, hashes of
  public things), detect-secrets ``IPPublicDetector`` (addresses) and
  ``KeywordDetector`` (labels depend on the file extension). noseyparker
  ``known_false_negative`` negatives count as secrets, as SOURCE.md says.
- false-positive rate on ``clean`` samples, same exclusions, plus detect-secrets
  ``questionable_negative`` rows. A clean text that the same source also labels
  ``secret`` under another rule is contradictory and counted apart.
  For gitleaks, the FP rate is also given on the clean samples the upstream rule's
  own regex does not match (``regex_matches_py_approx`` false): the others match the
  rule and are suppressed upstream only by entropy thresholds or value allowlists.
- the synthesized gitleaks file is scored separately (its secrets were generated).
Every disagreement goes to benchmarks/out/secrets_disagreements.jsonl.

Throughput: a mixed payload of several MB (Python sources, JSON API events, shell
commands from the corpora, log lines, prose), scanned whole by Bastion and by
detect-secrets (line by line, its default plugins, as `detect-secrets scan` does)
in the same run. Medians of --runs runs; p99 of per-chunk latency for Bastion.

--bare-variants: the bare 40-character key detector in its own RE2 pass, in the Hyperscan
database, and left out, timed on the same clean payload in the same run.

--tree DIR: findings per detector on every text file under DIR (say, an installed Python's
lib/ with its site-packages): a larger false-positive proxy than the mixed payload.

Redactor: redact_action() and summarise() on small actions without secrets (shell
commands from the corpora, JSON API requests), median and p99 per call: the cost the
audit log pays for every record.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import statistics
import sys
import sysconfig
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# this file is named like the stdlib "secrets" module: keep benchmarks/ off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT / "src"))

CORPORA = Path(os.environ.get("BASTION_CORPORA", ROOT.parent / "shared" / "corpora"))
if not CORPORA.exists():
    CORPORA = Path("/work/shared/corpora")
OUT = HERE / "out"


def load(rel: str) -> list[dict]:
    with open(CORPORA / rel, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# --------------------------------------------------------------------------- sample selection


def gitleaks_samples() -> list[dict]:
    out = []
    for r in load("gitleaks/gitleaks_samples.jsonl"):
        r = dict(r)
        if "path" in r:
            r["_group"] = "excluded:file-type"
        elif r["expect"] == "secret":
            r["_group"] = "secret:literal" if r["origin"] == "literal" else "secret:template"
        else:
            r["_group"] = "clean"
        out.append(r)
    return out


def noseyparker_samples() -> list[dict]:
    out = []
    for r in load("noseyparker/noseyparker_samples.jsonl"):
        r = dict(r)
        if "secret" not in r["categories"]:
            r["_group"] = "excluded:identifier"
        elif r.get("known_false_negative"):
            r["_group"] = "secret:literal"
        elif r.get("questionable_positive"):
            r["_group"] = "excluded:questionable"
        else:
            r["_group"] = "secret:literal" if r["expect"] == "secret" else "clean"
        out.append(r)
    return out


def detect_secrets_samples() -> list[dict]:
    out = []
    for r in load("detect_secrets/detect_secrets_samples.jsonl"):
        r = dict(r)
        if r["rule_id"] == "IPPublicDetector":
            r["_group"] = "excluded:identifier"
        elif r["rule_id"] == "KeywordDetector":
            r["_group"] = "excluded:file-type"
        elif r.get("questionable_negative"):
            r["_group"] = "excluded:questionable"
        else:
            r["_group"] = "secret:literal" if r["expect"] == "secret" else "clean"
        out.append(r)
    return out


def secretlint_samples() -> list[dict]:
    out = []
    for r in load("secretlint/secretlint_lines.jsonl"):
        r = dict(r)
        if r["expect"] == "unflagged" or r.get("rule_options"):
            r["_group"] = "excluded:unflagged-or-options"
        else:
            r["_group"] = "secret:literal" if r["expect"] == "secret" else "clean"
        out.append(r)
    return out


def synthesized_samples() -> list[dict]:
    out = []
    for r in load("gitleaks/gitleaks_samples_synthesized.jsonl"):
        r = dict(r)
        r["_group"] = "secret:synth" if r["expect"] == "secret" else "clean"
        out.append(r)
    return out


SOURCES = {
    "gitleaks": gitleaks_samples,
    "noseyparker": noseyparker_samples,
    "detect_secrets": detect_secrets_samples,
    "secretlint (lines)": secretlint_samples,
    "gitleaks synthesized": synthesized_samples,
}


# --------------------------------------------------------------------------- scoring


def detected(r: dict, findings) -> bool:
    if not findings:
        return False
    secret = r.get("secret")
    if secret and secret in r["text"]:
        s = r["text"].index(secret)
        e = s + len(secret)
        return any(f.start < e and s < f.end for f in findings)
    return True


def score(name: str, rows: list[dict], scanner, disagreements: list[dict]) -> dict:
    secret_texts = {r["text"] for r in rows if r["_group"].startswith("secret")}
    res = collections.Counter()
    per_rule: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    scans = {i: scanner.scan(r["text"]) for i, r in enumerate(rows) if not r["_group"].startswith("excluded")}
    # the kinds this scanner reports on each upstream rule's own secret samples: a clean
    # sample of that rule is a "rule-scoped" false positive only when one of these fires
    # (SOURCE.md: clean means "this single rule must not fire"; other kinds may be right)
    rule_kinds: dict[str, set[str]] = collections.defaultdict(set)
    for i, r in enumerate(rows):
        if r["_group"].startswith("secret"):
            rule_kinds[r["rule_id"]].update(f.kind for f in scans[i])
    for i, r in enumerate(rows):
        g = r["_group"]
        if g.startswith("excluded"):
            res["excluded"] += 1
            continue
        findings = scans[i]
        rule = r["rule_id"]
        if g.startswith("secret"):
            hit = detected(r, findings)
            res["secret"] += 1
            res["tp"] += hit
            res[f"secret:{g.split(':')[1]}"] += 1
            res[f"tp:{g.split(':')[1]}"] += hit
            per_rule[rule]["secret"] += 1
            per_rule[rule]["tp"] += hit
            if not hit:
                disagreements.append({"source": name, "rule_id": rule, "expect": "secret", "group": g, "found": [], "text": r["text"][:400]})
        else:
            if r["text"] in secret_texts:
                res["contradictory"] += 1
                continue
            res["clean"] += 1
            fp = bool(findings)
            res["fp"] += fp
            own = rule_kinds.get(rule)
            res["fp_scoped"] += bool({f.kind for f in findings} & own) if own else fp
            if "regex_matches_py_approx" in r and not r["regex_matches_py_approx"]:
                res["clean_regex_negative"] += 1
                res["fp_regex_negative"] += fp
            per_rule[rule]["clean"] += 1
            per_rule[rule]["fp"] += fp
            if fp:
                disagreements.append({"source": name, "rule_id": rule, "expect": "clean", "group": g, "found": sorted({f.kind for f in findings}), "text": r["text"][:400]})
    res["per_rule"] = per_rule  # type: ignore[assignment]
    return res


def pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:5.1f}%" if b else "   n/a"


def accuracy(scanner, show_rules: bool) -> None:
    OUT.mkdir(exist_ok=True)
    disagreements: list[dict] = []
    print("## Accuracy on labelled samples (shared/corpora)\n")
    print("| source | secrets | recall | clean | false positives | contradictory | excluded |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    results = {}
    for name, loader in SOURCES.items():
        res = score(name, loader(), scanner, disagreements)
        results[name] = res
        print(
            f"| {name} | {res['secret']} | {pct(res['tp'], res['secret'])} ({res['secret'] - res['tp']} missed) | {res['clean']} | "
            f"{pct(res['fp'], res['clean'])} ({res['fp']}) | {res['contradictory']} | {res['excluded']} |"
        )
    gl = results["gitleaks"]
    print()
    print(f"gitleaks recall by origin: literal {pct(gl['tp:literal'], gl['secret:literal'])} of {gl['secret:literal']}, "
          f"template-expanded {pct(gl['tp:template'], gl['secret:template'])} of {gl['secret:template']}")
    print(f"gitleaks false positives on clean samples the upstream rule's regex does not match: "
          f"{pct(gl['fp_regex_negative'], gl['clean_regex_negative'])} ({gl['fp_regex_negative']} of {gl['clean_regex_negative']})")
    print("false positives, rule-scoped (only the kinds Bastion reports on that rule's own secret samples count; "
          "any finding where the rule has none): " + ", ".join(
              f"{name} {pct(res['fp_scoped'], res['clean'])} ({res['fp_scoped']})" for name, res in results.items()))
    path = OUT / "secrets_disagreements.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for d in disagreements:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    print(f"\n{len(disagreements)} disagreements written to {path.relative_to(ROOT)}")
    if show_rules:
        print("\n### Per upstream rule (rules with a miss or a false positive)\n")
        print("| source | rule | recall | false positives |")
        print("|---|---|---:|---:|")
        for name, res in results.items():
            for rule, c in sorted(res["per_rule"].items()):
                if c["secret"] - c["tp"] or c["fp"]:
                    print(f"| {name} | {rule} | {c['tp']}/{c['secret']} | {c['fp']}/{c['clean']} |")


# --------------------------------------------------------------------------- throughput


def _stdlib_sources(limit_bytes: int) -> list[str]:
    lib = Path(sysconfig.get_paths()["stdlib"])
    out, total = [], 0
    for p in sorted(lib.glob("*.py")) + sorted(lib.glob("*/*.py")):
        if "test" in p.parts or "idlelib" in p.parts:
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        out.append(text)
        total += len(text)
        if total >= limit_bytes:
            break
    return out


def _commands() -> list[str]:
    cmds = []
    for rel, field in (("dcg/dcg_commands.jsonl", "command"), ("dippy/dippy_commands.jsonl", "command"), ("dippy/dippy_sql_readonly.jsonl", "sql")):
        try:
            cmds += [r[field] for r in load(rel) if isinstance(r.get(field), str)]
        except OSError:
            pass
    return cmds


_WORDS = ("the agent reads the file and writes a summary of the build results before the deploy step "
          "user request handled ok latency cache miss retry queue worker order invoice customer shipping "
          "report dashboard metrics region cluster node pod container image version release notes").split()


def mixed_payload(size_mb: float, seed: int = 7) -> str:
    """Several MB of ordinary agent traffic without credentials."""
    rnd = random.Random(seed)
    target = int(size_mb * 1024 * 1024)
    code = _stdlib_sources(target // 2)
    cmds = _commands()
    parts: list[str] = []
    total = 0
    i = 0
    while total < target:
        kind = i % 4
        if kind == 0 and code:
            chunk = code[(i // 4) % len(code)]
        elif kind == 1:
            events = []
            for _ in range(40):
                events.append(json.dumps({
                    "id": f"evt_{rnd.getrandbits(64):016x}",
                    "ts": f"2026-11-21T10:{rnd.randrange(60):02d}:{rnd.randrange(60):02d}Z",
                    "user": {"id": rnd.randrange(10**6), "name": rnd.choice(_WORDS), "email": f"{rnd.choice(_WORDS)}@example.com"},
                    "request": {"method": rnd.choice(["GET", "POST", "PUT"]), "path": f"/api/v1/{rnd.choice(_WORDS)}/{rnd.randrange(10**5)}", "status": rnd.choice([200, 201, 404, 500])},
                    "sha": f"{rnd.getrandbits(160):040x}",
                    "message": " ".join(rnd.choice(_WORDS) for _ in range(12)),
                }))
            chunk = "\n".join(events)
        elif kind == 2 and cmds:
            chunk = "\n".join(rnd.choice(cmds) for _ in range(200))
        else:
            lines = []
            for _ in range(120):
                lines.append(f"2026-11-21 10:{rnd.randrange(60):02d}:{rnd.randrange(60):02d},{rnd.randrange(1000):03d} INFO [{rnd.choice(_WORDS)}] "
                             + " ".join(rnd.choice(_WORDS) for _ in range(rnd.randrange(6, 18))))
            chunk = "\n".join(lines)
        parts.append(chunk)
        total += len(chunk) + 1
        i += 1
    return "\n".join(parts)[:target]


def with_secrets(payload: str, every: int = 20000, seed: int = 11) -> str:
    rnd = random.Random(seed)
    secrets = [r["text"] for r in gitleaks_samples() + noseyparker_samples() if r["_group"].startswith("secret")]
    out, pos = [], 0
    while pos < len(payload):
        out.append(payload[pos : pos + every])
        out.append("\n" + rnd.choice(secrets) + "\n")
        pos += every
    return "".join(out)


def _median_time(fn, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def detect_secrets_scan(text: str) -> int:
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import default_settings

    n = 0  # lines with at least one finding
    with default_settings():
        for line in text.splitlines():
            for _ in scan_line(line):
                n += 1
                break
    return n


def throughput(scanner, size_mb: float, runs: int, ds_runs: int) -> None:
    from bastion.secrets import Redactor

    clean = mixed_payload(size_mb)
    dirty = with_secrets(clean)
    mb_clean = len(clean.encode()) / 1e6
    mb_dirty = len(dirty.encode()) / 1e6
    print(f"\n## Throughput (payload: {mb_clean:.1f} MB mixed code/JSON/commands/logs; {mb_dirty:.1f} MB with a secret every 20 kB)\n")
    found_clean = len(scanner.scan(clean))
    found_dirty = len(scanner.scan(dirty))
    redactor = Redactor(scanner, key=b"bench" * 8)

    rows = []
    t, _ = _median_time(lambda: scanner.scan(clean), runs)
    rows.append(("bastion scan (decode depth 2)", "clean", mb_clean / t, found_clean))
    t0, _ = _median_time(lambda: scanner.scan(clean, decode_depth=0), runs)
    rows.append(("bastion scan (no decoding)", "clean", mb_clean / t0, len(scanner.scan(clean, decode_depth=0))))
    t1, _ = _median_time(lambda: scanner.scan(dirty), runs)
    rows.append(("bastion scan (decode depth 2)", "with secrets", mb_dirty / t1, found_dirty))
    t2, _ = _median_time(lambda: redactor.redact_text(dirty), runs)
    rows.append(("bastion redact_text", "with secrets", mb_dirty / t2, found_dirty))
    ds = None
    try:
        import detect_secrets  # noqa: F401

        ds_found = detect_secrets_scan(clean)
        td, _ = _median_time(lambda: detect_secrets_scan(clean), ds_runs)
        ds = mb_clean / td
        rows.append(("detect-secrets 1.5 (default plugins)", "clean", ds, ds_found))
    except ImportError:
        print("detect-secrets not installed (pip install -e '.[bench]'): peer skipped")
    by_kind = collections.Counter(f.kind for f in scanner.scan(clean))
    print("Findings on the clean payload (a real-world false-positive proxy: it holds no credential), by kind: "
          + (", ".join(f"{k} {n}" for k, n in by_kind.most_common()) or "none") + "\n")
    print("| engine | payload | MB/s (median) | findings (detect-secrets: lines flagged) |")
    print("|---|---|---:|---:|")
    for name, payload, mbs, n in rows:
        print(f"| {name} | {payload} | {mbs:,.1f} | {n} |")
    if ds:
        print(f"\nBastion / detect-secrets on the clean payload: {rows[0][2] / ds:,.1f}x (with decoding), {rows[1][2] / ds:,.1f}x (without)")

    # latency of small inputs: 2 kB chunks, as an action's strings or a tool result would be
    chunks = [clean[i : i + 2048] for i in range(0, min(len(clean), 4 << 20), 2048)]
    lat = []
    for c in chunks:
        t = time.perf_counter()
        scanner.scan(c)
        lat.append(time.perf_counter() - t)
    lat.sort()
    print(f"\n2 kB chunks ({len(chunks)}): median {statistics.median(lat) * 1e6:.1f} us, p99 {lat[int(len(lat) * 0.99)] * 1e6:.1f} us")


def bare_key_variants(scanner, size_mb: float, runs: int) -> None:
    """Where the bare 40-character key detector costs least: its own RE2 pass (as built),
    inside the Hyperscan database, or not at all; same clean payload, same run."""
    import dataclasses

    from bastion.secrets import Scanner

    clean = mixed_payload(size_mb)
    data = clean.encode()
    mb = len(data) / 1e6
    own = [s for s in scanner.specs if s.re2_pass]
    rest = [s for s in scanner.specs if not s.re2_pass]
    variants = {
        "own RE2 pass (as built)": scanner,
        "inside the Hyperscan database": Scanner(rest + [dataclasses.replace(s, re2_pass=False, window=4096) for s in own]),
        "without it": Scanner(rest),
    }
    print(f"\n## The bare 40-character key detector: where it runs ({mb:.1f} MB clean payload, median of {runs})\n")
    print("| variant | scan MB/s | Hyperscan pass ms | own RE2 pass ms | findings |")
    print("|---|---:|---:|---:|---:|")
    for name, sc in variants.items():
        t_scan, _ = _median_time(lambda: sc.scan(clean), runs)
        t_hs, _ = _median_time(lambda: sc._prefilter.scan(data), runs)
        t_own, _ = _median_time(lambda: [d.regex.search(data) for d in sc._own_pass], runs)
        print(f"| {name} | {mb / t_scan:,.1f} | {t_hs * 1e3:.1f} | {t_own * 1e3:.1f} | {len(sc.scan(clean))} |")

    # the worst case: text dense with 40-character runs, each a candidate checked in Python
    rnd = random.Random(3)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"
    words = ["Get", "User", "Account", "Setting", "Value", "Fleet", "Role", "Policy", "Amazon", "Cap"]
    dense = {
        "40-character identifiers of words, space-separated": " ".join("".join(rnd.choice(words) for _ in range(8))[:38] + "12" for _ in range(25000)),
        "random 40-character keys, space-separated": " ".join("".join(rnd.choice(alphabet) for _ in range(40)) for _ in range(25000)),
    }
    print("\n| dense text (1 MB) | as built MB/s | findings | without it MB/s | findings |")
    print("|---|---:|---:|---:|---:|")
    for name, text in dense.items():
        cells = []
        for sc in (scanner, variants["without it"]):
            t, _ = _median_time(lambda: sc.scan(text), 3)
            cells += [f"{len(text) / 1e6 / t:,.1f}", str(len(sc.scan(text)))]
        print(f"| {name} | " + " | ".join(cells) + " |")


TREE_SUFFIXES = (".py", ".pyi", ".md", ".rst", ".txt", ".json", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".js", ".html", ".sh")


def tree(scanner, root: Path, examples: int) -> None:
    """Findings per detector on every text file under `root` (source code and docs): a second
    false-positive proxy, larger than the mixed payload. With `examples`, prints where the first
    few findings of each detector are (file:line:column and marker, never the value: open the file)."""
    per_detector: collections.Counter = collections.Counter()
    files_with: collections.Counter = collections.Counter()
    shown: dict[str, list[str]] = collections.defaultdict(list)
    n_bytes = n_files = 0
    t = time.perf_counter()
    for p in sorted(root.rglob("*")):
        if p.suffix not in TREE_SUFFIXES or not p.is_file():
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        n_files += 1
        n_bytes += len(text.encode("utf-8", "surrogatepass"))
        seen = set()
        for f in scanner.scan(text):
            per_detector[f.detector] += 1
            seen.add(f.detector)
            if len(shown[f.detector]) < examples:
                shown[f.detector].append(f"{p.relative_to(root)}:{f.line}:{f.column}: {f.marker(b'bench' * 8)} ({f.length} chars)")
        files_with.update(seen)
    print(f"\n## Findings on a source tree ({root}: {n_files} files, {n_bytes / 1e6:.1f} MB, {time.perf_counter() - t:.1f} s)\n")
    print("| detector | findings | files |")
    print("|---|---:|---:|")
    for det, n in per_detector.most_common():
        print(f"| {det} | {n} | {files_with[det]} |")
    print(f"| **total** | **{sum(per_detector.values())}** | |")
    if examples:
        for det, lines in sorted(shown.items()):
            print(f"\n{det}:")
            for line in lines:
                print(f"  {line}")


def small_actions(scanner, n: int = 300) -> list[dict]:
    """Small actions without secrets, as an agent sends them: shell commands from the corpora
    (those the scanner finds nothing in), and JSON API requests."""
    from bastion.model import Action

    cmds = [c for c in _commands() if len(c) < 400]
    random.Random(5).shuffle(cmds)
    out: list[dict] = []
    for c in cmds:
        if len(out) >= 2 * n:
            break
        if scanner.scan(c):
            continue
        out.append(Action(capability="shell.exec", target=c, args={"cwd": "/home/dana/repo"}, agent={"id": "coder-7", "role": "coding-agent"}, session={"id": "s-42"}).to_dict())
        out.append({
            "capability": "network.request",
            "target": "https://api.example.com/v1/orders",
            "args": {"method": "POST", "headers": {"Content-Type": "application/json", "Accept": "application/json"},
                     "body": json.dumps({"order": len(out), "items": ["a", "b"], "note": c[:60]})},
            "context": {"ticket": "OPS-12"},
        })
    return out


def redactor_latency(scanner, rounds: int) -> None:
    """redact_action() and summarise() per call on small clean actions: median and p99."""
    from bastion.secrets import Redactor

    redactor = Redactor(scanner, key=b"bench" * 8)
    actions = small_actions(scanner)
    print(f"\n## Redactor on small actions without secrets ({len(actions)} actions, {rounds} rounds)\n")
    print("| call | median us | p99 us | share that needed the full walk |")
    print("|---|---:|---:|---:|")
    walked = sum(1 for a in actions if redactor.summarise(a)["count"] == 0 and redactor._quick_state(a) != 0)
    for name in ("redact_action", "summarise"):
        fn = getattr(redactor, name)
        lat = []
        for _ in range(rounds):
            for a in actions:
                t = time.perf_counter()
                fn(a)
                lat.append(time.perf_counter() - t)
        lat.sort()
        print(f"| {name} | {statistics.median(lat) * 1e6:.1f} | {lat[int(len(lat) * 0.99)] * 1e6:.1f} | {pct(walked, len(actions))} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--no-accuracy", action="store_true")
    ap.add_argument("--no-redactor", action="store_true", help="skip the per-action Redactor latency")
    ap.add_argument("--rules", action="store_true", help="per-rule table of misses and false positives")
    ap.add_argument("--size-mb", type=float, default=8.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ds-runs", type=int, default=1, help="runs of detect-secrets (slow)")
    ap.add_argument("--bare-variants", action="store_true", help="time the bare 40-character key detector in its own RE2 pass, in Hyperscan, and without it")
    ap.add_argument("--tree", type=Path, help="also count findings per detector on every text file under this directory")
    ap.add_argument("--examples", type=int, default=0, help="with --tree: show where the first N findings of each detector are")
    args = ap.parse_args()

    from bastion.secrets import default_scanner

    t = time.perf_counter()
    scanner = default_scanner()
    print(f"catalogue: {len(scanner.specs)} detectors, {len(scanner.kinds)} kinds; build {time.perf_counter() - t:.2f} s\n")
    if not args.no_accuracy:
        accuracy(scanner, args.rules)
    if not args.no_redactor:
        redactor_latency(scanner, args.runs)
    if not args.no_throughput:
        throughput(scanner, args.size_mb, args.runs, args.ds_runs)
    if args.bare_variants:
        bare_key_variants(scanner, args.size_mb, args.runs)
    if args.tree:
        tree(scanner, args.tree, args.examples)


if __name__ == "__main__":
    main()
