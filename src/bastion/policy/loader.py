"""Load policy sources (files, directories, `builtin:NAME`) into validated documents.

Every problem is reported with file, line, column and field, and all problems of a
load are reported together. `extends` is resolved here: a policy's effective rules
are its parents' rules (in order) followed by its own; a rule with the same id as an
inherited one replaces it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from bastion.errors import PolicyError, Problem, format_loc
from bastion.model import Effect
from bastion.policy.document import INHERITED_SETTINGS, Policy, Rule, SecretsConfig
from bastion.policy.vocabulary import is_known_field, suggest_field
from bastion.policy.yamlpos import Positions, load_documents, position

BUILTIN_PREFIX = "builtin:"
POLICY_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = ("_test.yaml", "_test.yml")


@dataclass
class RuleSource:
    """A rule and where it was written (which may be a parent policy's file)."""

    rule: Rule
    file: str
    positions: Positions
    path: tuple[Any, ...]

    def position(self, *sub: Any) -> tuple[int | None, int | None]:
        return position(self.positions, self.path + sub)

    @property
    def source(self) -> str:
        line, _ = self.position()
        return f"{display_name(self.file)}:{line}" if line else display_name(self.file)

    def problem(self, sub: tuple[Any, ...], message: str, level: str = "error") -> Problem:
        line, col = self.position(*sub)
        return Problem(self.file, line, col, format_loc(self.path + sub), message, level)


@dataclass
class LoadedPolicy:
    doc: Policy
    file: str
    positions: Positions
    rules: list[RuleSource] = field(default_factory=list)
    defaults: Effect | None = None
    secrets: SecretsConfig | None = None
    parents: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.doc.policy

    @property
    def layer(self):  # noqa: ANN201 - Layer
        return self.doc.layer


def builtin_dir() -> Path:
    return Path(str(resources.files("bastion.policy") / "builtin"))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml") if not p.name.endswith(TEST_SUFFIXES))


def builtin_path(name: str) -> Path:
    return builtin_dir() / f"{name}.yaml"


def display_name(file: str) -> str:
    """How a file is named in decisions: builtins by base name, others relative to cwd."""
    p = Path(file)
    try:
        if p.is_relative_to(builtin_dir()):
            return p.name
    except (ValueError, OSError):  # pragma: no cover
        pass
    try:
        rel = os.path.relpath(file)
        return rel if not rel.startswith("..") else file
    except ValueError:  # pragma: no cover - different drive
        return file


def expand_sources(sources: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named by `sources`: files as given, directories' policy files (not *_test), builtins."""
    files: list[Path] = []
    problems: list[Problem] = []
    for src in sources:
        text = str(src)
        if text.startswith(BUILTIN_PREFIX):
            name = text[len(BUILTIN_PREFIX) :]
            path = builtin_path(name)
            if not path.is_file():
                from bastion.policy.vocabulary import suggest

                hint = suggest(name, builtin_names())
                problems.append(
                    Problem(text, None, None, None, f"unknown built-in policy {name!r}" + (f" (did you mean 'builtin:{hint}'?)" if hint else f"; available: {', '.join(builtin_names())}"))
                )
                continue
            files.append(path)
            continue
        path = Path(text)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix in POLICY_SUFFIXES and not p.name.endswith(TEST_SUFFIXES)
            )
            if not found:
                problems.append(Problem(text, None, None, None, "no policy files (*.yaml, *.yml) in this directory"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(text, None, None, None, "no such file or directory"))
    if problems:
        raise PolicyError(problems)
    return files


def _pydantic_problems(exc: ValidationError, file: str, positions: Positions) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # pydantic adds union-branch names ("list[...]", "dict[...]") to the location
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("str", "int", "float", "bool"))))
        line, col = position(positions, loc)
        if err["type"] == "extra_forbidden":
            from bastion.policy.vocabulary import suggest

            key = loc[-1] if loc else "?"
            model_fields = _fields_for(loc[:-1])
            hint = suggest(str(key), model_fields) if model_fields else None
            msg = f"unknown field {key!r}" + (f" (did you mean {hint!r}?)" if hint else "")
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "string_type" and isinstance(err.get("input"), bool):
            msg = "YAML read this value as a boolean (yes/no/on/off/true/false); put it in quotes"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
        out.append(Problem(file, line, col, format_loc(loc) or None, msg))
    # one problem per location is enough (union branches repeat themselves)
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for p in out:
        key = (p.field, p.message)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _fields_for(loc: tuple[Any, ...]) -> list[str]:
    from bastion.policy.document import Approvers, Budget, Escalation, Examples, Plans, RateLimit, SubAgents

    if not loc:
        return list(Policy.model_fields)
    if loc[0] == "rules":
        tail = loc[2:]
        if not tail:
            return list(Rule.model_fields)
        if tail[0] == "approvers":
            return list(Approvers.model_fields)
        if tail[0] == "examples":
            return list(Examples.model_fields)
        if tail[0] in ("rate_limit", "budget"):
            return list((RateLimit if tail[0] == "rate_limit" else Budget).model_fields)
    if loc[0] in ("escalation", "sub_agents", "plans"):
        return list({"escalation": Escalation, "sub_agents": SubAgents, "plans": Plans}[loc[0]].model_fields)
    if loc[0] == "secrets":
        return list(SecretsConfig.model_fields)
    return []


def _check_match_fields(raw: Any, file: str, positions: Positions) -> list[Problem]:
    """Field names in match/unless must be known: a typo would make a rule silently never match."""
    problems: list[Problem] = []
    rules = raw.get("rules") if isinstance(raw, dict) else None
    if not isinstance(rules, list):
        return problems
    seen_ids: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        rid = rule.get("id")
        if isinstance(rid, str):
            if rid in seen_ids:
                line, col = position(positions, ("rules", i, "id"))
                problems.append(Problem(file, line, col, f"rules[{i}].id", f"duplicate rule id {rid!r} (first at rules[{seen_ids[rid]}])"))
            else:
                seen_ids[rid] = i
        for key in ("match", "unless"):
            blocks = rule.get(key)
            if isinstance(blocks, dict):
                blocks_iter = [((key,), blocks)]
            elif isinstance(blocks, list):
                blocks_iter = [((key, j), b) for j, b in enumerate(blocks) if isinstance(b, dict)]
            else:
                continue
            for sub, block in blocks_iter:
                for name in block:
                    if not isinstance(name, str) or not is_known_field(name):
                        hint = suggest_field(str(name))
                        line, col = position(positions, ("rules", i) + sub + (name,))
                        msg = f"unknown field {name!r}" + (f" (did you mean {hint!r}?)" if hint else "") + "; free-form fields are args.*, context.*, facts.*"
                        problems.append(Problem(file, line, col, format_loc(("rules", i) + sub + (name,)), msg))
    return problems


def parse_policy_text(text: str, file: str) -> tuple[Policy, Positions]:
    """Parse and validate one policy document; raise PolicyError with every problem."""
    docs = load_documents(text, file)
    if not docs:
        raise PolicyError([Problem(file, None, None, None, "empty policy file")])
    if len(docs) > 1:
        raise PolicyError([Problem(file, None, None, None, "one policy per file: this file holds several YAML documents")])
    raw, positions = docs[0]
    if not isinstance(raw, dict):
        line, col = position(positions, ())
        raise PolicyError([Problem(file, line, col, None, "a policy file must be a mapping with 'policy:' and 'rules:'")])
    problems = _check_match_fields(raw, file, positions)
    try:
        doc = Policy.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, file, positions))
        doc = None
    if problems or doc is None:
        raise PolicyError(problems)
    return doc, positions


def parse_policy_file(path: Path) -> tuple[Policy, Positions]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem(str(path), None, None, None, f"cannot read: {exc}")]) from None
    return parse_policy_text(text, str(path))


class _Resolver:
    """Resolves `extends` across loaded documents, builtins and relative paths."""

    def __init__(self, parsed: dict[str, tuple[Policy, Positions]]) -> None:
        self.parsed = parsed  # file -> doc
        self.by_id = {doc.policy: f for f, (doc, _) in parsed.items()}
        self.done: dict[str, LoadedPolicy] = {}
        self.problems: list[Problem] = []

    def _parent_file(self, ref: str, child_file: str) -> str | None:
        if ref.startswith(BUILTIN_PREFIX):
            path = builtin_path(ref[len(BUILTIN_PREFIX) :])
            return str(path) if path.is_file() else None
        if ref in self.by_id:
            return self.by_id[ref]
        candidate = Path(child_file).parent / ref
        if candidate.is_file():
            return str(candidate)
        if builtin_path(ref).is_file():
            return str(builtin_path(ref))
        return None

    def resolve(self, file: str, stack: tuple[str, ...] = ()) -> LoadedPolicy | None:
        if file in self.done:
            return self.done[file]
        if file not in self.parsed:
            try:
                self.parsed[file] = parse_policy_file(Path(file))
            except PolicyError as exc:
                self.problems.extend(exc.problems)
                return None
            self.by_id.setdefault(self.parsed[file][0].policy, file)
        doc, positions = self.parsed[file]
        rules: list[RuleSource] = []
        defaults: Effect | None = None
        secrets: SecretsConfig | None = None
        parents: list[str] = []
        inherited: dict[str, Any] = {}  # policy-level settings (escalation, ...) from parents
        for i, ref in enumerate(doc.extends):
            line, col = position(positions, ("extends", i))
            parent_file = self._parent_file(ref, file)
            if parent_file is None:
                self.problems.append(Problem(file, line, col, f"extends[{i}]", f"cannot find policy {ref!r} to extend"))
                continue
            if parent_file in stack or parent_file == file:
                self.problems.append(Problem(file, line, col, f"extends[{i}]", f"extends cycle through {ref!r}"))
                continue
            parent = self.resolve(parent_file, stack + (file,))
            if parent is None:
                continue
            parents.append(parent.id)
            parents.extend(parent.parents)
            by_id = {r.rule.id: k for k, r in enumerate(rules)}
            for r in parent.rules:
                if r.rule.id in by_id:
                    rules[by_id[r.rule.id]] = r
                else:
                    rules.append(r)
            if parent.defaults is not None:
                defaults = parent.defaults
            if parent.secrets is not None:
                secrets = _merge_secrets(secrets, parent.secrets)
            inherited.update({k: getattr(parent.doc, k) for k in INHERITED_SETTINGS if getattr(parent.doc, k) is not None})
        own = {r.id for r in doc.rules}
        rules = [r for r in rules if r.rule.id not in own]
        rules.extend(RuleSource(r, file, positions, ("rules", i)) for i, r in enumerate(doc.rules))
        if doc.defaults is not None:
            defaults = doc.defaults
        if doc.secrets is not None:
            secrets = _merge_secrets(secrets, doc.secrets)
        missing = {k: v for k, v in inherited.items() if getattr(doc, k) is None}
        if missing:
            doc = doc.model_copy(update=missing)
        loaded = LoadedPolicy(doc, file, positions, rules, defaults, secrets, parents)
        self.done[file] = loaded
        return loaded


def _merge_secrets(a: SecretsConfig | None, b: SecretsConfig) -> SecretsConfig:
    if a is None:
        return b
    return SecretsConfig(detectors=[*a.detectors, *b.detectors], disable=sorted({*a.disable, *b.disable}))


def load_policies(sources: Iterable[str | os.PathLike[str]]) -> list[LoadedPolicy]:
    """Load every policy named by `sources` (files, directories, builtin:NAME)."""
    files = expand_sources(sources)
    parsed: dict[str, tuple[Policy, Positions]] = {}
    problems: list[Problem] = []
    for path in files:
        try:
            parsed[str(path)] = parse_policy_file(path)
        except PolicyError as exc:
            problems.extend(exc.problems)
    resolver = _Resolver(dict(parsed))
    loaded: list[LoadedPolicy] = []
    ids: dict[str, str] = {}
    for path in files:
        key = str(path)
        if key not in parsed:
            continue
        lp = resolver.resolve(key)
        if lp is None:
            continue
        if lp.id in ids and ids[lp.id] != key:
            line, col = position(lp.positions, ("policy",))
            problems.append(Problem(key, line, col, "policy", f"policy id {lp.id!r} is also used by {ids[lp.id]}"))
            continue
        if lp.id in ids:
            continue  # the same file named twice
        ids[lp.id] = key
        loaded.append(lp)
    problems.extend(resolver.problems)
    if problems:
        raise PolicyError(problems)
    return loaded


def load_policy_texts(texts: dict[str, str]) -> list[LoadedPolicy]:
    """Load policies given as {name: yaml text} (tests, the API, the policy store)."""
    parsed: dict[str, tuple[Policy, Positions]] = {}
    problems: list[Problem] = []
    for name, text in texts.items():
        try:
            parsed[name] = parse_policy_text(text, name)
        except PolicyError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PolicyError(problems)
    resolver = _Resolver(dict(parsed))
    loaded = [lp for name in texts if (lp := resolver.resolve(name)) is not None]
    if resolver.problems:
        raise PolicyError(resolver.problems)
    return loaded
