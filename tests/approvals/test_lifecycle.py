"""The request lifecycle on SQLite and PostgreSQL: transitions, separation of duties, quorum,
scopes, expiry with fallback, digest binding, restart survival. Time is an injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from bastion.approvals import ApprovalError, ApprovalRefused, ApprovalService, ApprovalStage, People, Status
from bastion.engine import Engine
from bastion.model import Effect

POLICY = """
policy: approvals-test
defaults: allow
rules:
  - id: approve-shell
    match: {capability: shell.exec}
    effect: require_approval
    approvers: {roles: [security-lead]}
    timeout: 1h
    reason: Shell commands need a security lead
  - id: approve-deploy
    match: {capability: deploy.run}
    effect: require_approval
    approvers: {roles: [security-lead], quorum: 2}
  - id: approve-secret
    match: {capability: secrets.read}
    effect: require_approval
    approvers: {roles: [owner], owner_may_approve: false}
  - id: approve-secret-owner-ok
    match: {capability: secrets.list}
    effect: require_approval
    approvers: {roles: [owner]}
  - id: approve-named
    match: {capability: email.send}
    effect: require_approval
    approvers: {people: [Max@Example.com]}
  - id: approve-anyone
    match: {capability: message.send}
    effect: require_approval
  - id: approve-scoped
    match: {capability: tool.call}
    effect: require_approval
    approvers: [security-lead]
    metadata: {approval: {scopes: [once, session, until], max_duration: 8h}}
  - id: approve-lenient
    match: {capability: data.export}
    effect: require_approval
    approvers: [security-lead]
    timeout: 30m
    on_timeout: allow
"""


def action(capability: str = "shell.exec", target: str = "rm build/tmp", **over: Any) -> dict[str, Any]:
    a = {"capability": capability, "target": target, "agent": {"id": "coder-7", "owner": "dana@example.com"}, "session": {"id": "s-1"}}
    a.update(over)
    return a


@pytest.fixture
def service(store: Any, people: People, clock: Any) -> ApprovalService:
    return ApprovalService(store, people, clock=clock)


@pytest.fixture
def engine(service: ApprovalService, clock: Any) -> Any:
    eng = Engine.from_texts({"approvals-test.yaml": POLICY}, clock=clock, stages=[ApprovalStage(service)])
    yield eng
    eng.close()


def ask(engine: Any, a: dict[str, Any]) -> tuple[Any, str]:
    d = engine.decide(a)
    assert d.decision == Effect.REQUIRE_APPROVAL, d.to_dict()
    return d, d.extra["approval_id"]


def events(store: Any, approval_id: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    out = []
    for rec in store.query(kinds=()):
        p = rec.record.get("payload") or {}
        if rec.kind.startswith("approval.") and p.get("approval_id") == approval_id:
            out.append((rec.kind, rec.actor, p))
    return out


# --------------------------------------------------------------------------- transitions


def test_pending_to_approved_then_used_once(engine: Any, service: ApprovalService, store: Any) -> None:
    d, aid = ask(engine, action())
    assert d.extra["approval_status"] == "pending"
    req = service.get(aid)
    assert req.status is Status.PENDING and req.approver_roles == ["security-lead"] and req.quorum == 1
    assert req.agent == "coder-7" and req.session == "s-1" and req.owner == "dana@example.com"
    assert req.rules[0]["rule"] == "approve-shell" and req.decision_id == d.decision_id
    # asking again while pending finds the same request
    assert ask(engine, action())[1] == aid
    req = service.approve(aid, "sam@example.com", "checked: only removes a temp file")
    assert req.status is Status.APPROVED and req.resolved_by == "sam@example.com"
    allowed = engine.decide(action())
    assert allowed.decision == Effect.ALLOW
    assert allowed.extra["approval_id"] == aid and allowed.extra["approved_by"] == ["sam@example.com"]
    assert "approved by sam@example.com" in allowed.reason
    # used up: the next identical action needs a new approval
    again, aid2 = ask(engine, action())
    assert aid2 != aid
    kinds = [k for k, _, _ in events(store, aid)]
    assert kinds == ["approval.requested", "approval.vote", "approval.approved", "approval.used"]
    vote = next(p for k, _, p in events(store, aid) if k == "approval.vote")
    assert vote["reason"] == "checked: only removes a temp file"
    assert store.verify().ok


def test_pending_to_denied_and_the_denial_sticks(engine: Any, service: ApprovalService, store: Any) -> None:
    _, aid = ask(engine, action())
    req = service.deny(aid, "lee@example.com", "not during the freeze")
    assert req.status is Status.DENIED and req.resolution == "not during the freeze"
    d = engine.decide(action())
    assert d.decision == Effect.DENY and d.extra["approval_id"] == aid
    assert "denied by lee@example.com: not during the freeze" in d.reason
    assert [k for k, _, _ in events(store, aid)] == ["approval.requested", "approval.denied"]
    with pytest.raises(ApprovalRefused) as exc:
        service.approve(aid, "sam@example.com", "changed my mind")
    assert exc.value.code == "not-pending"


def test_pending_to_cancelled(engine: Any, service: ApprovalService, store: Any) -> None:
    _, aid = ask(engine, action())
    req = service.cancel(aid, "coder-7", "no longer needed")
    assert req.status is Status.CANCELLED and req.resolved_by == "coder-7"
    assert ("approval.cancelled", "coder-7") in [(k, a) for k, a, _ in events(store, aid)]
    with pytest.raises(ApprovalRefused):
        service.cancel(aid, "coder-7")
    # a cancelled request is no approval: the action asks again
    assert ask(engine, action())[1] != aid


def test_reason_required(engine: Any, service: ApprovalService) -> None:
    _, aid = ask(engine, action())
    for bad in ("", "   ", None):
        with pytest.raises(ApprovalRefused) as exc:
            service.approve(aid, "sam@example.com", bad)  # type: ignore[arg-type]
        assert exc.value.code == "reason"
        with pytest.raises(ApprovalRefused):
            service.deny(aid, "sam@example.com", bad)  # type: ignore[arg-type]
    assert service.get(aid).status is Status.PENDING


def test_unknown_request(service: ApprovalService) -> None:
    with pytest.raises(ApprovalError, match="no approval request"):
        service.get("ap-nope")


# --------------------------------------------------------------------------- separation of duties


def test_requester_cannot_approve(store: Any, clock: Any) -> None:
    # the agent id is also a person here: it still may not approve its own request
    people = People.of({"coder-7": ["security-lead"], "sam@example.com": ["security-lead"]})
    service = ApprovalService(store, people, clock=clock)
    eng = Engine.from_texts({"p.yaml": POLICY}, clock=clock, stages=[ApprovalStage(service)])
    _, aid = ask(eng, action())
    with pytest.raises(ApprovalRefused) as exc:
        service.approve(aid, "CODER-7", "looks fine to me")
    assert exc.value.code == "requester"
    # a person who asked on the agent's behalf (context.requested_by) may not either
    _, aid2 = ask(eng, action(target="make clean", context={"requested_by": "sam@example.com"}))
    with pytest.raises(ApprovalRefused) as exc:
        service.approve(aid2, "sam@example.com", "mine")
    assert exc.value.code == "requester"
    refused = [p for k, _, p in events(store, aid) if k == "approval.refused"]
    assert refused and refused[0]["refusal"] == "requester" and refused[0]["person"] == "CODER-7"
    assert service.get(aid).status is Status.PENDING
    eng.close()


def test_owner_excluded_only_where_the_rule_says(engine: Any, service: ApprovalService) -> None:
    _, aid = ask(engine, action("secrets.read", "stripe-key"))
    with pytest.raises(ApprovalRefused) as exc:
        service.approve(aid, "Dana@Example.COM", "my agent, my call")  # case does not slip past
    assert exc.value.code == "owner"
    assert service.approve(aid, "sam@example.com", "ok").status is Status.APPROVED
    _, aid2 = ask(engine, action("secrets.list", "all"))
    assert service.approve(aid2, "dana@example.com", "owner may, here").status is Status.APPROVED


def test_outside_the_approver_set(engine: Any, service: ApprovalService) -> None:
    _, aid = ask(engine, action())
    with pytest.raises(ApprovalRefused) as exc:
        service.approve(aid, "max@example.com", "I am an SRE")
    assert exc.value.code == "not-approver"
    with pytest.raises(ApprovalRefused) as exc:
        service.approve(aid, "eve@example.com", "who am I")
    assert exc.value.code == "unknown-person"
    with pytest.raises(ApprovalRefused) as exc:
        service.deny(aid, "dana@example.com", "owners are not security leads")
    assert exc.value.code == "not-approver"
    assert service.get(aid).status is Status.PENDING


def test_named_approvers_and_anyone_configured(engine: Any, service: ApprovalService) -> None:
    _, aid = ask(engine, action("email.send", "ceo@example.com"))
    with pytest.raises(ApprovalRefused):
        service.approve(aid, "sam@example.com", "not named")
    assert service.approve(aid, "max@example.com", "named, case-insensitively").status is Status.APPROVED
    _, aid2 = ask(engine, action("message.send", "#general"))
    assert service.get(aid2).approver_roles == [] and service.get(aid2).approvers == []
    with pytest.raises(ApprovalRefused) as exc:
        service.approve(aid2, "mallory@example.com", "not configured")
    assert exc.value.code == "unknown-person"
    assert service.approve(aid2, "max@example.com", "anyone configured").status is Status.APPROVED


def test_no_people_configured_means_nobody_approves(store: Any, clock: Any) -> None:
    service = ApprovalService(store, None, clock=clock)
    eng = Engine.from_texts({"p.yaml": POLICY}, clock=clock, stages=[ApprovalStage(service)])
    _, aid = ask(eng, action("message.send", "#general"))
    with pytest.raises(ApprovalRefused, match="no people are configured"):
        service.approve(aid, "sam@example.com", "x")
    eng.close()


# --------------------------------------------------------------------------- quorum


def test_quorum_needs_distinct_approvers(engine: Any, service: ApprovalService, store: Any) -> None:
    _, aid = ask(engine, action("deploy.run", "api v2"))
    req = service.approve(aid, "sam@example.com", "first look")
    assert req.status is Status.PENDING and len(req.approvals) == 1
    assert engine.decide(action("deploy.run", "api v2")).decision == Effect.REQUIRE_APPROVAL
    with pytest.raises(ApprovalRefused) as exc:
        service.approve(aid, "SAM@example.com", "again")
    assert exc.value.code == "already-voted"
    req = service.approve(aid, "lee@example.com", "second look")
    assert req.status is Status.APPROVED and [v.approver for v in req.approvals] == ["sam@example.com", "lee@example.com"]
    d = engine.decide(action("deploy.run", "api v2"))
    assert d.decision == Effect.ALLOW and d.extra["approved_by"] == ["sam@example.com", "lee@example.com"]
    kinds = [k for k, _, _ in events(store, aid)]
    assert kinds.count("approval.vote") == 2 and kinds.count("approval.approved") == 1


def test_one_denial_decides_a_quorum_request(engine: Any, service: ApprovalService) -> None:
    _, aid = ask(engine, action("deploy.run", "api v3"))
    service.approve(aid, "sam@example.com", "fine by me")
    assert service.deny(aid, "lee@example.com", "not today").status is Status.DENIED


# --------------------------------------------------------------------------- scopes


def test_scope_once_is_the_default_and_only_scope_unless_permitted(engine: Any, service: ApprovalService) -> None:
    _, aid = ask(engine, action())
    with pytest.raises(ApprovalRefused) as exc:
        service.approve(aid, "sam@example.com", "all session", scope="session")
    assert exc.value.code == "scope" and "permits only once" in str(exc.value)


def test_scope_session(engine: Any, service: ApprovalService) -> None:
    a = action("tool.call", "github.create_issue")
    _, aid = ask(engine, a)
    req = service.approve(aid, "sam@example.com", "for this session", scope="session")
    assert req.grants[0].scope == "session" and req.grants[0].uses_left is None
    for _ in range(3):
        assert engine.decide(a).decision == Effect.ALLOW
    other = dict(a, session={"id": "s-2"})
    assert engine.decide(other).decision == Effect.REQUIRE_APPROVAL
    # a session-wide approval needs a session to bind to
    no_session = {k: v for k, v in a.items() if k != "session"}
    _, aid2 = ask(engine, no_session)
    with pytest.raises(ApprovalRefused, match="names no session"):
        service.approve(aid2, "sam@example.com", "x", scope="session")


def test_scope_until(engine: Any, service: ApprovalService, clock: Any) -> None:
    a = action("tool.call", "jira.comment")
    _, aid = ask(engine, a)
    with pytest.raises(ApprovalRefused, match="at most"):
        service.approve(aid, "sam@example.com", "too far", scope="until", until=clock.now + 9 * 3600)
    with pytest.raises(ApprovalRefused, match="needs a time"):
        service.approve(aid, "sam@example.com", "no time", scope="until")
    with pytest.raises(ApprovalRefused, match="past"):
        service.approve(aid, "sam@example.com", "past", scope="until", until=clock.now - 1)
    service.approve(aid, "sam@example.com", "for two hours", scope="until", until=clock.now + 7200)
    assert engine.decide(a).decision == Effect.ALLOW
    clock.advance(3600)
    assert engine.decide(a).decision == Effect.ALLOW
    clock.advance(3601)
    assert engine.decide(a).decision == Effect.REQUIRE_APPROVAL


def test_quorum_votes_agree_on_the_narrowest_scope(store: Any, clock: Any, people: People) -> None:
    policy = POLICY.replace("approvers: {roles: [security-lead], quorum: 2}",
                            "approvers: {roles: [security-lead], quorum: 2}\n    metadata: {approval: {scopes: [session, until]}}")
    service = ApprovalService(store, people, clock=clock)
    eng = Engine.from_texts({"p.yaml": policy}, clock=clock, stages=[ApprovalStage(service)])
    a = action("deploy.run", "api v4")
    _, aid = ask(eng, a)
    service.approve(aid, "sam@example.com", "session is fine", scope="session")
    req = service.approve(aid, "lee@example.com", "just once", scope="once")
    assert req.grants[0].scope == "once" and req.grants[0].uses_left == 1
    assert eng.decide(a).decision == Effect.ALLOW
    assert eng.decide(a).decision == Effect.REQUIRE_APPROVAL
    eng.close()


# --------------------------------------------------------------------------- expiry and fallback


def test_timeout_falls_back_to_deny_by_default(engine: Any, service: ApprovalService, clock: Any, store: Any) -> None:
    _, aid = ask(engine, action())
    clock.advance(3600 + 1)
    d = engine.decide(action())
    assert d.decision == Effect.DENY and d.extra["approval_status"] == "expired" and d.extra["approval_fallback"] == "deny"
    req = service.get(aid)
    assert req.status is Status.EXPIRED and req.resolved_at == pytest.approx(req.expires_at)
    assert req.outcome_effect() == Effect.DENY
    expired = [p for k, _, p in events(store, aid) if k == "approval.expired"]
    assert expired[0]["on_timeout"] == "deny"
    # the fallback applies once; a later attempt asks again
    assert ask(engine, action())[1] != aid
    with pytest.raises(ApprovalRefused, match="expired"):
        service.approve(aid, "sam@example.com", "too late")


def test_explicit_allow_on_timeout_is_loud(engine: Any, service: ApprovalService, clock: Any, store: Any) -> None:
    a = action("data.export", "weekly-report")
    _, aid = ask(engine, a)
    clock.advance(1800)
    assert service.expire_due() == [aid]
    d = engine.decide(a)
    assert d.decision == Effect.ALLOW and d.extra["approval_fallback"] == "allow"
    assert d.obligations["log_severity"] == "high" and f"approval-timeout:{aid}" in d.obligations["alert"]
    assert d.severity.label == "high"
    expired = [p for k, _, p in events(store, aid) if k == "approval.expired"]
    assert expired[0]["elevated"] is True
    assert ask(engine, a)[1] != aid


def test_expiry_is_recorded_once_whoever_notices(engine: Any, service: ApprovalService, clock: Any, store: Any) -> None:
    _, aid = ask(engine, action())
    clock.advance(7200)
    assert service.get(aid).status is Status.EXPIRED
    assert service.list("pending") == []
    assert service.expire_due() == []
    assert [k for k, _, _ in events(store, aid)].count("approval.expired") == 1


# --------------------------------------------------------------------------- digest binding


def test_approval_binds_to_the_exact_action(engine: Any, service: ApprovalService) -> None:
    _, aid = ask(engine, action(target="rm build/tmp"))
    service.approve(aid, "sam@example.com", "temp file")
    for similar in (
        action(target="rm -rf /"),
        action(target="rm build/tmp "),
        action(target="rm build/tmp", session={"id": "s-2"}),
        action(target="rm build/tmp", agent={"id": "coder-8", "owner": "dana@example.com"}),
        action(target="rm build/tmp", args={"cwd": "/"}),
    ):
        assert engine.decide(similar).decision != Effect.ALLOW, similar
    # the action id is not part of the digest: the same action under a new id is the same action
    d = engine.decide(action(target="rm build/tmp", id="a-new-id"))
    assert d.decision == Effect.ALLOW and d.extra["approval_id"] == aid


def test_an_approval_never_loosens_a_policy_that_now_denies(store: Any, people: People, clock: Any) -> None:
    service = ApprovalService(store, people, clock=clock)
    eng = Engine.from_texts({"p.yaml": POLICY}, clock=clock, stages=[ApprovalStage(service)])
    _, aid = ask(eng, action())
    service.approve(aid, "sam@example.com", "ok")
    eng.close()
    stricter = POLICY.replace("effect: require_approval\n    approvers: {roles: [security-lead]}\n    timeout: 1h", "effect: deny\n    timeout: 1h")
    eng2 = Engine.from_texts({"p.yaml": stricter}, clock=clock, stages=[ApprovalStage(service)])
    assert eng2.decide(action()).decision == Effect.DENY
    assert service.get(aid).grants[0].used == 0
    eng2.close()


# --------------------------------------------------------------------------- restarts


def test_pending_requests_and_approvals_survive_a_restart(store_url: str, people: People, clock: Any) -> None:
    from bastion.store import open_store

    st = open_store(store_url)
    svc = ApprovalService(st, people, clock=clock)
    eng = Engine.from_texts({"p.yaml": POLICY}, clock=clock, stages=[ApprovalStage(svc)])
    _, aid = ask(eng, action())
    eng.close()
    st.close()

    st = open_store(store_url)  # another process, after a restart
    svc = ApprovalService(st, people, clock=clock)
    assert [r.id for r in svc.list("pending")] == [aid]
    svc.approve(aid, "sam@example.com", "approved after the restart")
    st.close()

    st = open_store(store_url)
    svc = ApprovalService(st, people, clock=clock)
    eng = Engine.from_texts({"p.yaml": POLICY}, clock=clock, stages=[ApprovalStage(svc)])
    assert eng.decide(action()).decision == Effect.ALLOW
    assert eng.decide(action()).decision == Effect.REQUIRE_APPROVAL
    assert st.verify().ok
    eng.close()
    st.close()


# --------------------------------------------------------------------------- atomicity and failure


def test_a_failing_transition_leaves_no_trace(engine: Any, service: ApprovalService, store: Any, monkeypatch: Any) -> None:
    import bastion.approvals.service as service_module

    _, aid = ask(engine, action())
    head = store.head()
    monkeypatch.setitem(service_module.KIND_HOOKS, "action", "builtins:no_such_function_anywhere")
    with pytest.raises(AttributeError):
        service.approve(aid, "sam@example.com", "hook explodes")
    assert store.head() == head  # no record of an approval that did not happen
    assert service.get(aid).status is Status.PENDING and service.get(aid).votes == []


def test_store_failure_fails_closed(engine: Any, store: Any) -> None:
    store.close()
    d = engine.decide(action())
    assert d.decision == Effect.DENY and d.error


def test_list_filters_and_rejects_unknown_status(engine: Any, service: ApprovalService) -> None:
    _, a1 = ask(engine, action(target="make a"))
    _, a2 = ask(engine, action(target="make b"))
    service.deny(a2, "sam@example.com", "no")
    assert [r.id for r in service.list("pending")] == [a1]
    assert {r.id for r in service.list()} == {a1, a2}
    assert [r.id for r in service.list(["denied"])] == [a2]
    with pytest.raises(ValueError):
        service.list("approvedd")


def test_secrets_are_never_stored_raw(engine: Any, service: ApprovalService, store: Any) -> None:
    from bastion.approvals.ledger import reading

    token = "ghp_0123456789abcdefghijABCDEFGHIJ0123456789"
    _, aid = ask(engine, action(target=f"git push https://{token}@github.com/acme/app.git"))
    service.deny(aid, "sam@example.com", f"you pasted {token} into the command")
    req = service.get(aid)
    assert token not in req.target and token not in (req.resolution or "") and token not in req.votes[0].reason
    assert all(token not in r.body for r in store.query())
    with reading(store) as r:
        for table in ("bastion_approvals", "bastion_approval_votes"):
            assert token not in repr(r.execute(f"SELECT * FROM {table}"))


def test_a_malformed_scope_permission_fails_closed(store: Any, people: People, clock: Any) -> None:
    bad = POLICY.replace("metadata: {approval: {scopes: [once, session, until], max_duration: 8h}}",
                         "metadata: {approval: {scopes: [forever]}}")
    service = ApprovalService(store, people, clock=clock)
    eng = Engine.from_texts({"p.yaml": bad}, clock=clock, stages=[ApprovalStage(service)])
    d = eng.decide(action("tool.call", "x"))
    assert d.decision == Effect.DENY and "unknown approval scope 'forever'" in (d.error or "")
    assert service.list() == []
    eng.close()


def test_explain_previews_without_changing_anything(engine: Any, service: ApprovalService, store: Any) -> None:
    first = engine.explain(action()).decision
    assert first.decision == Effect.REQUIRE_APPROVAL and first.extra["approval_status"] == "would_request"
    assert service.list() == []
    _, aid = ask(engine, action())
    assert engine.explain(action()).decision.extra["approval_id"] == aid
    service.approve(aid, "sam@example.com", "ok")
    head = store.head()
    shown = engine.explain(action()).decision
    assert shown.decision == Effect.ALLOW and shown.extra["approval_id"] == aid
    assert store.head() == head and service.get(aid).grants[0].uses_left == 1  # nothing used up
    assert engine.decide(action()).decision == Effect.ALLOW
