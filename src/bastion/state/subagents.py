"""Sub-agents: `agent.spawn` and the sessions it creates.

- `agent.spawn` (target: the child agent's id) must list what the child asks for in
  `args.capabilities`: capability names, globs (`filesystem.*`, expanded over the
  known capabilities) or `{capability, target, args, resource}` objects. Each is
  *evaluated* as an action of the parent (same agent, session, environment) against
  the current policies, side-effect free: a capability the parent may not do denies
  the spawn, one it may only do with approval makes the spawn need approval.
- The child's depth is the parent session's plus one; above the smallest
  `sub_agents.max_depth` any policy sets, the spawn is denied.
- An allowed spawn records a *grant*: the child agent's sessions get the parent as
  their parent (whatever they declare), their capabilities are limited to those
  granted, and every action of theirs is also evaluated as the parent would be: the
  decision is the more restrictive of the two, so a child is never less restricted
  than its parent. A terminated parent terminates its children.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.errors import ActionError
from bastion.model import Action, Agent, Decision, Effect, SessionRef
from bastion.policy.vocabulary import known_capabilities
from bastion.state.decisions import cap_glob, tighten
from bastion.state.records import Grant
from bastion.state.sessions import SessionInfo
from bastion.state.settings import StateSettings

if TYPE_CHECKING:  # pragma: no cover
    from bastion.state.stage import StateStage

_PROBE_FIELDS = ("capability", "target", "args", "resource")


def _is_glob(name: str) -> bool:
    return "*" in name


def granted_capability(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("capability"), str):
        return entry["capability"]
    return None


def covers(granted: tuple[Any, ...], capability: str) -> bool:
    for entry in granted:
        name = granted_capability(entry)
        if name is not None and (name in ("*", "**") or cap_glob(name, capability)):
            return True
    return False


def probes(entry: Any, action: Action, settings: StateSettings) -> list[Action]:
    """The actions of the parent that stand for one requested capability."""
    if isinstance(entry, str):
        spec: dict[str, Any] = {"capability": entry}
    elif isinstance(entry, dict):
        unknown = set(entry) - set(_PROBE_FIELDS)
        if unknown:
            raise ValueError(f"unknown key {sorted(unknown)[0]!r} (expected {', '.join(_PROBE_FIELDS)})")
        spec = dict(entry)
    else:
        raise ValueError("a requested capability is a name or a {capability, target} object")
    name = spec.get("capability")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a requested capability needs a capability name")
    if _is_glob(name):
        pool = sorted(known_capabilities() | settings.capabilities)
        names = [c for c in pool if cap_glob(name, c)]
        if not names:
            raise ValueError(f"{name!r} matches no known capability")
    else:
        names = [name]
    base = action.to_dict()
    for k in ("id", "capability", "target", "args", "resource"):
        base.pop(k, None)
    out = []
    for n in names:
        data = {**base, **spec, "capability": n}
        try:
            out.append(Action.from_dict(data))
        except ActionError as exc:
            raise ValueError(str(exc)) from None
    return out


def _describe(p: Action) -> str:
    return f"{p.capability} {p.target}" if p.target else p.capability


def check_spawn(stage: "StateStage", engine: Any, decision: Decision, action: Action, now: float, info: SessionInfo | None, settings: StateSettings, notes: dict[str, Any]) -> Grant | None:
    """Tighten `decision` for an agent.spawn the parent may not make; return the grant it would record."""
    child = action.target
    caps = action.args.get("capabilities")
    if not child:
        tighten(decision, action, Effect.DENY, "agent.spawn needs the child agent's id as its target")
        return None
    if not isinstance(caps, list) or not caps:
        tighten(decision, action, Effect.DENY, "agent.spawn must list what the child may do in args.capabilities (capability names or {capability, target} objects)")
        return None
    parent_depth = info.record.depth if info is not None else action.session.depth
    depth = parent_depth + 1
    note: dict[str, Any] = {"child": child, "depth": depth, "capabilities": []}
    notes["spawn"] = note
    if settings.max_depth is not None:
        note["max_depth"] = settings.max_depth
        if depth > settings.max_depth:
            tighten(decision, action, Effect.DENY, f"delegation too deep: the child would be at depth {depth}, the maximum is {settings.max_depth} (sub_agents of {settings.max_depth_policy})")
    for i, entry in enumerate(caps):
        try:
            tests = probes(entry, action, settings)
        except ValueError as exc:
            tighten(decision, action, Effect.DENY, f"agent.spawn args.capabilities[{i}]: {exc}")
            note["capabilities"].append({"requested": entry, "error": str(exc)})
            continue
        for p in tests:
            d = stage.evaluate(engine, p, now, mode="probe")
            need = Effect.ALLOW if d.decision <= Effect.REDACT else d.decision if d.decision == Effect.REQUIRE_APPROVAL else Effect.DENY
            note["capabilities"].append({"capability": _describe(p), "decision": d.decision.label, "reason": d.reason})
            if need == Effect.DENY:
                tighten(decision, action, need, f"the child asks for {_describe(p)}, which this agent may not do: {d.reason}")
            elif need == Effect.REQUIRE_APPROVAL:
                tighten(decision, action, need, f"the child asks for {_describe(p)}, which this agent may only do with approval: {d.reason}")
    child_session = action.args.get("session_id")
    try:  # stored: no secret may ride along in a requested target or args
        stored = engine.redact(caps)
    except Exception:  # no scanner: keep the capability names only
        stored = [granted_capability(c) for c in caps]
    return Grant(
        agent_id=child,
        parent_session=info.id if info is not None else None,
        depth=depth,
        capabilities=tuple(stored),
        created_at=now,
        child_session=child_session if isinstance(child_session, str) and child_session else None,
    )


def inherit(stage: "StateStage", engine: Any, decision: Decision, action: Action, now: float, info: SessionInfo, notes: dict[str, Any]) -> None:
    """A child's action: within its grant, and no less restricted than its parent."""
    rec = info.record
    who = f"session {rec.id}" if info.stored else f"agent {action.agent.id}"
    if rec.granted is not None and not covers(rec.granted, action.capability):
        names = [granted_capability(e) for e in rec.granted]
        tighten(decision, action, Effect.DENY, f"{action.capability} is not among the capabilities {who} was granted when it was spawned ({', '.join(n for n in names if n)})")
    parent = info.parent
    note: dict[str, Any] = {"session": rec.parent_id}
    notes["parent"] = note
    if parent is None or parent.agent is None:
        note["known"] = False
        return
    if decision.decision == Effect.TERMINATE:
        return
    probe = action.model_copy(
        update={
            "agent": Agent(**parent.agent),
            "session": SessionRef(id=parent.id, parent_id=parent.parent_id, depth=parent.depth),
        }
    )
    # a capability probe (from agent.spawn) stays a probe for the parent too
    d = stage.evaluate(engine, probe, now, mode="probe" if stage.probing() else "step")
    note.update(decision=d.decision.label, reason=d.reason, rules=[f"{r.policy}/{r.rule}" for r in d.rules])
    if d.decision > decision.decision:
        tighten(decision, action, d.decision, f"{d.reason} (as for its parent session {parent.id}: a sub-agent is never less restricted than its parent)")
