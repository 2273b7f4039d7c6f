"""The names a policy may use: fields that rules match on, and the known capabilities.

Unknown field names are errors (a typo must not silently make a rule never match);
unknown capabilities are warnings, because custom capability names are allowed.
"""

from __future__ import annotations

import difflib

#: Fields with a fixed meaning. `args.*`, `context.*` and `facts.*` take any sub-path.
FIXED_FIELDS: dict[str, str] = {
    "capability": "the action's capability (or a derived action's), glob-matched",
    "target": "the action's main object: path, command line, URL, SQL text, tool name",
    "environment": "development, staging, production, ...",
    "time": "a time window (days, hours, weekly spans) in a timezone",
    "action.id": "the action id",
    "agent.id": "the agent's id",
    "agent.role": "the agent's role",
    "agent.team": "the agent's team",
    "agent.owner": "the agent's owner",
    "agent.tags": "the agent's tags (a rule matches when any tag matches)",
    "session.id": "the session id",
    "session.parent_id": "the parent session id",
    "session.depth": "the delegation depth of the session",
    "resource.type": "the resource type",
    "resource.path": "the resource path",
    "resource.classification": "the resource's data classification",
    "risk.tier": "the caller-supplied risk tier",
    "risk.signals": "caller-supplied risk signals (any matches)",
    "secrets.kinds": "kinds of secrets detected anywhere in the action",
    "secrets.count": "how many secrets were detected in the action",
    "derived": "true for an action derived by analysis (e.g. the file a shell command reads)",
    "session.did": "something this session did before (docs/state.md): a match block, or {action, within, at_least}",
}

#: Fields under which any dotted sub-path is allowed.
OPEN_PREFIXES = ("args.", "context.", "facts.")

#: The contract's built-in capability vocabulary, plus those analysis derives.
KNOWN_CAPABILITIES: frozenset[str] = frozenset(
    {
        "filesystem.read",
        "filesystem.write",
        "filesystem.delete",
        "filesystem.move",
        "filesystem.chmod",
        "shell.exec",
        "process.spawn",
        "database.query",
        "network.request",
        "network.connect",
        "tool.call",
        "agent.spawn",
        "agent.config",
        "plan.submit",
        "data.export",
        "env.read",
        "env.write",
        "secrets.read",
        "email.send",
        "message.send",
        "policy.edit",
        "llm.call",
    }
)

_extra_capabilities: set[str] = set()


def register_capabilities(*names: str) -> None:
    """Let analysis (or a plugin) declare the capabilities it derives, e.g. 'git.push'."""
    _extra_capabilities.update(names)


def known_capabilities() -> frozenset[str]:
    return KNOWN_CAPABILITIES | _extra_capabilities


def is_known_field(name: str) -> bool:
    if name in FIXED_FIELDS:
        return True
    return any(name.startswith(p) and len(name) > len(p) for p in OPEN_PREFIXES)


def suggest(name: str, candidates: "set[str] | frozenset[str] | list[str]") -> str | None:
    """'did you mean' for a misspelt name."""
    hits = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return hits[0] if hits else None


def suggest_field(name: str) -> str | None:
    candidates = set(FIXED_FIELDS) | {p.rstrip(".") for p in OPEN_PREFIXES}
    head = name.split(".", 1)[0]
    if "." in name and head in {"arg", "argument", "arguments", "ctx", "fact"}:
        fixed = {"arg": "args", "argument": "args", "arguments": "args", "ctx": "context", "fact": "facts"}[head]
        return fixed + "." + name.split(".", 1)[1]
    return suggest(name, candidates)
