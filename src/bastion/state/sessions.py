"""Which session an action belongs to, where that session sits in the delegation tree,
and whether it (or any ancestor) has been terminated.

A session is created the first time one of its actions is decided. Its parent is, in
order of trust: the session that spawned its agent (a *grant* recorded when
`agent.spawn` was allowed), else the `parent_id` the action declares. Its depth is
the parent's plus one, never less than declared. An action without a session id but
whose agent was spawned by a session is treated as part of that session's tree too:
leaving out the session id never escapes the parent's restrictions.
"""

from __future__ import annotations

from bastion.model import Action
from bastion.state.backend import StateBackend
from bastion.state.records import Grant, SessionRecord


class SessionInfo:
    """The session of one action, as the state stage sees it during one decision."""

    __slots__ = ("record", "ancestors", "terminated", "grant", "stored")

    def __init__(self, record: SessionRecord, ancestors: list[SessionRecord | None] | None = None, terminated: SessionRecord | None = None,
                 grant: Grant | None = None, stored: bool = True) -> None:
        self.record = record
        #: the records of its ancestors, root first (None where unknown)
        self.ancestors = ancestors if ancestors is not None else _NONE
        #: the record that makes this action terminated: the session itself or an ancestor
        self.terminated = terminated
        #: the grant that linked it to a parent, if any
        self.grant = grant
        #: False for a session-less action linked only through its agent's grant
        self.stored = stored

    @property
    def id(self) -> str | None:
        return self.record.id if self.stored else None

    @property
    def parent(self) -> SessionRecord | None:
        return self.ancestors[-1] if self.ancestors else None


_NONE: list = []


def agent_dict(action: Action) -> dict:
    a = action.agent
    out: dict = {}
    if a.id is not None:
        out["id"] = a.id
    if a.role is not None:
        out["role"] = a.role
    if a.team is not None:
        out["team"] = a.team
    if a.owner is not None:
        out["owner"] = a.owner
    if a.tags:
        out["tags"] = list(a.tags)
    return out


def resolve(backend: StateBackend, action: Action, now: float, *, create: bool) -> SessionInfo | None:
    """The session info of `action` (None when it has neither a session nor a granted agent).

    With `create`, a new session is stored; without, nothing is written (explain, plans).
    """
    sid = action.session.id
    agent_id = action.agent.id
    if sid is None:
        grant = backend.get_grant(agent_id) if agent_id is not None else None
        if grant is None:
            return None
        record = _new_record(backend, "", action, now, grant)
        info = SessionInfo(record, grant=grant, stored=False)
    else:
        record = backend.get_session(sid)
        if record is not None and not record.ancestors:  # the common case: a known top-level session
            return SessionInfo(record, None, record if record.status == "terminated" else None)
        grant = None
        if record is None:
            grant = backend.get_grant(agent_id) if agent_id is not None else None
            record = _new_record(backend, sid, action, now, grant)
            if create:
                record = backend.create_session(record)
        info = SessionInfo(record, grant=grant)
    if record.ancestors:
        info.ancestors = backend.get_sessions(list(record.ancestors))
    if record.terminated and info.stored:
        info.terminated = record
    else:
        for anc in reversed(info.ancestors):  # the nearest terminated ancestor
            if anc is not None and anc.terminated:
                info.terminated = anc
                break
    return info


def _new_record(backend: StateBackend, sid: str, action: Action, now: float, grant: Grant | None) -> SessionRecord:
    declared = action.session
    parent_id = grant.parent_session if grant is not None else declared.parent_id
    if parent_id == sid:
        parent_id = None
    parent = backend.get_session(parent_id) if parent_id is not None else None
    if parent is not None:
        ancestors = parent.ancestors + (parent.id,)
        depth = parent.depth + 1
    elif parent_id is not None:
        ancestors = (parent_id,)
        depth = 1
    else:
        ancestors = ()
        depth = 0
    if sid and sid in ancestors:  # a cycle in declared parents: cut it here
        ancestors = ancestors[: ancestors.index(sid)]
        parent_id = ancestors[-1] if ancestors else None
    depth = max(depth, declared.depth, grant.depth if grant is not None else 0)
    return SessionRecord(
        sid,
        parent_id=parent_id,
        ancestors=ancestors,
        depth=depth,
        agent=agent_dict(action),
        started_at=now,
        granted=grant.capabilities if grant is not None else None,
    )
