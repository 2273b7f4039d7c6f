"""Claude Code PreToolUse hook: one tool call in (JSON on stdin), one permission decision out.

Claude Code runs the hook before every tool call with `{session_id, cwd, permission_mode,
hook_event_name, tool_name, tool_input, tool_use_id, ...}`. We map the tool (Bash, Read,
Write, Edit, WebFetch, `mcp__server__tool`, anything else) to Bastion actions with the
tool map, decide, and answer with

    {"hookSpecificOutput": {"hookEventName": "PreToolUse",
                            "permissionDecision": "allow" | "deny" | "ask",
                            "permissionDecisionReason": "...",
                            "updatedInput": {...}}}          # redacted arguments, when any

`require_approval` is `ask` (Claude Code asks its user), or, when approvals are stored,
`deny` naming the approval id and how to approve (so that only the store's approvers can
approve; the retry after approval is allowed); `terminate` is `deny` plus `continue: false`, which stops
Claude. When structured output is impossible (input that is not a PreToolUse call, an
internal error) the hook exits 2 with the reason on stderr, which also blocks the call:
a crashing hook must never fail open.

This module holds the pure logic; `hook_client` (stdlib only, fast start) and
`hook_server` (a per-project daemon that keeps the compiled policy warm) run it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from bastion.model import Effect

__all__ = ["HookResult", "handle", "handle_payload", "build_enforcer", "settings_entry"]

#: agent identity of actions coming through this hook
AGENT = {"id": "claude-code", "role": "coding-agent"}


@dataclass(frozen=True)
class HookResult:
    stdout: str | None
    stderr: str
    exit_code: int

    def to_dict(self) -> dict[str, Any]:
        return {"stdout": self.stdout, "stderr": self.stderr, "exit": self.exit_code}


def block(reason: str) -> HookResult:
    """Exit 2: Claude Code blocks the call and shows stderr to the model."""
    return HookResult(None, f"Bastion: {reason}\n", 2)


def handle(enforcer: Any, raw: str | bytes, *, passthrough_allow: bool = False, always_ask: bool = False) -> HookResult:
    """The whole hook, from stdin text to what to print and the exit status. Never raises."""
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return block(f"the hook input is not JSON ({type(exc).__name__}); blocking the call")
    try:
        return handle_payload(enforcer, payload, passthrough_allow=passthrough_allow, always_ask=always_ask)
    except Exception as exc:  # fail closed
        return block(f"internal error in the enforcement hook; blocking the call ({type(exc).__name__})")


def handle_payload(enforcer: Any, payload: Any, *, passthrough_allow: bool = False, always_ask: bool = False) -> HookResult:
    if not isinstance(payload, Mapping):
        return block("the hook input is not a JSON object; blocking the call")
    event = payload.get("hook_event_name", "PreToolUse")
    if event != "PreToolUse":
        # Bastion decides before tools run; other events carry nothing to decide.
        return HookResult(None, "", 0)
    tool = payload.get("tool_name")
    tool_input = payload.get("tool_input", {})
    if not isinstance(tool, str) or not tool.strip():
        return block("the hook input names no tool (tool_name); blocking the call")
    if tool_input is None:
        tool_input = {}
    if not isinstance(tool_input, Mapping):
        return block("tool_input is not a JSON object; blocking the call")
    call_id = payload.get("tool_use_id")
    verdict = enforcer.check_tool(tool, dict(tool_input), call_id=str(call_id) if call_id else None, base=identity(enforcer.base, payload))
    return render(verdict, passthrough_allow=passthrough_allow, always_ask=always_ask)


def identity(base: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """The enforcer's identity fields plus the hook's session id and working directory."""
    out = dict(base)
    ctx = dict(out.get("context") or {})
    sid = payload.get("session_id")
    if isinstance(sid, str) and sid:
        out["session"] = {**(out.get("session") or {}), "id": sid}
    for key in ("cwd", "permission_mode"):
        v = payload.get(key)
        if isinstance(v, str):
            ctx[key] = v
    out["context"] = ctx
    return out


def render(verdict: Any, *, passthrough_allow: bool = False, always_ask: bool = False) -> HookResult:
    """The hook's answer for a verdict.

    `require_approval` is `ask` (Claude Code asks its user) when approvals are not
    stored. When they are (the decision carries an `approval_id`), it is `deny` with the
    approval id and how to approve: Claude Code's local "yes" would bypass the store's
    approver roles and separation of duties; the call retried after the store's approval
    is allowed. `always_ask` keeps `ask` in both cases."""
    e = verdict.effect
    out: dict[str, Any] = {"hookEventName": "PreToolUse"}
    top: dict[str, Any] = {}
    if verdict.proceed:
        if verdict.redacted:
            out["permissionDecision"] = "allow"
            out["permissionDecisionReason"] = verdict.message
            out["updatedInput"] = verdict.arguments_to_forward
        elif passthrough_allow:
            out = {}  # no opinion: Claude Code's own permission rules apply
        else:
            out["permissionDecision"] = "allow"
            out["permissionDecisionReason"] = f"Bastion: {verdict.decision.reason}"
        if e == Effect.ALERT:
            top["systemMessage"] = f"Bastion alert: {verdict.decision.reason}"
    elif e == Effect.REQUIRE_APPROVAL:
        out["permissionDecision"] = "ask" if always_ask or not verdict.approval_ids else "deny"
        out["permissionDecisionReason"] = verdict.message
    else:
        out["permissionDecision"] = "deny"
        out["permissionDecisionReason"] = verdict.message
        if e == Effect.TERMINATE:
            top["continue"] = False
            top["stopReason"] = verdict.message
    if out:
        top["hookSpecificOutput"] = out
    return HookResult(json.dumps(top, ensure_ascii=False) if top else None, "", 0)


def build_enforcer(policies: list[str] | None = None, *, config_path: str | None = None, toolmaps: list[str] | None = None, record: bool = False) -> Any:
    """The hook's enforcer: policies from the flags or the configuration (bastion.yaml).

    With `record`, the configuration's store (`db`) records every decision and holds the
    approval requests: `require_approval` decisions then carry an `approval_id`."""
    from bastion.config import load_config
    from bastion.engine import Engine
    from bastion.integrations.enforce import Enforcer
    from bastion.integrations.toolmap import ToolMap

    cfg = load_config(config_path, flags={"policies": list(policies) if policies else None})
    kwargs: dict[str, Any] = {}
    if record:
        from bastion.approvals import approval_stage
        from bastion.store import open_store

        store = open_store(cfg["db"])
        kwargs.update(store=store, stages=[approval_stage(store, cfg)])
    engine = Engine.from_paths(list(cfg["policies"]), **kwargs)
    tm = ToolMap.load(*toolmaps) if toolmaps else ToolMap.builtin()
    return Enforcer(engine, toolmap=tm, agent=AGENT)


def settings_entry(command: str, matcher: str = "*") -> dict[str, Any]:
    """The `hooks.PreToolUse` entry `bastion hook install claude-code` adds."""
    return {"matcher": matcher, "hooks": [{"type": "command", "command": command}]}
