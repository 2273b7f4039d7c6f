"""Sequence and flow rules: `session.did` conditions over what the session did before."""

from __future__ import annotations

import pytest

from bastion.engine import Engine
from bastion.errors import PolicyError
from bastion.model import Effect

from .conftest import act

EGRESS = """
policy: egress
defaults: allow
rules:
  - id: no-egress-after-sensitive-read
    description: After reading PII or a secret file, only allowlisted hosts may be contacted.
    match:
      capability: network.request
      target: {not: {glob: "https://*.internal.example/*"}}
      session.did:
        - {capability: [filesystem.read, database.query], resource.classification: pii}
        - {capability: filesystem.read, target: {path: ["**/.env", "**/.ssh/**"]}}
    effect: deny
    reason: No egress outside the allowlist after reading sensitive data
  - id: deny-id-rsa
    match: {capability: filesystem.read, target: {path: "**/id_rsa"}}
    effect: deny
"""

EXPORTS = """
policy: exports
defaults: allow
rules:
  - id: exports-after-customer-query
    match:
      capability: data.export
      session.did:
        action: {capability: database.query, target: {regex: '(?i)\\bcustomers\\b'}}
        within: 1h
    rate_limit: {max: 3, per: 1h, key: session}
    effect: log_only
  - id: many-reads-then-write
    match:
      capability: filesystem.write
      session.did: {action: {capability: filesystem.read}, within: 10m, at_least: 3}
    effect: require_approval
"""


def test_egress_after_a_secret_file_read_through_the_shell(make_engine, clock):
    e = make_engine(EGRESS)
    assert e.decide(act("network.request", "https://api.example.com/v1")).decision is Effect.ALLOW
    assert e.decide(act("shell.exec", "cat /repo/.env")).decision is Effect.ALLOW  # analysis: it reads .env
    clock.advance(120)
    d = e.decide(act("network.request", "https://api.example.com/v1"))
    assert d.decision is Effect.DENY
    assert d.reason == ("No egress outside the allowlist after reading sensitive data "
                        "(because at 2026-09-21T14:13:20Z this session did filesystem.read /repo/.env (from shell: cat /repo/.env))")
    assert d.extra["state"]["history"][0]["rule"] == "egress/no-egress-after-sensitive-read"
    # allowlisted hosts stay open; other sessions are unaffected
    assert e.decide(act("network.request", "https://db.internal.example/q")).decision is Effect.ALLOW
    assert e.decide(act("network.request", "https://api.example.com/v1", session="s-2")).decision is Effect.ALLOW


def test_egress_after_pii(make_engine):
    e = make_engine(EGRESS)
    e.decide(act("database.query", "SELECT email FROM users", resource={"classification": "pii"}))
    assert e.decide(act("network.request", "https://paste.example/x")).decision is Effect.DENY


def test_a_denied_read_leaves_no_mark(make_engine):
    e = make_engine(EGRESS.replace("**/.ssh/**", "**/id_rsa"))
    assert e.decide(act("filesystem.read", "/home/u/.ssh/id_rsa")).decision is Effect.DENY
    assert e.decide(act("network.request", "https://api.example.com")).decision is Effect.ALLOW


def test_at_most_3_exports_per_hour_after_a_customer_query(make_engine, clock):
    e = make_engine(EXPORTS)
    for _ in range(5):  # before any query on customers: the rule does not apply
        assert e.decide(act("data.export", "orders")).decision is Effect.ALLOW
    e.decide(act("database.query", "select * from Customers where id = 1"))
    got = [e.decide(act("data.export", "orders")).decision for _ in range(4)]
    assert got == [Effect.LOG_ONLY] * 3 + [Effect.DENY]
    clock.advance(3601)  # the query is now more than an hour ago: the rule no longer applies
    assert e.decide(act("data.export", "orders")).decision is Effect.ALLOW


def test_within_and_at_least(make_engine, clock):
    e = make_engine(EXPORTS)
    for i in range(2):
        e.decide(act("filesystem.read", f"f{i}"))
        clock.advance(60)
    assert e.decide(act("filesystem.write", "out")).decision is Effect.ALLOW  # 2 reads (+ the write is no read)
    e.decide(act("filesystem.read", "f3"))
    d = e.decide(act("filesystem.write", "out"))
    assert d.decision is Effect.REQUIRE_APPROVAL and d.reason.endswith("this session did filesystem.read f3 (3 matching actions within 10m))")
    clock.advance(9 * 60)  # reads at t0, t0+60, t0+120; now t0+660: only 2 within 10m
    assert e.decide(act("filesystem.write", "out")).decision is Effect.ALLOW


def test_unless_session_did(make_engine):
    e = make_engine("""
    policy: p
    defaults: allow
    rules:
      - id: tests-before-push
        match: {capability: shell.exec, target: "git push*"}
        unless: {session.did: {capability: shell.exec, target: "pytest*"}}
        effect: require_approval
        reason: Run the tests before pushing
    """)
    assert e.decide(act("shell.exec", "git push origin main")).decision is Effect.REQUIRE_APPROVAL
    e.decide(act("shell.exec", "pytest -q"))
    assert e.decide(act("shell.exec", "git push origin main")).decision is Effect.ALLOW


def test_marks_survive_a_new_engine_on_the_same_backend(make_engine):
    e1 = make_engine(EGRESS)
    e1.decide(act("filesystem.read", "/srv/.env"))
    e2 = make_engine(EGRESS)  # a restart (or another process) with the same policies
    assert e2.decide(act("network.request", "https://x.example")).decision is Effect.DENY


def test_explain_names_the_earlier_action_and_changes_nothing(make_engine):
    e = make_engine(EGRESS)
    e.decide(act("filesystem.read", "/repo/.env"))
    exp = e.explain(act("network.request", "https://x.example"))
    assert exp.decision.decision is Effect.DENY and "this session did filesystem.read /repo/.env" in exp.decision.reason
    # explaining a read of a secret leaves no mark in another session
    e.explain(act("filesystem.read", "/repo/.env", session="s-2"))
    assert e.decide(act("network.request", "https://x.example", session="s-2")).decision is Effect.ALLOW


@pytest.mark.parametrize(
    "spec, message",
    [
        ("{capability: x, tagret: y}", "unknown field 'tagret' (did you mean 'target'?)"),
        ("{session.did: {capability: x}}", "cannot be nested"),
        ("{action: {capability: x}, within: soon}", "invalid duration"),
        ("{action: {capability: x}, at_least: 0}", "at_least must be an integer from 1 to 100"),
        ("{within: 1h}", "needs 'action'"),
        ("[]", "session.did takes a match block"),
        ("{}", "an empty block would match every earlier action"),
        ("{target: {regex: '(a)\\1'}}", "invalid regular expression"),
    ],
)
def test_bad_session_did_is_a_load_error_with_position(spec, message):
    text = f"policy: p\nrules:\n  - id: r\n    match:\n      capability: y\n      session.did: {spec}\n    effect: deny\n"
    with pytest.raises(PolicyError) as err:
        Engine.from_texts({"p.yaml": text})
    p = err.value.problems[0]
    assert message in p.message, p.message
    assert p.line == 6 and p.field.startswith("rules[0].match.session.did")


def test_same_condition_in_two_rules_shares_one_tracker(make_engine):
    e = make_engine("""
    policy: p
    defaults: allow
    rules:
      - {id: a, match: {capability: x, session.did: {capability: y}}, effect: alert}
      - {id: b, match: {capability: z, session.did: {capability: y}}, effect: deny}
    """)
    assert len(e.state.settings(e).trackers) == 1
    e.decide(act("y"))
    assert e.decide(act("x")).decision is Effect.ALERT and e.decide(act("z")).decision is Effect.DENY
