"""The versioned policy store on SQLite and PostgreSQL: versions, immutability, revert, builtins,
change management (second owner, separation of duties, activation audited), expiry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bastion.approvals import ApprovalRefused
from bastion.errors import PolicyError
from bastion.lifecycle import LifecycleError, PolicyStore
from bastion.model import Effect

PROD_UPDATE = {"capability": "database.query", "target": "UPDATE accounts SET x = 1", "environment": "production"}
PROD_INSERT_PROD_ALIAS = {"capability": "database.query", "target": "INSERT INTO t VALUES (1)", "environment": "prod"}


def events(store: Any, prefix: str = "policy.") -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(r.kind, r.actor, r.record["payload"]) for r in store.query() if r.kind.startswith(prefix)]


def edit(team_dir: Path, old: str, new: str) -> None:
    path = team_dir / "team.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_push_creates_versions_and_nothing_is_rewritten(policies: PolicyStore, team_dir: Path, store: Any) -> None:
    [r1] = policies.push([str(team_dir)], "dana@example.com", "first version")
    assert (r1.name, r1.state, r1.version) == ("team-payments", "active", 1)
    [same] = policies.push([str(team_dir)], "dana@example.com", "again")
    assert same.state == "unchanged" and same.version == 1
    edit(team_dir, "environment: production", "environment: [production, prod]")
    [r2] = policies.push([str(team_dir)], "omar@example.com", "cover the prod alias")
    assert r2.state == "active" and r2.version == 2 and r2.diff.ids("changed") == ["deny-prod-db-writes"]
    v1, v2 = policies.versions("team-payments")
    assert (v1.state, v2.state) == ("superseded", "active")
    assert v1.author == "dana@example.com" and v1.message == "first version" and v1.content_hash.startswith("sha256:")
    assert v2.author == "omar@example.com" and v2.content_hash != v1.content_hash and v2.created_at >= v1.created_at
    assert "environment: [production, prod]" in v2.content
    kinds = [k for k, _, _ in events(store)]
    assert kinds == ["policy.proposed", "policy.activated", "policy.proposed", "policy.activated"]
    activated = [p for k, _, p in events(store) if k == "policy.activated"]
    assert activated[1]["previous"] == 1 and activated[1]["version"] == 2
    # the store refuses to rewrite or delete a version, whatever the tool
    from bastion.store import StoreError

    with pytest.raises(StoreError):
        with store.transaction() as tx:
            tx.execute("UPDATE bastion_policy_versions SET content = ? WHERE name = ? AND version = 1", ("policy: x\n", "team-payments"))
    with pytest.raises(StoreError):
        with store.transaction() as tx:
            tx.execute("DELETE FROM bastion_policy_versions WHERE name = ?", ("team-payments",))
    assert policies.version("team-payments", 1).content_hash == v1.content_hash
    assert store.verify().ok


def test_engine_uses_the_active_versions(policies: PolicyStore, team_dir: Path) -> None:
    with pytest.raises(LifecycleError, match="no active policy"):
        policies.engine()
    policies.push([str(team_dir)], "dana@example.com", "v1")
    eng = policies.engine()
    assert eng.decide(PROD_UPDATE).decision == Effect.DENY
    assert eng.decide(PROD_INSERT_PROD_ALIAS).decision == Effect.ALLOW
    assert eng.decide(PROD_UPDATE).rules[0].source.startswith("store:team-payments@v1")
    eng.close()


def test_bad_pushes_are_refused_whole(policies: PolicyStore, team_dir: Path, store: Any) -> None:
    head = store.head()
    (team_dir / "broken.yaml").write_text("policy: other\nrules:\n  - id: x\n    match: {tagret: a}\n    effect: deny\n", encoding="utf-8")
    with pytest.raises(PolicyError) as exc:
        policies.push([str(team_dir)], "dana@example.com", "two files, one broken")
    problem = exc.value.problems[0]
    assert problem.file.endswith("broken.yaml") and problem.line == 4 and "tagret" in problem.message
    (team_dir / "broken.yaml").write_text("policy: other\nextends: [./base.yaml]\nrules: []\n", encoding="utf-8")
    (team_dir / "base.yaml").write_text("policy: base\nrules: []\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="by id"):
        policies.push([str(team_dir)], "dana@example.com", "relative extends")
    assert store.head() == head and policies.names() == []
    (team_dir / "broken.yaml").unlink()
    (team_dir / "base.yaml").unlink()
    with pytest.raises(LifecycleError, match="message is required"):
        policies.push([str(team_dir)], "dana@example.com", "  ")
    with pytest.raises(LifecycleError, match="not in the configuration"):
        policies.push([str(team_dir)], "eve@example.com", "who is eve")
    with pytest.raises(LifecycleError, match="--as"):
        policies.push([str(team_dir)], "", "nobody")
    assert policies.names() == []


def test_extends_a_stored_policy_by_id(policies: PolicyStore, tmp_path: Path) -> None:
    d = tmp_path / "p"
    d.mkdir()
    (d / "base.yaml").write_text("policy: base\nlayer: org\nrules:\n  - {id: deny-x, match: {capability: x.run}, effect: deny}\n", encoding="utf-8")
    (d / "team.yaml").write_text("policy: team\nextends: [base]\ndefaults: allow\nrules: []\n", encoding="utf-8")
    results = policies.push([str(d)], "dana@example.com", "base and team")
    assert sorted(r.name for r in results) == ["base", "team"]
    eng = policies.engine()
    assert eng.decide({"capability": "x.run"}).decision == Effect.DENY
    eng.close()


def test_revert(policies: PolicyStore, team_dir: Path) -> None:
    policies.push([str(team_dir)], "dana@example.com", "v1")
    edit(team_dir, "effect: alert", "effect: deny")
    policies.push([str(team_dir)], "dana@example.com", "v2: block egress")
    r = policies.revert("team-payments", 1, "omar@example.com")
    assert r.version == 3 and r.state == "active" and r.diff.ids("changed") == ["alert-egress"]
    v1, v2, v3 = policies.versions("team-payments")
    assert v3.content == v1.content and v3.content_hash == v1.content_hash and v3.based_on == 1 and v3.origin == "revert"
    assert v3.message == "revert to v1" and (v1.state, v2.state, v3.state) == ("superseded", "superseded", "active")
    with pytest.raises(LifecycleError, match="no version 9"):
        policies.revert("team-payments", 9, "omar@example.com")


def test_enable_and_fork_builtins(policies: PolicyStore) -> None:
    r = policies.enable_builtin("strict", "dana@example.com")
    assert r.name == "builtin:strict" and r.state == "active"
    eng = policies.engine()
    assert eng.decide({"capability": "filesystem.write", "target": "a.txt"}).decision == Effect.DENY
    eng.close()
    f = policies.fork("builtin:coding-agent", "acme-coding", "dana@example.com")
    assert f.state == "active"
    v = policies.version("acme-coding", 1)
    assert v.content.startswith("# ") and "\npolicy: acme-coding\n" in v.content and v.origin == "fork"
    with pytest.raises(LifecycleError, match="already exists"):
        policies.fork("builtin:coding-agent", "acme-coding", "dana@example.com")
    with pytest.raises(PolicyError, match="unknown built-in"):
        policies.enable_builtin("nope", "dana@example.com")


# --------------------------------------------------------------------------- change management


@pytest.fixture
def governed(policies: PolicyStore, team_dir: Path) -> PolicyStore:
    policies.push([str(team_dir)], "dana@example.com", "v1")
    assert policies.enable_builtin("change-management", "sam@example.com").state == "active"
    return policies


def test_a_change_waits_for_a_second_owner(governed: PolicyStore, team_dir: Path, store: Any) -> None:
    edit(team_dir, "  - id: alert-egress", "  - id: deny-rm\n    match: {capability: shell.exec, target: 'rm -rf *'}\n    effect: deny\n  - id: alert-egress")
    [r] = governed.push([str(team_dir)], "dana@example.com", "block rm -rf")
    assert r.state == "proposed" and r.version == 2 and r.approver_roles == ["owner"] and r.approval_id
    assert r.decision["rules"][0]["rule"] == "second-owner-approves-changes"
    # a version waiting for approval is not used for decisions
    eng = governed.engine()
    assert eng.decide({"capability": "shell.exec", "target": "rm -rf /tmp/x"}).decision == Effect.ALLOW
    assert eng.decide(PROD_UPDATE).rules[0].source.startswith("store:team-payments@v1:")
    eng.close()
    with pytest.raises(ApprovalRefused) as exc:
        governed.approve("team-payments", 2, "dana@example.com", "I wrote it, I approve it")
    assert exc.value.code == "requester"
    with pytest.raises(ApprovalRefused) as exc:
        governed.approve("team-payments", 2, "lee@example.com", "security leads are not owners")
    assert exc.value.code == "not-approver"
    assert governed.version("team-payments", 2).state == "proposed"
    v = governed.approve("team-payments", 2, "omar@example.com", "reviewed the diff")
    assert v.state == "active" and v.state_by == "omar@example.com"
    eng = governed.engine()
    assert eng.decide({"capability": "shell.exec", "target": "rm -rf /tmp/x"}).decision == Effect.DENY
    eng.close()
    activated = [(a, p) for k, a, p in events(store) if k == "policy.activated" and p["policy"] == "team-payments"][-1]
    assert activated[0] == "omar@example.com" and activated[1]["approvers"] == ["omar@example.com"]
    assert activated[1]["approval_id"] == r.approval_id and activated[1]["author"] == "dana@example.com"
    req = governed.approvals.get(r.approval_id)
    assert req.kind == "policy.change" and req.subject == {"policy": "team-payments", "version": 2, "content_hash": v.content_hash}
    assert store.verify().ok


def test_a_loosening_change_needs_a_security_lead(governed: PolicyStore, team_dir: Path) -> None:
    edit(team_dir, "    effect: deny\n", "    effect: alert\n")
    [r] = governed.push([str(team_dir)], "dana@example.com", "downgrade to alert")
    assert r.state == "proposed" and r.approver_roles == ["security-lead"] and r.diff.may_loosen
    with pytest.raises(ApprovalRefused):
        governed.approve("team-payments", 2, "omar@example.com", "owner, not security lead")
    assert governed.approve("team-payments", 2, "lee@example.com", "replay shows 0 changes").state == "active"


def test_changing_change_management_takes_two_security_leads(governed: PolicyStore, tmp_path: Path) -> None:
    from bastion.lifecycle.policyset import builtin_text

    d = tmp_path / "cm"
    d.mkdir()
    (d / "cm.yaml").write_text(builtin_text("change-management").replace("timeout: 7d", "timeout: 3d", 1), encoding="utf-8")
    [r] = governed.push([str(d)], "dana@example.com", "shorter governance timeout")
    assert r.state == "proposed" and r.approver_roles == ["security-lead"]
    assert governed.approvals.get(r.approval_id).quorum == 2
    assert governed.approve("builtin:change-management", 2, "lee@example.com", "ok").state == "proposed"
    assert governed.approve("builtin:change-management", 2, "sam@example.com", "ok").state == "active"


def test_reject_withdraw_and_expiry(store: Any, people: Any, team_dir: Path, clock: Any) -> None:
    policies = PolicyStore(store, people, clock=clock)
    policies.push([str(team_dir)], "dana@example.com", "v1")
    policies.enable_builtin("change-management", "sam@example.com")
    edit(team_dir, "effect: alert", "effect: deny")
    policies.push([str(team_dir)], "dana@example.com", "v2")
    assert policies.reject("team-payments", 2, "omar@example.com", "not now").state == "rejected"
    with pytest.raises(LifecycleError, match="not waiting"):
        policies.approve("team-payments", 2, "omar@example.com", "too late")
    edit(team_dir, "effect: deny", "effect: log_only")
    policies.push([str(team_dir)], "dana@example.com", "v3")
    assert policies.withdraw("team-payments", 3, "dana@example.com", "wrong idea").state == "withdrawn"
    edit(team_dir, "effect: log_only", "effect: deny")
    [r4] = policies.push([str(team_dir)], "dana@example.com", "v4")
    assert r4.version == 4 and r4.state == "proposed"
    clock.advance(7 * 86400 + 1)
    assert policies.version("team-payments", 4).state == "expired"
    states = [v.state for v in policies.versions("team-payments")]
    assert states == ["active", "rejected", "withdrawn", "expired"]
    kinds = [k for k, _, _ in events(store)]
    for k in ("policy.rejected", "policy.withdrawn", "policy.expired"):
        assert k in kinds


def test_a_newer_activation_supersedes_older_proposals(governed: PolicyStore, team_dir: Path, store: Any) -> None:
    edit(team_dir, "effect: alert", "effect: deny")
    [r2] = governed.push([str(team_dir)], "dana@example.com", "v2")
    [same] = governed.push([str(team_dir)], "dana@example.com", "v2 again")
    assert same.state == "unchanged" and same.version == 2
    edit(team_dir, "  - id: alert-egress", "  - id: log-reads\n    match: {capability: filesystem.read}\n    effect: log_only\n  - id: alert-egress")
    [r3] = governed.push([str(team_dir)], "dana@example.com", "v3")
    governed.approve("team-payments", 3, "omar@example.com", "ok")
    assert governed.version("team-payments", 2).state == "superseded"
    assert governed.approvals.get(r2.approval_id).status.value == "cancelled"
    with pytest.raises(LifecycleError, match="superseded"):
        governed.approve("team-payments", 2, "omar@example.com", "late")


def test_governance_can_refuse_a_change(policies: PolicyStore, team_dir: Path, tmp_path: Path, store: Any) -> None:
    d = tmp_path / "gov"
    d.mkdir()
    (d / "gov.yaml").write_text(
        "policy: no-system-changes\nmetadata: {governs: [policy-changes]}\nrules:\n"
        "  - {id: deny-system, match: {capability: policy.edit, args.layer: system}, effect: deny, reason: System policies are frozen}\n"
        "  - {id: allow-rest, match: {capability: policy.edit}, effect: allow}\n",
        encoding="utf-8",
    )
    policies.push([str(d)], "dana@example.com", "freeze system policies")
    with pytest.raises(LifecycleError, match="System policies are frozen"):
        policies.enable_builtin("coding-agent", "dana@example.com")
    assert "builtin:coding-agent" not in policies.names()
    refused = [p for k, _, p in events(store) if k == "policy.refused"]
    assert refused and refused[0]["policy"] == "builtin:coding-agent"
    assert policies.push([str(team_dir)], "dana@example.com", "team is fine")[0].state == "active"


def test_approval_binds_to_the_exact_content(governed: PolicyStore, team_dir: Path) -> None:
    from bastion.canonical import action_digest

    edit(team_dir, "effect: alert", "effect: deny")
    [r] = governed.push([str(team_dir)], "dana@example.com", "v2")
    req = governed.approvals.get(r.approval_id)
    v2 = governed.version("team-payments", 2)
    assert req.action["args"]["content_hash"] == v2.content_hash
    assert req.digest == action_digest({k: v for k, v in req.action.items() if k != "id"})
