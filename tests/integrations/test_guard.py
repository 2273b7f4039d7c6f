"""The shared enforcement core and `@guard`: typed exceptions, redaction both ways, fail closed."""

from __future__ import annotations

import asyncio

import pytest

from bastion.integrations.enforce import ApprovalAnswer, Enforcer
from bastion.integrations.guard import (
    ActionDenied,
    ApprovalRequired,
    RateLimited,
    SessionTerminated,
    guard,
    guarded,
)
from bastion.model import Effect

from .conftest import SECRET


@pytest.fixture
def enf(shared_engine):
    return Enforcer(shared_engine)


def test_allowed_call_runs_and_result_is_redacted(enf):
    ran = []

    @guard(capability="filesystem.read", target="path", enforcer=enf)
    def read(path: str) -> str:
        ran.append(path)
        return f"AWS_ACCESS_KEY_ID={SECRET}\nok"

    out = read("README.md")
    assert ran == ["README.md"]
    assert SECRET not in out and "[REDACTED:" in out and out.endswith("ok")


def test_denied_call_never_runs(enf):
    ran = []

    @guard(capability="filesystem.read", target="path", enforcer=enf)
    def read(path: str) -> str:
        ran.append(path)
        return ""

    with pytest.raises(ActionDenied) as err:
        read("/repo/.env")
    assert ran == []
    assert err.value.decision.decision == Effect.DENY
    assert "Reading .env files is not allowed" in str(err.value)
    assert isinstance(err.value, PermissionError)


def test_redacted_argument_reaches_the_function_redacted(enf):
    seen = []

    @guard(tool="send_note", enforcer=enf)  # mapped by tool name: tool.call
    def send_note(text: str, *, to: str = "ops") -> str:
        seen.append((text, to))
        return "sent"

    assert send_note(f"the key is {SECRET}") == "sent"
    (text, to), = seen
    assert SECRET not in text and "[REDACTED:aws_access_key:" in text and to == "ops"


def test_approval_required_carries_the_id_from_the_store(store_engine, approvals):
    e = Enforcer(store_engine)
    ran = []

    @guard(tool="deploy", enforcer=e)
    def deploy(service: str) -> str:
        ran.append(service)
        return "deployed"

    with pytest.raises(ApprovalRequired) as err:
        deploy("api")
    assert ran == [] and err.value.approval_id == "apr-1"
    assert err.value.approver_roles == ["platform-lead"]
    assert "apr-1" in str(err.value)
    approvals.approve("apr-1")
    assert deploy("api") == "deployed"  # allowed once...
    with pytest.raises(ApprovalRequired) as again:
        deploy("api")  # ...and only once
    assert again.value.approval_id == "apr-2"
    with pytest.raises(ApprovalRequired):
        deploy("db")  # another action needs its own approval


def test_wait_for_approval_blocks_on_the_store(store_engine, approvals):
    waited = []

    def wait_for_approval(aid, timeout):  # issue 7's API, here backed by the fake stage
        waited.append((aid, timeout))
        approvals.approve(aid)

    store_engine.wait_for_approval = wait_for_approval
    e = Enforcer(store_engine)

    @guard(tool="deploy", enforcer=e, wait_for_approval=5)
    def deploy(service: str) -> str:
        return "deployed " + service

    assert deploy("api") == "deployed api"
    assert waited == [("apr-1", 5)]


def test_terminate_and_rate_limit_exceptions(shared_engine):
    e = Enforcer(shared_engine)

    @guard(tool="exfiltrate", enforcer=e)
    def exfiltrate() -> None:
        raise AssertionError("must not run")

    with pytest.raises(SessionTerminated):
        exfiltrate()

    class RateStage:  # a rate-limit stage as issue 6 builds them: deny with retry_after
        def after(self, engine, decision, action, now):
            if action.target == "ping":
                d = engine.new_decision(action, now, Effect.DENY, "too many pings")
                d.extra["retry_after"] = 2.5
                return d
            return decision

    from bastion.engine import Engine

    from .conftest import POLICY

    limited = Enforcer(Engine.from_paths([str(POLICY)], stages=[RateStage()], check_examples=False))

    @guard(tool="ping", enforcer=limited)
    def ping() -> str:
        return "pong"

    with pytest.raises(RateLimited) as err:
        ping()
    assert err.value.retry_after == 2.5 and isinstance(err.value, ActionDenied)


def test_async_functions_are_guarded(enf):
    ran = []

    @guard(capability="shell.exec", target="cmd", enforcer=enf)
    async def run(cmd: str) -> str:
        ran.append(cmd)
        return f"token={SECRET}"

    assert SECRET not in asyncio.run(run("ls -la"))
    with pytest.raises(ActionDenied):
        asyncio.run(run("rm -r build"))
    assert ran == ["ls -la"]


def test_wrapper_form_and_target_function(enf):
    def read(p):
        return "x"

    safe = guarded(read, capability="filesystem.read", target=lambda a: a["p"], enforcer=enf)
    assert safe("ok.txt") == "x"
    with pytest.raises(ActionDenied):
        safe(".env")


def test_bad_target_name_is_an_error_at_decoration():
    with pytest.raises(TypeError):
        guard(capability="filesystem.read", target="nope")(lambda path: path)


def test_internal_error_fails_closed(shared_engine):
    class Broken:
        def map(self, tool, args, base=None):
            raise RuntimeError(f"boom {SECRET}")

    e = Enforcer(shared_engine, toolmap=Broken())
    v = e.check_tool("Read", {"file_path": "x"})
    assert not v.proceed and v.effect == Effect.DENY
    assert "failing closed" in v.message and SECRET not in v.message

    @guard(tool="Read", enforcer=e)
    def read(file_path: str) -> str:
        return "x"

    with pytest.raises(ActionDenied):
        read("x")


def test_engine_error_fails_closed(enf):
    class BadEngine:
        def decide(self, action):
            raise ValueError("engine down")

        def redact(self, v):
            raise RuntimeError("no scanner")

    e = Enforcer(BadEngine())
    assert not e.check_tool("echo", {}).proceed
    assert e.redact_result(f"k={SECRET}").startswith("[tool result withheld")


def test_repeated_call_id_reuses_the_verdict(shared_engine):
    decided = []
    e = Enforcer(shared_engine, on_decision=lambda v: decided.append(v))
    v1 = e.check_tool("deploy", {"service": "api"}, call_id="call-1")
    v2 = e.check_tool("deploy", {"service": "api"}, call_id="call-1")
    assert v1 is v2 and len(decided) == 1
    assert v1.actions[0].id == "call-1"  # stable action id: audit records de-duplicate
    v3 = e.check_tool("deploy", {"service": "db"}, call_id="call-1")  # changed arguments: decided anew
    assert v3 is not v1


def test_resume_with_framework_answer(shared_engine):
    approvals = []
    e = Enforcer(shared_engine, on_approval=lambda v, a: approvals.append(a.approver))
    v = e.check_tool("deploy", {"service": "api"}, call_id="c1")
    assert v.needs_approval and not v.proceed and v.approval_id is None
    ok = e.resume("deploy", {"service": "api"}, {"approved": True, "approver": "sam", "reason": "release"}, requested=v)
    assert ok.proceed and ok.approved_by.approver == "sam" and approvals == ["sam"]
    no = e.resume("deploy", {"service": "api"}, {"approved": False, "approver": "sam", "reason": "not today"}, requested=v)
    assert not no.proceed and no.effect == Effect.DENY and "not today" in no.message
    changed = e.resume("deploy", {"service": "db"}, True, requested=v)
    assert not changed.proceed and "changed" in changed.message
    garbage = e.resume("deploy", {"service": "api"}, {"yes": "please"}, requested=v)
    assert not garbage.proceed and garbage.effect == Effect.DENY


def test_resume_with_a_store_only_counts_the_stores_approval(store_engine, approvals):
    e = Enforcer(store_engine)
    v = e.check_tool("deploy", {"service": "api"})
    assert v.approval_id == "apr-1"
    still = e.resume("deploy", {"service": "api"}, True, requested=v)
    assert still.needs_approval and "apr-1" in still.message
    approvals.approve("apr-1")
    assert e.resume("deploy", {"service": "api"}, True, requested=v).proceed


@pytest.mark.parametrize("value,approved", [(True, True), ("approve", True), ("Denied", False), ({"decision": "approve"}, True), ({"approved": False}, False)])
def test_approval_answer_parsing(value, approved):
    assert ApprovalAnswer.parse(value).approved is approved


@pytest.mark.parametrize("value", ["maybe", {"approved": "yes"}, 3, {}])
def test_unclear_answers_are_errors(value):
    with pytest.raises(ValueError):
        ApprovalAnswer.parse(value)


def test_most_restrictive_action_wins(enf):
    v = enf.check_tool("read_multiple_files", {"paths": ["README.md", "/repo/.env"]})
    assert v.effect == Effect.DENY and len(v.decisions) == 2 and not v.proceed


def test_import_bastion_pulls_no_framework():
    import subprocess
    import sys

    code = ("import sys, bastion, bastion.cli, bastion.integrations, bastion.integrations.guard, bastion.integrations.enforce, bastion.integrations.claude_code;"
            "bad=[m for m in ('langgraph','langchain_core','agents','pydantic_ai','crewai','mcp','openai') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
