"""What session state is made of: plain records every backend stores the same way.

Times are epoch seconds from the engine's clock (injectable), never a backend's own
clock: a decision depends only on the action, the policies, the state and the instant
it records, so it can be replayed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

ACTIVE = "active"
TERMINATED = "terminated"

#: how many earlier matches of one `session.did` condition a session keeps (newest first)
MARKS_KEPT = 100


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One session: its status, where it sits in the delegation tree, who acts in it."""

    id: str
    status: str = ACTIVE
    parent_id: str | None = None
    #: every ancestor session, root first, parent last
    ancestors: tuple[str, ...] = ()
    depth: int = 0
    #: the agent of the session's first action (id, role, team, owner, tags)
    agent: dict[str, Any] | None = None
    started_at: float = 0.0
    #: why it was terminated (the reason of the decision that ended it)
    reason: str | None = None
    terminated_at: float | None = None
    #: {decision_id, rules, actor}: what ended it
    terminated_by: dict[str, Any] | None = None
    reopened_at: float | None = None
    reopened_by: str | None = None
    #: for a spawned session: the capabilities granted at spawn (None: not restricted by a grant)
    granted: tuple[Any, ...] | None = None

    @property
    def terminated(self) -> bool:
        return self.status == TERMINATED

    def with_(self, **changes: Any) -> "SessionRecord":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ancestors"] = list(self.ancestors)
        out["granted"] = list(self.granted) if self.granted is not None else None
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SessionRecord":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["ancestors"] = tuple(known.get("ancestors") or ())
        if known.get("granted") is not None:
            known["granted"] = tuple(known["granted"])
        return cls(**known)

    @classmethod
    def from_json(cls, text: str | bytes) -> "SessionRecord":
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True, slots=True)
class Grant:
    """What `agent.spawn` allowed: the child agent, its parent session, what it may do."""

    agent_id: str
    parent_session: str | None
    depth: int
    capabilities: tuple[Any, ...]
    created_at: float
    #: the session id the parent announced for the child, if any
    child_session: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["capabilities"] = list(self.capabilities)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "Grant":
        data = json.loads(text)
        data["capabilities"] = tuple(data.get("capabilities") or ())
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True, slots=True)
class Mark:
    """An earlier action of a session that matched a `session.did` condition."""

    ts: float
    detail: str


@dataclass(frozen=True, slots=True)
class WindowCheck:
    """One sliding window to test (and record a hit in): at most `limit` hits per `window` seconds."""

    key: str
    limit: int
    window: float


@dataclass(slots=True)
class WindowResult:
    """The outcome of `hit`: admitted (all windows had room), and per window the hits
    already in it and, when full, the instant the next hit would be admitted."""

    admitted: bool
    counts: list[int] = field(default_factory=list)
    retry_at: list[float | None] = field(default_factory=list)


def retry_index(count: int, limit: int) -> int | None:
    """In a full window of `count` hits (oldest first), the hit whose expiry admits one more."""
    return count - limit if count >= limit else None

