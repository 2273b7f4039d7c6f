"""Sub-agents: agent.spawn is a subset check by evaluation; children inherit restrictions."""

from __future__ import annotations

from bastion.model import Effect

from .conftest import act

POLICY = """
policy: p
defaults: allow
sub_agents: {max_depth: 2}
rules:
  - id: no-prod-writes
    match: {capability: filesystem.write, environment: production}
    effect: deny
    reason: No writes in production
  - id: shell-needs-approval
    match: {capability: shell.exec}
    effect: require_approval
  - id: interns-read-only
    match: {capability: [filesystem.write, filesystem.delete], agent.role: intern}
    effect: deny
    reason: Interns only read
  - id: deny-secret-files
    match: {capability: filesystem.read, target: {path: "**/.env"}}
    effect: deny
"""


def spawn(caps, child="child-1", session="s-1", agent=None, child_session=None, **kw):
    args = {"capabilities": caps}
    if child_session:
        args["session_id"] = child_session
    a = act("agent.spawn", child, session=session, args=args, **kw)
    if agent is not None:
        a["agent"] = agent
    return a


def test_spawn_is_allowed_when_the_parent_may_do_everything_asked(make_engine):
    e = make_engine(POLICY)
    d = e.decide(spawn(["filesystem.read", "filesystem.write"]))
    assert d.decision is Effect.ALLOW
    caps = d.extra["state"]["spawn"]["capabilities"]
    assert [c["capability"] for c in caps] == ["filesystem.read", "filesystem.write"] and all(c["decision"] == "allow" for c in caps)


def test_subset_is_checked_by_evaluating_not_by_names(make_engine):
    e = make_engine(POLICY)
    intern = {"id": "intern-1", "role": "intern"}
    d = e.decide(spawn(["filesystem.read", "filesystem.write"], agent=intern))
    assert d.decision is Effect.DENY
    assert d.reason == "the child asks for filesystem.write, which this agent may not do: Interns only read"
    # the same names are fine for another parent; the environment counts too
    d = e.decide(spawn([{"capability": "filesystem.write", "target": "/srv/app.py"}], environment="production"))
    assert d.decision is Effect.DENY and "No writes in production" in d.reason
    d = e.decide(spawn(["shell.exec"]))
    assert d.decision is Effect.REQUIRE_APPROVAL and "may only do with approval" in d.reason


def test_globs_are_expanded_over_known_capabilities(make_engine):
    e = make_engine(POLICY)
    d = e.decide(spawn(["filesystem.*"], agent={"id": "i", "role": "intern"}))
    assert d.decision is Effect.DENY
    names = {c["capability"] for c in d.extra["state"]["spawn"]["capabilities"]}
    assert {"filesystem.read", "filesystem.write", "filesystem.delete", "filesystem.move", "filesystem.chmod"} <= names
    assert e.decide(spawn(["nothing.*"])).decision is Effect.DENY


def test_malformed_spawns_are_denied(make_engine):
    e = make_engine(POLICY)
    assert "args.capabilities" in e.decide(act("agent.spawn", "c")).reason
    assert e.decide(act("agent.spawn", "c", args={"capabilities": "filesystem.read"})).decision is Effect.DENY
    assert "target" in e.decide(act("agent.spawn", args={"capabilities": ["x"]})).reason
    d = e.decide(spawn([{"capability": "x", "scope": "y"}]))
    assert d.decision is Effect.DENY and "unknown key 'scope'" in d.reason


def test_delegation_depth(make_engine):
    e = make_engine(POLICY)
    assert e.decide(spawn(["filesystem.read"], child="c0", child_session="s-c0")).decision is Effect.ALLOW
    d = e.decide(spawn(["filesystem.read"], child="c9", session="s-c0", agent={"id": "c0"}))
    assert d.decision is Effect.DENY and "agent.spawn is not among the capabilities session s-c0 was granted" in d.reason
    assert e.decide(spawn(["filesystem.read", "agent.spawn"], child="c1", child_session="s-c1")).decision is Effect.ALLOW
    assert e.decide(spawn(["filesystem.read", "agent.spawn"], child="c2", session="s-c1", agent={"id": "c1"}, child_session="s-c2")).decision is Effect.ALLOW
    d = e.decide(spawn(["filesystem.read"], child="c3", session="s-c2", agent={"id": "c2"}))
    assert d.decision is Effect.DENY and "delegation too deep: the child would be at depth 3, the maximum is 2" in d.reason
    # a child cannot escape by declaring a smaller depth
    a = spawn(["filesystem.read"], child="c3", session="s-c2", agent={"id": "c2"})
    a["session"]["depth"] = 0
    assert e.decide(a).decision is Effect.DENY


def test_children_stay_within_their_grant_and_their_parents_rules(make_engine, backend):
    e = make_engine(POLICY)
    parent = {"id": "lead", "role": "intern"}
    assert e.decide(spawn(["filesystem.read"], child="helper", agent=parent, child_session="s-h")).decision is Effect.ALLOW
    rec = backend.get_session("s-h")
    assert rec.parent_id == "s-1" and rec.depth == 1 and rec.granted == ("filesystem.read",)
    me = {"session": "s-h", "agent": "helper"}
    assert e.decide(act("filesystem.read", "/repo/a.py", **me)).decision is Effect.ALLOW
    d = e.decide(act("network.request", "https://x", **me))
    assert d.decision is Effect.DENY and "not among the capabilities session s-h was granted" in d.reason
    # the parent's restrictions follow the child even where the child's own rules are silent
    d = e.decide(act("filesystem.read", "/repo/.env", **me))
    assert d.decision is Effect.DENY


def test_a_child_is_never_less_restricted_than_its_parent(make_engine):
    e = make_engine(POLICY)
    e.decide(act("filesystem.read", "a", session="s-p", agent="boss") | {"agent": {"id": "boss", "role": "intern"}})
    kid = act("filesystem.delete", "/tmp/x", session="s-k", agent="kid")
    kid["session"]["parent_id"] = "s-p"
    d = e.decide(kid)  # the kid has no role: its own rules allow; its parent is an intern
    assert d.decision is Effect.DENY
    assert d.reason == "Interns only read (as for its parent session s-p: a sub-agent is never less restricted than its parent)"
    assert d.extra["state"]["parent"]["rules"] == ["p/interns-read-only"]


def test_the_grant_follows_the_child_agent_into_any_session(make_engine):
    e = make_engine(POLICY)
    e.decide(spawn(["filesystem.read"], child="helper"))
    for session in ("made-up", None):
        d = e.decide(act("filesystem.write", "x", session=session, agent="helper"))
        assert d.decision is Effect.DENY and "not among the capabilities" in d.reason, session
    # a spawn that was denied grants nothing
    e.decide(spawn(["shell.exec"], child="helper2"))
    assert e.decide(act("filesystem.write", "x", session="h2", agent="helper2")).decision is Effect.ALLOW


def test_grants_are_stored_without_secrets(make_engine, backend):
    e = make_engine(POLICY)
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    d = e.decide(spawn([{"capability": "network.request", "target": f"https://api.github.com/?access_token={token}"}], child="c-s", child_session="s-cs"))
    assert d.decision is Effect.ALLOW
    stored = backend.get_grant("c-s").to_json() + backend.get_session("s-cs").to_json()
    assert token not in stored and "network.request" in stored
    assert e.decide(act("network.request", "https://api.github.com/", session="s-cs", agent="c-s")).decision is Effect.ALLOW
