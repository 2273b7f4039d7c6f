"""The CLI as outside scripts use it (the contract), through click's runner and a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bastion.cli import main


def run(*args, input=None, env=None):
    result = CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)
    return result


ACTIONS = [
    {"id": "a1", "capability": "shell.exec", "target": "git push --force origin main"},
    {"id": "a2", "capability": "filesystem.read", "target": "src/app.py"},
    {"id": "a3", "capability": "filesystem.read", "target": "/repo/.env"},
]


def test_check_jsonl_in_input_order():
    text = "\n".join(json.dumps(a) for a in ACTIONS) + "\n"
    r = run("check", "--policy", "builtin:coding-agent", "--format", "jsonl", input=text)
    assert r.exit_code == 0, r.output
    out = [json.loads(line) for line in r.output.splitlines()]
    assert [d["action_id"] for d in out] == ["a1", "a2", "a3"]
    assert [d["decision"] for d in out] == ["deny", "allow", "deny"]
    assert out[0]["rules"][0]["source"].startswith("coding-agent.yaml:")
    assert out[2]["rules"][0]["source"].startswith("secret-files.yaml:")


def test_check_malformed_lines_are_reported_and_others_decided(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text(json.dumps(ACTIONS[0]) + "\n{not json\n" + json.dumps({"capability": "x", "tagret": 1}) + "\n\n" + json.dumps(ACTIONS[1]) + "\n")
    r = run("check", "-p", "builtin:coding-agent", "--input", str(f), "--format", "jsonl")
    assert r.exit_code == 2
    out = [json.loads(line) for line in r.output.splitlines()]
    assert out[0]["decision"] == "deny"
    assert out[1] == {"error": out[1]["error"], "line": 2} and "invalid JSON" in out[1]["error"]
    assert out[2]["line"] == 3 and "tagret" in out[2]["error"]
    assert out[3]["action_id"] == ACTIONS[1]["id"]


def test_check_json_format_and_exit_code():
    r = run("check", "-p", "builtin:coding-agent", "--format", "json", input=json.dumps(ACTIONS[1]))
    assert r.exit_code == 0 and json.loads(r.output)["decision"] == "allow"
    r = run("check", "-p", "builtin:coding-agent", "--format", "json", input=json.dumps(ACTIONS))
    assert [d["decision"] for d in json.loads(r.output)] == ["deny", "allow", "deny"]
    assert run("check", "-p", "builtin:coding-agent", "--exit-code", "-f", "json", input=json.dumps(ACTIONS)).exit_code == 1
    assert run("check", "-p", "builtin:coding-agent", "--exit-code", "-f", "json", input=json.dumps(ACTIONS[1])).exit_code == 0


def test_check_text_format_and_directory_policy(tmp_path, write_policy):
    write_policy("policy: mine\ndefaults: allow\nrules:\n  - {id: no-rm, match: {capability: shell.exec, target: 'rm *'}, effect: deny, reason: No rm}\n", "p.yaml", tmp_path / "pols")
    r = run("check", "-p", str(tmp_path / "pols"), "-f", "text", input=json.dumps({"capability": "shell.exec", "target": "rm x"}))
    assert r.exit_code == 0 and "deny" in r.output and "No rm" in r.output


def test_check_bad_policy_is_an_error_with_position(tmp_path, write_policy):
    p = write_policy("policy: x\nrules:\n  - {id: a, effect: nope}\n")
    r = CliRunner().invoke(main, ["check", "-p", str(p)], input="{}")
    assert r.exit_code == 1
    assert f"{p}:3" in r.output and "rules[0].effect" in r.output


def test_explain_text_and_json():
    act = json.dumps({"capability": "shell.exec", "target": "git push -f"})
    r = run("explain", "-p", "builtin:coding-agent", act)
    assert r.exit_code == 0
    assert "system" in r.output and "deny-force-push" in r.output and "coding-agent.yaml:" in r.output
    data = json.loads(run("explain", "-p", "builtin:coding-agent", "-f", "json", act).output)
    assert data["decision"]["decision"] == "deny" and data["policies"][0]["id"] == "builtin:coding-agent"
    assert data["subjects"][0]["capability"] == "shell.exec"
    assert run("explain", "-p", "builtin:coding-agent", '{"capability": 1}').exit_code == 2


def test_validate_ok_errors_and_warnings(tmp_path, write_policy):
    assert run("validate", "builtin:coding-agent").exit_code == 0
    bad = write_policy("policy: x\nrules:\n  - id: a\n    match: {capabilty: x}\n    effect: deny\n", "bad.yaml")
    r = CliRunner().invoke(main, ["validate", str(bad)])
    assert r.exit_code == 1 and "did you mean 'capability'" in r.output and f"{bad}:4" in r.output
    write_policy("policy: s\nlayer: system\nrules:\n  - {id: deny-x, match: {capability: filesystem.delete}, effect: deny, examples: {match: [{capability: filesystem.delete}]}}\n", "s.yaml", tmp_path / "layers")
    write_policy(
        "policy: t\nlayer: team\nrules:\n  - id: allow-x\n    match: {capability: filesystem.delete}\n    effect: allow\n    examples: {match: [{capability: filesystem.delete, target: a}]}\n"
        "  - {id: typo, match: {capability: filesystem.reed}, effect: deny}\n",
        "t.yaml",
        tmp_path / "layers",
    )
    r = CliRunner().invoke(main, ["validate", str(tmp_path / "layers"), "-f", "json"])
    assert r.exit_code == 0
    msgs = [p["message"] for p in json.loads(r.output)["problems"]]
    assert any("cannot loosen s/deny-x" in m for m in msgs)
    assert any("did you mean 'filesystem.read'" in m for m in msgs)
    assert any("has no examples" in m for m in msgs)
    assert CliRunner().invoke(main, ["validate", "--strict", str(tmp_path / "layers")]).exit_code == 1


def test_test_command_with_test_files(tmp_path, write_policy):
    d = tmp_path / "pols"
    write_policy("policy: p\ndefaults: allow\nrules:\n  - {id: no-rm, match: {capability: shell.exec, target: 'rm *'}, effect: deny, examples: {match: [{capability: shell.exec, target: rm a}]}}\n  - {id: never, match: {capability: z}, effect: deny}\n", "p.yaml", d)
    write_policy(
        "tests:\n  - {name: rm denied, action: {capability: shell.exec, target: rm x}, expect: {decision: deny, rule: no-rm}}\n  - {name: ls allowed, action: {capability: shell.exec, target: ls}, expect: allow}\n",
        "p_test.yaml",
        d,
    )
    r = run("test", str(d), "-f", "json")
    data = json.loads(r.output)
    assert r.exit_code == 0 and data["ok"] and data["uncovered"] == ["p/never"]
    write_policy("tests:\n  - {name: wrong, action: {capability: shell.exec, target: ls}, expect: deny}\n", "q_test.yaml", d)
    r = run("test", str(d))
    assert r.exit_code == 1 and "wrong" in r.output and "1 failed" in r.output


def test_every_builtin_passes_its_own_tests():
    from bastion.policy.loader import builtin_names

    for name in builtin_names():
        r = run("test", f"builtin:{name}", "-f", "json")
        assert r.exit_code == 0, (name, r.output[:2000])


def test_templates(tmp_path):
    r = run("templates", "list")
    assert "builtin:coding-agent" in r.output and "builtin:strict" in r.output
    assert "policy: builtin:strict" in run("templates", "show", "strict").output
    r = run("templates", "init", "builtin:coding-agent", str(tmp_path / "mine"))
    assert r.exit_code == 0
    text = (tmp_path / "mine" / "coding-agent.yaml").read_text()
    assert "policy: coding-agent" in text
    assert run("validate", str(tmp_path / "mine")).exit_code == 0
    assert run("templates", "init", "coding-agent", str(tmp_path / "mine")).exit_code == 1
    assert CliRunner().invoke(main, ["templates", "show", "nope"]).exit_code == 1


def test_config_show_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bastion.yaml").write_text("policies: [builtin:strict]\nstate: memory\n")
    r = run("config", "show", "-f", "json", env={"BASTION_DB": "postgresql://x/y"})
    s = json.loads(r.output)["settings"]
    assert s["policies"] == {"value": ["builtin:strict"], "source": "bastion.yaml:1"}
    assert s["db"] == {"value": "postgresql://x/y", "source": "env BASTION_DB"}
    assert s["log_level"]["source"] == "default"
    (tmp_path / "bastion.yaml").write_text("polices: [x]\n")
    r = CliRunner().invoke(main, ["config", "show"])
    assert r.exit_code == 1 and "did you mean 'policies'" in r.output


def test_demo_runs_the_main_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("demo", "-f", "jsonl", "--no-record")
    assert r.exit_code == 0
    decisions = [json.loads(line)["decision"] for line in r.output.splitlines()]
    assert len(decisions) == 20 and {"allow", "deny", "require_approval", "alert"} <= set(decisions)
    assert not (tmp_path / ".bastion").exists()
    r = run("demo")  # the embedded default: SQLite audit log under .bastion/, chain verified
    assert "bastion demo" in r.output and "recorded 20 decisions" in r.output and "chain verified" in r.output
    assert (tmp_path / ".bastion" / "bastion.db").is_file()
    r = run("audit", "verify", "--db", str(tmp_path / ".bastion" / "bastion.db"))
    assert r.exit_code == 0


def test_console_script_end_to_end(tmp_path):
    exe = Path(sys.executable).parent / "bastion"
    proc = subprocess.run([str(exe), "check", "-p", "builtin:coding-agent"], input=json.dumps(ACTIONS[0]), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["decision"] == "deny"


def test_check_keeps_session_state_across_lines_and_runs(tmp_path, write_policy):
    p = write_policy(
        "policy: p\ndefaults: allow\nescalation: {window: 10m, denials: {alert: 2, terminate: 3}}\n"
        "rules:\n  - {id: no-x, match: {capability: x}, effect: deny}\n"
    )
    lines = "\n".join(json.dumps({"capability": c, "session": {"id": "s1"}}) for c in ["x", "x", "x", "y"]) + "\n"
    r = run("check", "-p", str(p), "-f", "jsonl", input=lines)
    decisions = [json.loads(line)["decision"] for line in r.output.splitlines()]
    assert decisions[:2] == ["deny", "deny"] and decisions[2:] == ["terminate", "terminate"]
    # in a fresh run without a store the session starts anew; with --db it persists
    assert json.loads(run("check", "-p", str(p), "-f", "json", input=json.dumps({"capability": "y", "session": {"id": "s1"}})).output)["decision"] == "allow"
    db = tmp_path / "state.db"
    run("check", "-p", str(p), "--db", str(db), "-f", "jsonl", input=lines)
    r = run("check", "-p", str(p), "--db", str(db), "-f", "json", input=json.dumps({"capability": "y", "session": {"id": "s1"}}))
    assert json.loads(r.output)["decision"] == "terminate"
    r = run("explain", "-p", str(p), "--db", str(db), json.dumps({"capability": "y", "session": {"id": "s1"}}))
    assert "Session state" in r.output and "terminated" in r.output
    r = CliRunner().invoke(main, ["check", "-p", str(p), "--state", "redis://127.0.0.1:1/0"], input=lines)
    assert r.exit_code == 1 and "Traceback" not in r.output


def test_validate_does_not_call_a_budget_rule_unconditional(tmp_path, write_policy):
    d = tmp_path / "b"
    write_policy("policy: s\nlayer: org\nrules:\n  - {id: cap-tools, match: {capability: tool.call}, budget: {tool_calls: 200, per: session}, effect: deny, examples: {no_match: [{capability: x}]}}\n", "s.yaml", d)
    write_policy("policy: t\nlayer: team\nrules:\n  - {id: tools-ok, match: {capability: tool.call}, effect: allow, examples: {match: [{capability: tool.call, target: t}]}}\n", "t.yaml", d)
    r = run("validate", str(d), "-f", "json")
    msgs = [p["message"] for p in json.loads(r.output)["problems"]]
    assert not any("cannot loosen" in m for m in msgs), msgs
