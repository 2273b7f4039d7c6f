"""Claude Code PreToolUse hook: recorded inputs for each tool type -> JSON output and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bastion.engine import Engine
from bastion.integrations.claude_code import AGENT, handle
from bastion.integrations.enforce import Enforcer

from .conftest import POLICY, SECRET

CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "claude_code" / "cases.jsonl").read_text().splitlines() if line.strip()]
CLIENT = Path(__file__).resolve().parents[2] / "src" / "bastion" / "integrations" / "hook_client.py"


@pytest.fixture(scope="module")
def enforcers() -> dict[str, Enforcer]:
    return {
        "coding": Enforcer(Engine.from_paths(["builtin:coding-agent"]), agent=AGENT),
        "test": Enforcer(Engine.from_paths([str(POLICY)]), agent=AGENT),
    }


def check_output(result, expect: dict, tool_input: dict) -> None:
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    hso = out["hookSpecificOutput"]
    assert hso["hookEventName"] == "PreToolUse"
    assert hso["permissionDecision"] == expect["decision"], hso
    assert hso["permissionDecisionReason"]
    if "reason" in expect:
        assert expect["reason"].lower() in hso["permissionDecisionReason"].lower()
    if expect.get("updated"):
        updated = hso["updatedInput"]
        assert set(updated) == set(tool_input)
        assert SECRET not in json.dumps(updated) and "[REDACTED:aws_access_key:" in json.dumps(updated)
    else:
        assert "updatedInput" not in hso
    if "continue" in expect:
        assert out["continue"] is expect["continue"] and out["stopReason"]
    assert SECRET not in result.stdout


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_recorded_inputs(case, enforcers):
    # each case in its own session: session state (escalation) is tested on its own below
    payload = {**case["input"], "session_id": f"{case['input']['session_id']}-{case['name']}"}
    result = handle(enforcers[case["policy"]], json.dumps(payload))
    check_output(result, case["expect"], case["input"]["tool_input"])


def test_repeated_violations_terminate_the_session():
    """Session state through the hook: builtin:coding-agent escalates repeated denies to terminate."""
    e = Enforcer(Engine.from_paths(["builtin:coding-agent"]), agent=AGENT)
    read_env = next(c for c in CASES if c["name"] == "read-env")["input"]
    outs = []
    for i in range(8):
        r = handle(e, json.dumps({**read_env, "session_id": "escalating", "tool_use_id": f"t{i}"}))
        outs.append(json.loads(r.stdout))
    assert outs[0]["hookSpecificOutput"]["permissionDecision"] == "deny" and "continue" not in outs[0]
    assert outs[-1]["continue"] is False and outs[-1]["hookSpecificOutput"]["permissionDecision"] == "deny"
    allowed = next(c for c in CASES if c["name"] == "read-source")["input"]
    after = json.loads(handle(e, json.dumps({**allowed, "session_id": "escalating"})).stdout)
    assert after["hookSpecificOutput"]["permissionDecision"] == "deny"  # a terminated session stays terminated


def test_session_and_cwd_reach_the_action(enforcers):
    seen = []
    e = Enforcer(enforcers["test"].engine, agent=AGENT, on_decision=seen.append)
    case = CASES[0]["input"]
    handle(e, json.dumps(case))
    (a,) = seen[0].actions
    assert a.session.id == case["session_id"] and a.context["cwd"] == case["cwd"]
    assert a.agent.id == "claude-code" and a.id == case["tool_use_id"]


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"hook_event_name": "PreToolUse", "tool_input": {}}',
                                 '{"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": "rm -rf /"}'])
def test_malformed_input_blocks_with_exit_2(raw, enforcers):
    r = handle(enforcers["test"], raw)
    assert r.exit_code == 2 and r.stdout is None and r.stderr.startswith("Bastion:")


def test_other_events_get_no_opinion(enforcers):
    r = handle(enforcers["test"], json.dumps({"hook_event_name": "PostToolUse", "tool_name": "Read", "tool_input": {}}))
    assert (r.exit_code, r.stdout) == (0, None)


def test_passthrough_allow_leaves_allowed_calls_to_claude_code(enforcers):
    allowed = next(c for c in CASES if c["name"] == "read-source")
    assert handle(enforcers["coding"], json.dumps(allowed["input"]), passthrough_allow=True).stdout is None
    denied = next(c for c in CASES if c["name"] == "read-env")
    out = json.loads(handle(enforcers["coding"], json.dumps(denied["input"]), passthrough_allow=True).stdout)
    assert out["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_an_internal_error_blocks(enforcers):
    class Broken:
        base: dict = {}

        def check_tool(self, *a, **k):
            raise RuntimeError("boom")

    r = handle(Broken(), json.dumps(CASES[0]["input"]))
    assert r.exit_code == 2 and "blocking" in r.stderr


def test_approval_id_is_shown_when_approvals_are_stored(approvals):
    e = Enforcer(Engine.from_paths([str(POLICY)], stages=[approvals], check_examples=False), agent=AGENT)
    case = next(c for c in CASES if c["name"] == "mcp-deploy")
    out = json.loads(handle(e, json.dumps(case["input"])).stdout)["hookSpecificOutput"]
    # only the store's approvers may approve: deny, naming the id and how to approve
    assert out["permissionDecision"] == "deny"
    assert "apr-1" in out["permissionDecisionReason"] and "bastion approvals approve apr-1" in out["permissionDecisionReason"]
    out = json.loads(handle(e, json.dumps(case["input"]), always_ask=True).stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "ask" and "apr-1" in out["permissionDecisionReason"]
    approvals.approve("apr-1")
    out = json.loads(handle(e, json.dumps({**case["input"], "tool_use_id": "retry"})).stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "allow"  # the retry after the store's approval


# --------------------------------------------------------------------------- the real process


def run_client(args: list[str], payload: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-S", str(CLIENT), "claude-code", *args], input=payload.encode(),
                          capture_output=True, cwd=cwd, env=env, timeout=180)


@pytest.fixture
def hook_env(tmp_path):
    """A private daemon directory; every daemon started in it is stopped afterwards (by its pid)."""
    d = tmp_path / "daemons"
    env = {**os.environ, "BASTION_HOOK_DIR": str(d), "BASTION_HOOK_IDLE": "120"}
    yield env
    for pid_file in d.glob("*.pid") if d.exists() else []:
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def test_client_and_daemon_end_to_end(tmp_path, hook_env, write_policy):
    project = tmp_path / "project"
    project.mkdir()
    # a hostile project: modules that shadow the standard library must not be imported
    for mod in ("json", "inspect", "dis", "socket"):
        (project / f"{mod}.py").write_text("raise SystemExit('shadowed module imported')\n")
    policy = project / "policy.yaml"
    policy.write_text(POLICY.read_text())
    read_env = next(c for c in CASES if c["name"] == "read-env")["input"]
    redact = next(c for c in CASES if c["name"] == "write-secret-redacted")["input"]

    r = run_client(["--policy", "policy.yaml"], json.dumps(read_env), project, hook_env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    socks = list((tmp_path / "daemons").glob("*.sock"))
    assert len(socks) == 1 and oct(socks[0].parent.stat().st_mode & 0o777) == "0o700"

    r = run_client(["--policy", "policy.yaml"], json.dumps(redact), project, hook_env)
    out = json.loads(r.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "allow" and SECRET.encode() not in r.stdout and "updatedInput" in out
    assert len(list((tmp_path / "daemons").glob("*.sock"))) == 1  # the same daemon answered

    # render flags travel with the request: an allowed call gets no answer with --passthrough-allow
    allowed = next(c for c in CASES if c["name"] == "unknown-builtin-tool")["input"]
    r = run_client(["--policy", "policy.yaml", "--passthrough-allow"], json.dumps(allowed), project, hook_env)
    assert (r.returncode, r.stdout) == (0, b"")

    # `bastion hook claude-code` (the click command) talks to the same daemon
    r = subprocess.run([str(Path(sys.executable).with_name("bastion")), "hook", "claude-code", "--policy", "policy.yaml"],
                       input=json.dumps(read_env).encode(), capture_output=True, cwd=project, env=hook_env, timeout=180)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert len(list((tmp_path / "daemons").glob("*.sock"))) == 1

    # a policy change is picked up by the running daemon
    policy.write_text(POLICY.read_text().replace("effect: deny\n    reason: Reading .env files is not allowed",
                                                 "effect: allow\n    reason: Reading .env files is fine here"))
    r = run_client(["--policy", "policy.yaml"], json.dumps(read_env), project, hook_env)
    assert json.loads(r.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"

    # a broken policy blocks every call, with the error
    policy.write_text("policy: broken\nrules: [\n")
    r = run_client(["--policy", "policy.yaml"], json.dumps(read_env), project, hook_env)
    assert r.returncode == 2 and "cannot be loaded" in r.stderr.decode()

    r = run_client(["--policy", "policy.yaml"], "garbage", project, hook_env)
    assert r.returncode == 2 and r.stdout == b""


def test_oneshot_without_daemon(tmp_path, hook_env):
    read_env = next(c for c in CASES if c["name"] == "read-env")["input"]
    r = run_client(["--policy", str(POLICY), "--no-daemon"], json.dumps(read_env), tmp_path, hook_env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert not (tmp_path / "daemons").exists() or not list((tmp_path / "daemons").glob("*.sock"))


def test_bad_arguments_block(tmp_path, hook_env):
    r = run_client(["--frobnicate"], "{}", tmp_path, hook_env)
    assert r.returncode == 2 and b"unknown option" in r.stderr


# --------------------------------------------------------------------------- install


def cli(*args: str):
    from click.testing import CliRunner

    from bastion.cli.hook import hook

    return CliRunner().invoke(hook, list(args), catch_exceptions=False)


def test_install_keeps_existing_settings_and_replaces_only_its_own(tmp_path):
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    other = {"matcher": "Bash", "hooks": [{"type": "command", "command": "my-linter"}]}
    settings.write_text(json.dumps({"model": "opus", "permissions": {"allow": ["Bash(ls:*)"]}, "hooks": {"PreToolUse": [other], "Stop": [{"hooks": []}]}}))
    r = cli("install", "claude-code", "--project", str(tmp_path), "--policy", "builtin:coding-agent")
    assert r.exit_code == 0, r.output
    data = json.loads(settings.read_text())
    assert data["model"] == "opus" and data["permissions"] == {"allow": ["Bash(ls:*)"]} and "Stop" in data["hooks"]
    pre = data["hooks"]["PreToolUse"]
    assert pre[0] == other and len(pre) == 2
    cmd = pre[1]["hooks"][0]["command"]
    assert "hook_client.py claude-code --policy builtin:coding-agent" in cmd and " -P -S " in cmd

    cli("install", "claude-code", "--project", str(tmp_path), "--policy", "./policies")
    pre = json.loads(settings.read_text())["hooks"]["PreToolUse"]
    assert len(pre) == 2 and "./policies" in pre[1]["hooks"][0]["command"]

    cli("uninstall", "claude-code", "--project", str(tmp_path))
    data = json.loads(settings.read_text())
    assert data["hooks"]["PreToolUse"] == [other] and data["model"] == "opus"


def test_install_refuses_to_clobber_invalid_settings(tmp_path):
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text("{ not json")
    from click.testing import CliRunner

    from bastion.cli.hook import hook

    r = CliRunner().invoke(hook, ["install", "claude-code", "--project", str(tmp_path)])
    assert r.exit_code != 0 and "not valid JSON" in r.output
    assert settings.read_text() == "{ not json"


def test_installed_command_runs(tmp_path, hook_env):
    cli("install", "claude-code", "--project", str(tmp_path), "--policy", str(POLICY), "--no-daemon")
    cmd = json.loads((tmp_path / ".claude" / "settings.json").read_text())["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    case = next(c for c in CASES if c["name"] == "terminate")["input"]
    r = subprocess.run(cmd, shell=True, input=json.dumps(case).encode(), capture_output=True, cwd=tmp_path, env=hook_env, timeout=180)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["continue"] is False and out["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_record_uses_the_store_for_audit_and_approvals(tmp_path, hook_env):
    """`--record`: decisions are recorded, and approvals are the store's (deny naming the id, then allow)."""
    from bastion.approvals import ApprovalService, People
    from bastion.store import open_store

    project = tmp_path / "p"
    project.mkdir()
    db = tmp_path / "bastion.db"
    (project / "bastion.yaml").write_text(f"policies: [{POLICY}]\ndb: {db}\npeople:\n  sam@example.com: {{roles: [platform-lead]}}\n")
    deploy = next(c for c in CASES if c["name"] == "mcp-deploy")["input"]
    r = run_client(["--record"], json.dumps(deploy), project, hook_env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and "bastion approvals approve " in out["permissionDecisionReason"]
    aid = out["permissionDecisionReason"].split("bastion approvals approve ")[1].split()[0]
    store = open_store(str(db))
    ApprovalService(store, People.from_config({"sam@example.com": {"roles": ["platform-lead"]}})).approve(aid, "sam@example.com", "ok")
    r = run_client(["--record"], json.dumps({**deploy, "tool_use_id": "toolu_retry"}), project, hook_env)
    assert json.loads(r.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"
