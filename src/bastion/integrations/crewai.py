"""CrewAI: Bastion as CrewAI's before/after tool-call hooks.

    from bastion.integrations.crewai import BastionCrewHooks

    hooks = BastionCrewHooks(engine).install()     # global hooks for every crew and agent
    ...
    hooks.uninstall()

CrewAI swallows every exception a hook raises except its own `HookAborted`, and then
runs the tool: a hook that crashes fails open. Both hooks here therefore catch
everything themselves: the before hook blocks on any error, the after hook withholds
the result.

* before: the call is decided; blocked calls return `False` (CrewAI does not run the
  tool), `redact` rewrites `tool_input` in place; `require_approval` asks the approver
  (by default CrewAI's own `context.request_human_input`; pass `approver=` to answer
  from code, e.g. a ticketing system), and then proceeds or blocks;
* after: the model reads Bastion's reason instead of CrewAI's generic "blocked by hook"
  text, and every tool result is redacted.

`terminate` blocks the call; the session state then denies every further action of the
session. CrewAI is pinned with conflicting dependencies, so it lives in its own
environment (`scripts/extras` builds `.venv-crewai`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from bastion.integrations.enforce import Enforcer, Verdict

log = logging.getLogger("bastion.crewai")

__all__ = ["BastionCrewHooks"]

#: CrewAI's text for a call a before-hook blocked; the after hook replaces it with the reason
BLOCKED_PREFIX = "Tool execution blocked by hook"

Approver = Callable[[dict[str, Any], Any], Any]


def _console_approver(request: dict[str, Any], context: Any) -> Any:
    """CrewAI's own human-in-the-loop: ask on the console (type `approve` to allow)."""
    prompt = f"Bastion: {request['message']}\nTool: {request['tool']}  Arguments: {request['arguments']}"
    return context.request_human_input(prompt=prompt, default_message="Type 'approve' to allow it, anything else denies:") or "deny"


class BastionCrewHooks:
    """The pair of CrewAI tool-call hooks, sharing one enforcer."""

    def __init__(self, engine_or_enforcer: Any, *, approver: Approver | None = None, **enforcer_kwargs: Any) -> None:
        if isinstance(engine_or_enforcer, Enforcer):
            self.enforcer = engine_or_enforcer
        else:
            enforcer_kwargs.setdefault("agent", {"id": "crewai"})
            self.enforcer = Enforcer(engine_or_enforcer, **enforcer_kwargs)
        self.approver = approver or _console_approver
        self._blocked: dict[int, Verdict] = {}
        self._lock = threading.Lock()
        self._installed = False

    # ------------------------------------------------------------------ identity

    def _base(self, context: Any) -> dict[str, Any]:
        base = dict(self.enforcer.base)
        agent = getattr(context, "agent", None)
        role = getattr(agent, "role", None)
        if isinstance(role, str) and role:
            base["agent"] = {**(base.get("agent") or {}), "role": role}
        crew = getattr(context, "crew", None)
        crew_id = getattr(crew, "id", None)
        if crew_id is not None and "session" not in base:
            base["session"] = {"id": f"crew-{crew_id}"}
        return base

    # ------------------------------------------------------------------ hooks

    def before_tool_call(self, context: Any) -> bool | None:
        """False blocks the call; None lets it run (with `tool_input` possibly redacted)."""
        try:
            return self._before(context)
        except Exception:  # never fail open
            log.exception("Bastion before_tool_call failed; blocking the call")
            self._remember(context, None)
            return False

    def _before(self, context: Any) -> bool | None:
        tool = str(getattr(context, "tool_name", "") or "")
        args = context.tool_input if isinstance(context.tool_input, dict) else {}
        verdict = self.enforcer.check_tool(tool, dict(args), base=self._base(context))
        if verdict.needs_approval:
            request = {
                "tool": tool,
                "arguments": self.enforcer.redact_result(verdict.arguments),
                "reason": verdict.decision.reason,
                "message": verdict.message,
                "approval_id": verdict.approval_id,
                "approver_roles": sorted({r for d in verdict.decisions for r in d.approver_roles}),
            }
            answer = self.approver(request, context)
            verdict = self.enforcer.resume(tool, args, answer, requested=verdict)
        if not verdict.proceed:
            self._remember(context, verdict)
            return False
        if verdict.redacted:
            for key, value in verdict.arguments_to_forward.items():
                context.tool_input[key] = value  # CrewAI reads the same dict: modify in place
        return None

    def after_tool_call(self, context: Any) -> str | None:
        """The reason for blocked calls, and every result redacted."""
        try:
            verdict = self._pop(context)
            result = getattr(context, "tool_result", None)
            if isinstance(result, str) and result.startswith(BLOCKED_PREFIX):
                if verdict is not None:
                    return verdict.message
                return "Bastion blocked this call (the enforcement hook failed; failing closed)."
            if result is None:
                return None
            redacted = self.enforcer.redact_result(result if isinstance(result, str) else str(result))
            return redacted if isinstance(redacted, str) else str(redacted)
        except Exception:
            log.exception("Bastion after_tool_call failed; withholding the result")
            return "[tool result withheld by Bastion: it could not be checked for secrets]"

    def _remember(self, context: Any, verdict: Verdict | None) -> None:
        with self._lock:
            self._blocked[id(getattr(context, "tool_input", None))] = verdict  # type: ignore[assignment]

    def _pop(self, context: Any) -> Verdict | None:
        with self._lock:
            return self._blocked.pop(id(getattr(context, "tool_input", None)), None)

    # ------------------------------------------------------------------ registration

    def install(self) -> "BastionCrewHooks":
        """Register both hooks globally (every crew, agent and tool)."""
        from crewai.hooks import register_after_tool_call_hook, register_before_tool_call_hook

        if not self._installed:
            register_before_tool_call_hook(self.before_tool_call)
            register_after_tool_call_hook(self.after_tool_call)
            self._installed = True
        return self

    def uninstall(self) -> None:
        from crewai.hooks import unregister_after_tool_call_hook, unregister_before_tool_call_hook

        if self._installed:
            unregister_before_tool_call_hook(self.before_tool_call)
            unregister_after_tool_call_hook(self.after_tool_call)
            self._installed = False

    def __enter__(self) -> "BastionCrewHooks":
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        self.uninstall()

