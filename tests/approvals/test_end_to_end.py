"""End to end: an agent's action needs approval; a webhook receiver gets the request and its link;
an approver approves on the command line with a reason; the agent, waiting, sees it; the same
action is allowed once; a similar action is not; the audit log shows every step and verifies."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bastion.approvals import ApprovalStage, People, Status, approval_stage, stage_for_check
from bastion.approvals.service import ApprovalService
from bastion.approvals.waiting import ApprovalWaits, wait_for_approval, wait_for_approval_async
from bastion.cli import main
from bastion.engine import Engine
from bastion.model import Effect
from bastion.store import AuditWriter

CONFIG = """
people:
  dana@example.com: {roles: [owner]}
  sam@example.com: {roles: [security-lead, owner]}
  lee@example.com: {roles: [security-lead]}
notifications:
  - {type: webhook, url: "%s"}
server: {host: bastion.example.com, port: 8700}
"""


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def config(tmp_path: Path, receiver: Any) -> Path:
    path = tmp_path / "bastion.yaml"
    path.write_text(CONFIG % receiver.url("/hooks/bastion"), encoding="utf-8")
    return path


def test_approval_end_to_end(store: Any, store_url: str, config: Path, receiver: Any) -> None:
    from bastion.config import load_config

    cfg = load_config(config, flags={"db": store_url})
    stage = approval_stage(store, cfg)
    stage.service.notifier.base_delay = 0.01
    writer = AuditWriter(store, "sync")
    engine = Engine.from_paths(["builtin:coding-agent"], audit=writer, stages=[stage])
    action = {"capability": "secrets.read", "target": "stripe-test-key", "environment": "development",
              "agent": {"id": "coder-7", "owner": "dana@example.com"}, "session": {"id": "s-42"}}

    # 1. the agent asks; the decision names the request
    d = engine.decide(action)
    assert d.decision == Effect.REQUIRE_APPROVAL and d.approver_roles == ["security-lead"]
    aid = d.extra["approval_id"]

    # 2. the webhook receiver gets it, with a link to the request
    assert stage.service.notifier.flush(timeout=20) == 0
    [hook] = receiver.requests
    assert hook["path"] == "/hooks/bastion"
    assert hook["json"]["link"] == f"http://bastion.example.com:8700/approvals/{aid}"
    assert hook["json"]["approval"]["action"]["target"] == "stripe-test-key"

    # 3. the agent waits (in a thread) while people decide on the command line
    outcome: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: outcome.setdefault("req", wait_for_approval(engine, aid, timeout=60)))
    waiter.start()
    listed = cli("approvals", "list", "--db", store_url, "--config", str(config), "--format", "jsonl")
    assert listed.exit_code == 0 and json.loads(listed.output.splitlines()[0])["approval_id"] == aid
    shown = cli("approvals", "show", aid, "--db", store_url, "--config", str(config))
    assert "approve-secret-reads" in shown.output and "delivered" in shown.output
    refused = cli("approvals", "approve", aid, "--reason", "my own agent", "--as", "dana@example.com", "--db", store_url, "--config", str(config))
    assert refused.exit_code == 1 and "not among the approvers" in refused.output
    ok = cli("approvals", "approve", aid, "--reason", "test key, read-only use", "--as", "sam@example.com", "--db", store_url, "--config", str(config))
    assert ok.exit_code == 0, ok.output
    waiter.join(60)
    assert outcome["req"].status is Status.APPROVED and outcome["req"].outcome_effect() == Effect.ALLOW

    # 4. the same action is allowed once; a similar one is not; the used approval is gone
    allowed = engine.decide(action)
    assert allowed.decision == Effect.ALLOW and allowed.extra["approval_id"] == aid
    similar = dict(action, target="stripe-live-key")
    assert engine.decide(similar).decision == Effect.REQUIRE_APPROVAL
    assert engine.decide(action).decision == Effect.REQUIRE_APPROVAL
    engine.close()

    # 5. the audit log shows every step, in order, and verifies
    steps = [(r.kind, r.decision, r.actor) for r in store.query()]
    kinds = [k for k, _, _ in steps]
    for a, b in [("approval.requested", "approval.notified"), ("approval.notified", "approval.refused"),
                 ("approval.refused", "approval.vote"), ("approval.vote", "approval.approved"), ("approval.approved", "approval.used")]:
        assert kinds.index(a) < kinds.index(b), (a, b, kinds)
    decisions = [(k, dec) for k, dec, _ in steps if k == "decision"]
    assert decisions[:2] == [("decision", "require_approval"), ("decision", "allow")]
    allow_record = next(r.record for r in store.query(decisions=("allow",)))
    assert allow_record["decision"]["approval_id"] == aid and allow_record["decision"]["approved_by"] == ["sam@example.com"]
    assert ("approval.approved", None, "sam@example.com") in steps
    assert store.verify().ok
    verify = cli("audit", "verify", "--db", store_url)
    assert verify.exit_code == 0, verify.output


def test_deny_and_cancel_on_the_command_line(store: Any, store_url: str, config: Path) -> None:
    service = ApprovalService(store, People.of({"sam@example.com": ["security-lead"]}))
    engine = Engine.from_paths(["builtin:coding-agent"], stages=[ApprovalStage(service)])
    base = {"capability": "secrets.read", "environment": "development", "agent": {"id": "coder-7"}}
    a1 = engine.decide({**base, "target": "k1"}).extra["approval_id"]
    a2 = engine.decide({**base, "target": "k2"}).extra["approval_id"]
    no_reason = CliRunner().invoke(main, ["approvals", "deny", a1, "--as", "sam@example.com", "--db", store_url, "--config", str(config)])
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    r = cli("approvals", "deny", a1, "--reason", "no", "--as", "sam@example.com", "--db", store_url, "--config", str(config))
    assert r.exit_code == 0 and "denied" in r.output
    r = cli("approvals", "cancel", a2, "--as", "coder-7", "--reason", "done without it", "--db", store_url, "--config", str(config))
    assert r.exit_code == 0 and "cancelled" in r.output
    r = cli("approvals", "cancel", a2, "--db", store_url, "--config", str(config))
    assert r.exit_code == 1 and "not pending" in r.output
    r = cli("approvals", "list", "--status", "all", "--db", store_url, "--config", str(config))
    assert a1 in r.output and a2 in r.output and "2 request(s)" in r.output
    r = cli("approvals", "show", "ap-missing", "--db", store_url, "--config", str(config))
    assert r.exit_code == 1 and "no approval request" in r.output
    engine.close()


def test_scoped_approval_on_the_command_line(store: Any, store_url: str, config: Path) -> None:
    policy = ("policy: scoped\ndefaults: allow\nrules:\n  - id: approve-tools\n    match: {capability: tool.call}\n"
              "    effect: require_approval\n    approvers: [security-lead]\n    metadata: {approval: {scopes: [once, until], max_duration: 8h}}\n")
    service = ApprovalService(store, People.of({"sam@example.com": ["security-lead"]}))
    engine = Engine.from_texts({"scoped.yaml": policy}, stages=[ApprovalStage(service)])
    a = {"capability": "tool.call", "target": "jira.comment", "agent": {"id": "coder-7"}, "session": {"id": "s-1"}}
    aid = engine.decide(a).extra["approval_id"]
    r = cli("approvals", "approve", aid, "--reason", "r", "--as", "sam@example.com", "--scope", "until", "--until", "9h", "--db", store_url, "--config", str(config))
    assert r.exit_code == 1 and "at most" in r.output
    r = cli("approvals", "approve", aid, "--reason", "r", "--as", "sam@example.com", "--scope", "until", "--until", "2h", "--db", store_url, "--config", str(config))
    assert r.exit_code == 0, r.output
    assert [engine.decide(a).decision for _ in range(3)] == [Effect.ALLOW] * 3
    engine.close()


def test_check_record_creates_requests(store: Any, store_url: str, config: Path) -> None:
    """What `bastion check --record` does with stage_for_check: every require_approval
    decision gets a durable request and carries its approval_id."""
    from bastion.config import load_config

    cfg = load_config(config, flags={"db": store_url})
    stage = stage_for_check(store, cfg)
    writer = AuditWriter(store, "sync")
    engine = Engine.from_paths(["builtin:coding-agent"], audit=writer, stages=[stage])
    out = [engine.decide(a).to_dict() for a in (
        {"capability": "secrets.read", "target": "k1", "environment": "development"},
        {"capability": "filesystem.read", "target": "src/app.py"},
    )]
    engine.close()  # closes the stage: pending notifications are delivered first
    assert out[0]["decision"] == "require_approval" and out[0]["approval_id"].startswith("ap-")
    assert "approval_id" not in out[1]
    pending = ApprovalService(store, People.from_config(cfg["people"])).list("pending")
    assert [r.id for r in pending] == [out[0]["approval_id"]]
    record = next(r.record for r in store.query(decisions=("require_approval",)))
    assert record["decision"]["approval_id"] == out[0]["approval_id"]


def test_wait_variants(store: Any, people: People, clock: Any) -> None:
    import asyncio

    service = ApprovalService(store, people, clock=clock)

    class WaitingEngine(ApprovalWaits, Engine):
        pass

    engine = WaitingEngine.from_texts({"p.yaml": "policy: p\ndefaults: allow\nrules:\n  - {id: ask, match: {capability: shell.exec}, effect: require_approval, approvers: [security-lead], timeout: 1h}\n"},
                                      clock=clock, stages=[ApprovalStage(service)])
    aid = engine.decide({"capability": "shell.exec", "target": "ls", "agent": {"id": "a"}}).extra["approval_id"]
    assert engine.wait_for_approval(aid, timeout=0).status is Status.PENDING

    async def waits() -> Any:
        task = asyncio.create_task(engine.wait_for_approval_async(aid, timeout=60))
        await asyncio.sleep(0)
        await asyncio.to_thread(service.approve, aid, "lee@example.com", "fine")
        return await task

    assert asyncio.run(waits()).status is Status.APPROVED
    aid2 = engine.decide({"capability": "shell.exec", "target": "pwd", "agent": {"id": "a"}}).extra["approval_id"]
    clock.advance(3601)  # nobody decided: waiting ends with the fallback
    req = wait_for_approval(engine, aid2, timeout=60)
    assert req.status is Status.EXPIRED and req.outcome_effect() == Effect.DENY
    assert asyncio.run(wait_for_approval_async(engine, aid2, timeout=0)).status is Status.EXPIRED
    with pytest.raises(LookupError):
        wait_for_approval(Engine.from_texts({"p.yaml": "policy: p\ndefaults: allow\n"}), aid, timeout=0)
    engine.close()


def test_config_errors_are_clear(store_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("people:\n  sam@example.com: {role: [security-lead]}\n", encoding="utf-8")
    r = cli("approvals", "list", "--db", store_url, "--config", str(bad))
    assert r.exit_code == 2 and "unknown key 'role'" in r.output
