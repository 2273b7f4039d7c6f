"""Tool calls -> Bastion actions: the mapping every enforcement point shares.

Frameworks name tools freely (`Read`, `read_text_file`, `mcp__fs__read_file`, ...). A rule
about `.env` must govern every tool that reads files, so each enforcement point asks a
`ToolMap` what a tool call really is. The built-in table lives in
`bastion/data/toolmap.yaml`; users add their own files (or dicts) in front of it.

A tool the map does not know is still governed: it becomes `tool.call` (target: the tool
name) plus one action for each argument whose name reveals what it touches (a `path` is
at least a read, a `url` a request). Nothing is skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from bastion.errors import PolicyError, Problem

__all__ = ["ToolMap", "ToolEntry", "MappedAction", "normalise_name", "split_mcp_name"]

#: capability of an unknown tool
TOOL_CALL = "tool.call"
#: cap on the actions one tool call may expand into; beyond it the call is refused
MAX_ACTIONS = 1000


def normalise_name(name: str) -> str:
    """Case-insensitive, `-` and `_` alike: `Read-File` == `read_file`."""
    return name.strip().lower().replace("-", "_")


def split_mcp_name(name: str) -> tuple[str | None, str]:
    """`mcp__server__tool` (Claude Code's spelling) -> ("server", "tool"); others unchanged."""
    if name.startswith("mcp__"):
        rest = name[5:]
        server, sep, tool = rest.partition("__")
        if sep and tool:
            return server, tool
    return None, name


@dataclass(frozen=True)
class ActionSpec:
    capability: str
    target: tuple[str, ...] = ()
    each: tuple[str, ...] = ()
    default_target: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolEntry:
    names: tuple[str, ...]
    actions: tuple[ActionSpec, ...]
    source: str = "<builtin>"


@dataclass(frozen=True)
class MappedAction:
    """One action a tool call maps to; `action` is a contract dict for `engine.decide`."""

    action: dict[str, Any]
    #: which table entry produced it ("builtin", a file, or "arguments"/"unknown")
    via: str


def _glob_regex(pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append("\\" + ch if not ch.isalnum() and ch != "_" else ch)
    return "^" + "".join(out) + "$"


class ToolMap:
    """Maps `(tool name, arguments)` to the actions Bastion decides. Immutable, thread-safe."""

    def __init__(self, entries: Sequence[ToolEntry], arguments: Mapping[str, Sequence[str]]) -> None:
        self.entries = tuple(entries)
        self._exact: dict[str, ToolEntry] = {}
        self._globs: list[tuple[Any, ToolEntry]] = []
        for entry in self.entries:  # earlier entries win
            for name in entry.names:
                key = normalise_name(name)
                if "*" in key or "?" in key:
                    import re2

                    self._globs.append((re2.compile(_glob_regex(key)), entry))
                else:
                    self._exact.setdefault(key, entry)
        self._arguments: dict[str, str] = {}
        for capability, names in arguments.items():
            for n in names:
                self._arguments.setdefault(normalise_name(n), capability)

    # ------------------------------------------------------------------ building

    @classmethod
    def builtin(cls) -> "ToolMap":
        return _builtin()

    @classmethod
    def load(cls, *sources: "str | Path | Mapping[str, Any]", include_builtin: bool = True) -> "ToolMap":
        """User mappings (YAML files or dicts of the same shape) in front of the built-in table."""
        entries: list[ToolEntry] = []
        arguments: dict[str, list[str]] = {}
        for src in sources:
            e, a = _parse_source(src)
            entries.extend(e)
            for cap, names in a.items():
                arguments.setdefault(cap, []).extend(names)
        if include_builtin:
            base = _builtin()
            entries.extend(base.entries)
            for name, cap in base._arguments.items():
                arguments.setdefault(cap, []).append(name)
        return cls(entries, arguments)

    # ------------------------------------------------------------------ mapping

    def entry(self, tool: str) -> ToolEntry | None:
        _, bare = split_mcp_name(tool)
        key = normalise_name(bare)
        hit = self._exact.get(key)
        if hit is not None:
            return hit
        for rx, entry in self._globs:
            if rx.match(key):
                return entry
        return None

    def map(self, tool: str, arguments: Any, *, base: Mapping[str, Any] | None = None) -> list[MappedAction]:
        """The actions `tool(**arguments)` amounts to; never empty.

        `base` holds the identity fields every action carries (agent, session,
        environment, resource, risk, context); the tool name, MCP server and call id go
        into `context`.
        """
        if not isinstance(tool, str) or not tool.strip():
            raise ValueError("a tool call needs a tool name")
        args = _as_args(arguments)
        server, bare = split_mcp_name(tool)
        context = dict((base or {}).get("context") or {})
        context.setdefault("tool", tool)
        if server is not None:
            context.setdefault("mcp_server", server)
            context.setdefault("mcp_tool", bare)
        common = {k: v for k, v in (base or {}).items() if k != "context" and v is not None}

        def make(capability: str, target: str | None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
            a = {**common, "capability": capability, "args": {**args, **(extra or {})}, "context": context}
            if target is not None:
                a["target"] = target
            return a

        out: list[MappedAction] = []
        entry = self.entry(tool)
        if entry is not None:
            for spec in entry.actions:
                for target in _targets(spec, args):
                    out.append(MappedAction(make(spec.capability, target, spec.args), entry.source))
            if out:
                return _cap(out)
        # unknown tool (or a known name without any of its target arguments)
        out.append(MappedAction(make(TOOL_CALL, tool), "unknown"))
        for name, value in args.items():
            capability = self._arguments.get(normalise_name(str(name)))
            if capability is None:
                continue
            for target in _values(value):
                out.append(MappedAction(make(capability, target), f"arguments:{name}"))
        return _cap(out)


def _as_args(arguments: Any) -> dict[str, Any]:
    if arguments is None:
        return {}
    if isinstance(arguments, Mapping):
        return {str(k): v for k, v in arguments.items()}
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            return {"input": arguments}
        if isinstance(parsed, dict):
            return {str(k): v for k, v in parsed.items()}
        return {"input": arguments}
    return {"input": arguments}


def _values(value: Any) -> list[str]:
    """A target argument's value as target strings: a string, or each string of a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v if isinstance(v, str) else json.dumps(v, default=repr) for v in value if v is not None]
    if value is None:
        return []
    if isinstance(value, (int, float, bool)):
        return [str(value)]
    return [json.dumps(value, default=repr, sort_keys=True)]


def _targets(spec: ActionSpec, args: Mapping[str, Any]) -> list[str | None]:
    lowered = {normalise_name(k): v for k, v in args.items()}
    for names in (spec.each, spec.target):
        for name in names:
            if normalise_name(name) in lowered:
                values = _values(lowered[normalise_name(name)])
                if values:
                    return list(values)
    if spec.default_target is not None:
        return [spec.default_target]
    if not spec.target and not spec.each:
        return [None]
    return []


def _cap(actions: list[MappedAction]) -> list[MappedAction]:
    """Refuse an expansion too large to decide item by item (the caller fails closed)."""
    if len(actions) > MAX_ACTIONS:
        raise ValueError(f"one tool call expands into {len(actions)} actions (more than {MAX_ACTIONS}); split it")
    return actions


# --------------------------------------------------------------------------- parsing


def _parse_source(src: "str | Path | Mapping[str, Any]") -> tuple[list[ToolEntry], dict[str, list[str]]]:
    if isinstance(src, Mapping):
        return _parse_doc(src, "<dict>", {})
    from bastion.policy.yamlpos import load_documents

    path = Path(src)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([Problem(str(path), None, None, None, f"cannot read tool map: {exc.strerror}")]) from None
    docs = load_documents(text, str(path))
    if len(docs) != 1:
        raise PolicyError([Problem(str(path), None, None, None, "a tool map file holds exactly one YAML document")])
    data, positions = docs[0]
    return _parse_doc(data, str(path), positions)


def _problem(file: str, positions: Mapping[Any, Any], path: tuple[Any, ...], message: str) -> Problem:
    line, col = positions.get(path, (None, None)) if positions else (None, None)
    from bastion.errors import format_loc

    return Problem(file, line, col, format_loc(path) or None, message)


def _names(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    return None


def _parse_doc(data: Any, file: str, positions: Mapping[Any, Any]) -> tuple[list[ToolEntry], dict[str, list[str]]]:
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        raise PolicyError([Problem(file, 1, 1, None, "a tool map is a mapping with `tools` and/or `arguments`")])
    unknown = set(data) - {"tools", "arguments"}
    for key in sorted(unknown, key=str):
        problems.append(_problem(file, positions, (key,), "unknown key (expected `tools` or `arguments`)"))
    entries: list[ToolEntry] = []
    tools = data.get("tools") or []
    if not isinstance(tools, list):
        problems.append(_problem(file, positions, ("tools",), "must be a list of entries"))
        tools = []
    for i, raw in enumerate(tools):
        where = ("tools", i)
        if not isinstance(raw, Mapping):
            problems.append(_problem(file, positions, where, "an entry is a mapping with `names` and `actions`"))
            continue
        bad = set(raw) - {"names", "actions", "capability", "target", "each", "default_target", "args"}
        for key in sorted(bad, key=str):
            problems.append(_problem(file, positions, (*where, key), "unknown key"))
        names = _names(raw.get("names"))
        if not names:
            problems.append(_problem(file, positions, (*where, "names"), "required: a tool name or a list of names"))
            continue
        specs_raw = raw.get("actions")
        if specs_raw is None and "capability" in raw:  # the one-action shorthand
            specs_raw = [{k: raw[k] for k in ("capability", "target", "each", "default_target", "args") if k in raw}]
        if not isinstance(specs_raw, list) or not specs_raw:
            problems.append(_problem(file, positions, (*where, "actions"), "required: a list of {capability, target}"))
            continue
        specs: list[ActionSpec] = []
        for j, s in enumerate(specs_raw):
            swhere = (*where, "actions", j)
            spec = _parse_spec(s, file, positions, swhere, problems)
            if spec is not None:
                specs.append(spec)
        if len(specs) == len(specs_raw):
            entries.append(ToolEntry(names, tuple(specs), file))
    arguments: dict[str, list[str]] = {}
    raw_args = data.get("arguments") or {}
    if not isinstance(raw_args, Mapping):
        problems.append(_problem(file, positions, ("arguments",), "must map capabilities to argument names"))
    else:
        for cap, names in raw_args.items():
            n = _names(names)
            if not isinstance(cap, str) or not _capability_ok(cap) or n is None:
                problems.append(_problem(file, positions, ("arguments", cap), "expected `capability: [argument names]`"))
                continue
            arguments[cap] = list(n)
    if problems:
        raise PolicyError(problems)
    return entries, arguments


def _capability_ok(cap: str) -> bool:
    return bool(cap.strip()) and not any(ch.isspace() for ch in cap)


def _parse_spec(s: Any, file: str, positions: Mapping[Any, Any], where: tuple[Any, ...], problems: list[Problem]) -> ActionSpec | None:
    if not isinstance(s, Mapping):
        problems.append(_problem(file, positions, where, "an action is a mapping with `capability` and `target`"))
        return None
    bad = set(s) - {"capability", "target", "each", "default_target", "args"}
    for key in sorted(bad, key=str):
        problems.append(_problem(file, positions, (*where, key), "unknown key (expected capability, target, each, default_target, args)"))
    cap = s.get("capability")
    if not isinstance(cap, str) or not _capability_ok(cap):
        problems.append(_problem(file, positions, (*where, "capability"), "required: a dotted capability such as filesystem.read"))
        return None
    target = _names(s["target"]) if "target" in s else ()
    each = _names(s["each"]) if "each" in s else ()
    if target is None or each is None:
        problems.append(_problem(file, positions, (*where, "target" if target is None else "each"), "an argument name or a list of names"))
        return None
    default = s.get("default_target")
    if default is not None and not isinstance(default, str):
        problems.append(_problem(file, positions, (*where, "default_target"), "must be a string"))
        return None
    args = s.get("args") or {}
    if not isinstance(args, Mapping):
        problems.append(_problem(file, positions, (*where, "args"), "must be a mapping of fixed arguments"))
        return None
    if bad:
        return None
    return ActionSpec(cap, tuple(target), tuple(each), default, dict(args))


@lru_cache(maxsize=1)
def _builtin() -> ToolMap:
    from bastion.policy.yamlpos import load_documents

    text = resources.files("bastion").joinpath("data/toolmap.yaml").read_text(encoding="utf-8")
    (data, positions), = load_documents(text, "builtin:toolmap.yaml")
    entries, arguments = _parse_doc(data, "builtin", positions)
    return ToolMap(entries, arguments)


def describe(actions: Iterable[MappedAction]) -> str:
    """`filesystem.read /repo/.env; tool.call x` for messages."""
    return "; ".join(f"{m.action['capability']} {m.action.get('target', '')}".strip() for m in actions)
