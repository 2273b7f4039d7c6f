"""Notifications against a local HTTP receiver: generic JSON and Slack messages with the link,
retries with backoff, failures recorded, secrets kept out, decisions never blocked."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from typing import Any

import pytest

from bastion.approvals import ApprovalService, ApprovalStage, NotificationConfigError, Notifier, People, targets_from_config
from bastion.approvals.notify import post
from bastion.engine import Engine
from bastion.model import Effect

POLICY = """
policy: notify-test
defaults: allow
rules:
  - id: approve-shell
    match: {capability: shell.exec}
    effect: require_approval
    approvers: {roles: [security-lead], channel: "#sec-approvals"}
    reason: Shell commands need a security lead
"""

ACTION = {"capability": "shell.exec", "target": "make deploy TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ0123456789",
          "agent": {"id": "coder-7"}, "session": {"id": "s-1"}}


def build(store: Any, people: People, targets: list[Any], **kw: Any) -> tuple[Any, ApprovalService, Notifier]:
    notifier = Notifier(store, targets, link_base="https://bastion.example.com", base_delay=0.01, max_delay=0.05, **kw)
    service = ApprovalService(store, people, notifier=notifier)
    eng = Engine.from_texts({"n.yaml": POLICY}, stages=[ApprovalStage(service)])
    return eng, service, notifier


def notified(store: Any, kind: str) -> list[dict[str, Any]]:
    return [r.record["payload"] for r in store.query(kinds=(kind,))]


def test_webhook_and_slack_get_the_request_with_its_link(store: Any, people: People, receiver: Any) -> None:
    targets = targets_from_config([
        {"type": "webhook", "url": receiver.url("/generic"), "secret": "s3cr3t-signing-key"},
        {"type": "slack", "url": receiver.url("/services/T000/B000/XXXX")},
    ])
    eng, service, notifier = build(store, people, targets)
    d = eng.decide(ACTION)
    aid = d.extra["approval_id"]
    assert notifier.flush(timeout=20) == 0
    eng.close()
    by_path = {r["path"]: r for r in receiver.requests}
    generic = by_path["/generic"]["json"]
    link = f"https://bastion.example.com/approvals/{aid}"
    assert generic["event"] == "approval.requested" and generic["link"] == link and generic["approval_id"] == aid
    assert generic["approval"]["rules"][0]["rule"] == "approve-shell" and generic["approval"]["approver_roles"] == ["security-lead"]
    # the raw token never leaves: the request carries the redacted action
    raw = b"".join(r["raw"] for r in receiver.requests)
    assert b"ghp_0123456789abcdefghijABCDEFGHIJ0123456789" not in raw
    assert "REDACTED" in generic["approval"]["action"]["target"]
    # the generic webhook is signed: HMAC-SHA256 over "timestamp.body"
    headers = {k.lower(): v for k, v in by_path["/generic"]["headers"].items()}
    expected = hmac.new(b"s3cr3t-signing-key", headers["x-bastion-timestamp"].encode() + b"." + by_path["/generic"]["raw"], hashlib.sha256).hexdigest()
    assert headers["x-bastion-signature"] == f"sha256={expected}"
    slack = by_path["/services/T000/B000/XXXX"]["json"]
    assert f"<{link}|Review {aid}>" in slack["text"] and slack["channel"] == "#sec-approvals"
    assert any(b.get("type") == "actions" and b["elements"][0]["url"] == link for b in slack["blocks"])
    assert len(notified(store, "approval.notified")) == 2
    assert all(n["status"] == "delivered" for n in notifier.status(aid))
    assert store.verify().ok


def test_retries_with_backoff_and_records_failures(store: Any, people: People, receiver: Any, caplog: Any) -> None:
    receiver.fail_first = 2
    eng, service, notifier = build(store, people, targets_from_config([{"type": "webhook", "url": receiver.url("/flaky/SECRETPATH")}]))
    aid = eng.decide(ACTION).extra["approval_id"]
    with caplog.at_level(logging.WARNING, logger="bastion.approvals.notify"):
        assert notifier.flush(timeout=20) == 0
    eng.close()
    assert len(receiver.requests) == 3
    [state] = notifier.status(aid)
    assert state["status"] == "delivered" and state["attempts"] == 3
    assert notified(store, "approval.notified")[0]["attempts"] == 3
    assert "HTTP 500" in caplog.text and "SECRETPATH" not in caplog.text


def test_a_target_that_keeps_failing_is_recorded_as_failed(store: Any, people: People, receiver: Any) -> None:
    receiver.status = 503
    receiver.fail_first = 0
    eng, service, notifier = build(store, people, targets_from_config([{"type": "slack", "url": receiver.url("/services/T/B/SECRET"), "max_attempts": 3}]))
    aid = eng.decide(ACTION).extra["approval_id"]
    assert notifier.flush(timeout=20) == 0
    eng.close()
    assert len(receiver.requests) == 3
    [failed] = notified(store, "approval.notify_failed")
    assert failed["approval_id"] == aid and failed["attempts"] == 3 and "HTTP 503" in failed["error"]
    assert "SECRET" not in str(failed) and notifier.status(aid)[0]["status"] == "failed"
    # the request itself is untouched by the failure
    assert service.get(aid).status.value == "pending"


def test_notifications_never_block_the_decision(store: Any, people: People, receiver: Any) -> None:
    receiver.hold = threading.Event()  # the receiver does not answer until released
    eng, service, notifier = build(store, people, targets_from_config([{"type": "webhook", "url": receiver.url()}]))
    notifier.start()
    d = eng.decide(ACTION)  # returns while the receiver is holding (else this test would hang)
    assert d.decision == Effect.REQUIRE_APPROVAL and d.extra["approval_id"]
    receiver.hold.set()
    assert notifier.flush(timeout=20) == 0
    eng.close()
    assert len(receiver.requests) == 1


def test_unreachable_target_and_pending_rows_survive_a_restart(store_url: str, people: People, receiver: Any) -> None:
    from bastion.store import open_store

    st = open_store(store_url)
    dead = targets_from_config([{"type": "webhook", "url": receiver.url("/later")}])
    receiver.status = 500
    eng, service, notifier = build(st, people, dead, max_attempts=10, start=False)
    aid = eng.decide(ACTION).extra["approval_id"]
    notifier.deliver_due()  # one failed attempt, a retry scheduled
    eng.close()
    st.close()
    receiver.status = 200
    receiver.fail_first = 0
    st = open_store(store_url)  # a new process: the outbox row is still there
    notifier = Notifier(st, dead, link_base="https://bastion.example.com", base_delay=0.01, start=False)
    assert notifier.pending() == 1
    assert notifier.flush(timeout=20) == 0
    assert notifier.status(aid)[0]["status"] == "delivered"
    st.close()


def test_post_errors_never_show_the_url() -> None:
    target = targets_from_config([{"type": "slack", "url": "http://127.0.0.1:9/services/T1/B1/SUPERSECRET"}])[0]
    import httpx

    with httpx.Client() as client:
        result = post(client, target, {"text": "x"}, timeout=2.0)
    assert not result.ok and "SUPERSECRET" not in (result.error or "") and "127.0.0.1" in (result.error or "")
    assert "SUPERSECRET" not in target.key and "SUPERSECRET" not in target.display


@pytest.mark.parametrize(
    "section, message",
    [
        ({"type": "slack"}, "expected a list"),
        ([{"type": "email", "url": "https://x.example.com"}], "type"),
        ([{"type": "slack", "url": "ftp://x.example.com"}], "http(s) URL"),
        ([{"type": "slack", "url": "https://x.example.com", "chanel": "#x"}], "unknown key 'chanel'"),
        ([{"type": "webhook", "url": "https://x.example.com", "secret_env": "BASTION_TEST_UNSET_VAR"}], "not set"),
        ([{"type": "webhook", "url": "https://x.example.com", "max_attempts": 0}], "positive integer"),
        ([{"url": "https://x.example.com"}, {"url": "https://x.example.com"}], "listed twice"),
    ],
)
def test_bad_notification_config(section: Any, message: str) -> None:
    with pytest.raises(NotificationConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        targets_from_config(section, environ={})
