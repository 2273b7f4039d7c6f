"""The enforcement core every integration shares: tool call -> actions -> decisions -> verdict.

An integration (guard, Claude Code hook, MCP proxy, framework adapters) only translates
between its framework and this module. Here a tool call is mapped to actions
(`toolmap`), each action is decided, and the most restrictive decision becomes a
`Verdict`: whether the call may proceed, with which (possibly redacted) arguments, and
the message the model reads when it may not. Any error on the way is a deny (fail closed).

Approvals: a `require_approval` verdict pauses the call in the framework's own way. When
the framework resumes with an approver's answer, `resume()` re-decides the same call:

* without an approval store (decisions carry no `approval_id`), the answer given
  through the framework is the approval;
* with one (issue 7: decisions carry `approval_id`), only the store's approval counts:
  a re-decision that is still `require_approval` stays pending.

In both cases the call must be the one the approval was asked for (same action digest),
and a policy that has since become stricter wins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from bastion.integrations.toolmap import MappedAction, ToolMap
from bastion.model import Action, Decision, Effect, new_id

log = logging.getLogger("bastion.integrations")

__all__ = ["Enforcer", "Verdict", "ApprovalAnswer", "jsonable"]

#: how long a verdict is reused for a repeated call with the same id and arguments
#: (frameworks such as LangGraph re-run a tool step on resume)
CACHE_SECONDS = 300.0
CACHE_SIZE = 1024


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a tool argument, for the action (the tool still gets the original)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if depth > 32:
        return repr(value)[:200]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        try:
            return jsonable(dump(mode="json"), depth + 1)
        except Exception:
            pass
    return repr(value)


@dataclass(frozen=True)
class ApprovalAnswer:
    """An approver's answer, as a framework hands it back on resume."""

    approved: bool
    approver: str | None = None
    reason: str | None = None
    approval_id: str | None = None

    _YES = frozenset({"approve", "approved", "allow", "yes", "y", "true", "ok", "accept", "accepted"})
    _NO = frozenset({"deny", "denied", "reject", "rejected", "no", "n", "false", "block"})

    @classmethod
    def parse(cls, value: Any) -> "ApprovalAnswer":
        """Accept `True`/`False`, "approve"/"deny", or `{"approved": bool, "approver", "reason"}`
        (also `{"decision": "approve"}`). Anything else is an error (the caller denies)."""
        if isinstance(value, ApprovalAnswer):
            return value
        if isinstance(value, bool):
            return cls(value)
        if isinstance(value, str):
            key = value.strip().lower()
            if key in cls._YES:
                return cls(True)
            if key in cls._NO:
                return cls(False)
            raise ValueError(f"unrecognised approval answer {value[:40]!r}")
        if isinstance(value, Mapping):
            if "approved" in value:
                flag = value["approved"]
                if not isinstance(flag, bool):
                    raise ValueError("`approved` must be true or false")
            elif "decision" in value:
                flag = cls.parse(str(value["decision"])).approved
            else:
                raise ValueError("an approval answer needs `approved` (true/false)")

            def s(k: str) -> str | None:
                v = value.get(k)
                return None if v is None else str(v)[:500]

            return cls(flag, s("approver") or s("by"), s("reason"), s("approval_id"))
        raise ValueError(f"unrecognised approval answer of type {type(value).__name__}")


@dataclass
class Verdict:
    """What an enforcement point does with one tool call."""

    tool: str
    #: the tool's arguments as the framework gave them
    arguments: dict[str, Any]
    #: the actions the call amounts to, and the decision of each
    actions: list[Action]
    decisions: list[Decision]
    #: the most restrictive decision (the one that counts)
    decision: Decision
    #: set when an approver approved this call through the framework
    approved_by: ApprovalAnswer | None = None
    #: the arguments to forward when they differ (redacted); None = unchanged
    redacted_arguments: dict[str, Any] | None = None
    #: why enforcement itself failed (the verdict is then a deny)
    error: str | None = None
    _message: str | None = field(default=None, repr=False)

    @property
    def effect(self) -> Effect:
        return self.decision.decision

    @property
    def proceed(self) -> bool:
        """True when the tool may run (allow, log_only, alert, redact, or an approved call)."""
        if self.effect <= Effect.REDACT:
            return True
        return self.effect == Effect.REQUIRE_APPROVAL and self.approved_by is not None and self.approved_by.approved

    @property
    def needs_approval(self) -> bool:
        return self.effect == Effect.REQUIRE_APPROVAL and not self.proceed

    @property
    def approval_ids(self) -> list[str]:
        out = []
        for d in self.decisions:
            aid = d.extra.get("approval_id")
            if aid and d.decision == Effect.REQUIRE_APPROVAL and aid not in out:
                out.append(str(aid))
        return out

    @property
    def approval_id(self) -> str | None:
        ids = self.approval_ids
        return ids[0] if ids else None

    @property
    def retry_after(self) -> float | None:
        v = self.decision.extra.get("retry_after")
        try:
            return None if v is None else float(v)
        except (TypeError, ValueError):
            return None

    @property
    def arguments_to_forward(self) -> dict[str, Any]:
        return self.redacted_arguments if self.redacted_arguments is not None else self.arguments

    @property
    def redacted(self) -> bool:
        return self.redacted_arguments is not None

    @property
    def rule(self) -> str | None:
        for r in self.decision.rules:
            if r.effect == self.effect:
                return f"{r.policy}/{r.rule}"
        return None

    @property
    def message(self) -> str:
        """The text the model reads when the call does not run (or runs redacted)."""
        if self._message is not None:
            return self._message
        reason = self.decision.reason
        rule = f" [{self.rule}]" if self.rule else ""
        e = self.effect
        if e == Effect.TERMINATE:
            return f"Bastion terminated the session: {reason}{rule}. Stop; do not retry."
        if e == Effect.DENY:
            if self.retry_after is not None:
                return f"Bastion rate-limited this call: {reason}{rule}. Retry after {self.retry_after:g} seconds."
            return f"Bastion blocked this call: {reason}{rule}. Do not retry it; choose another approach or ask the user."
        if e == Effect.REQUIRE_APPROVAL and not self.proceed:
            ids = self.approval_ids
            roles = sorted({r for d in self.decisions for r in d.approver_roles})
            who = f" by {', '.join(roles)}" if roles else ""
            if ids:
                how = "; ".join(f"`bastion approvals approve {i} --reason TEXT --as APPROVER`" for i in ids)
                return (f"Bastion paused this call for approval{who}: {reason}{rule}. Approval id: {', '.join(ids)}. "
                        f"An approver can run {how}; then retry the same call unchanged.")
            return f"Bastion paused this call for approval{who}: {reason}{rule}. Wait for a human to approve it."
        if self.redacted:
            return f"Bastion redacted secrets from this call's arguments: {reason}{rule}."
        return reason

    def with_message(self, text: str) -> "Verdict":
        self._message = text
        return self

    def to_dict(self) -> dict[str, Any]:
        """A summary for logs and examples (no raw arguments: they may hold secrets)."""
        out: dict[str, Any] = {
            "tool": self.tool,
            "decision": self.effect.label,
            "proceed": self.proceed,
            "reason": self.decision.reason,
            "rule": self.rule,
            "actions": [f"{a.capability} {a.target or ''}".strip() for a in self.actions],
        }
        if self.approval_ids:
            out["approval_ids"] = self.approval_ids
        if self.approved_by is not None:
            out["approved_by"] = self.approved_by.approver
        if self.redacted:
            out["redacted"] = True
        if self.error:
            out["error"] = self.error
        return out


class Enforcer:
    """Maps tool calls to actions, decides them, and says what to enforce. Thread-safe.

    `Enforcer(engine)`; identity fields (`agent`, `session`, `environment`, `context`)
    are added to every action. `on_decision(verdict)` runs after each verdict (for
    example to print or count), `on_approval(verdict, answer)` when a framework-given
    approval lets a call through (to record it).
    """

    def __init__(
        self,
        engine: Any,
        *,
        toolmap: ToolMap | None = None,
        agent: Mapping[str, Any] | None = None,
        session: Mapping[str, Any] | str | None = None,
        environment: str | None = None,
        context: Mapping[str, Any] | None = None,
        on_decision: Callable[[Verdict], None] | None = None,
        on_approval: Callable[[Verdict, ApprovalAnswer], None] | None = None,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.toolmap = toolmap if toolmap is not None else ToolMap.builtin()
        base: dict[str, Any] = {}
        if agent:
            base["agent"] = dict(agent)
        if session:
            base["session"] = {"id": session} if isinstance(session, str) else dict(session)
        if environment:
            base["environment"] = environment
        if context:
            base["context"] = dict(context)
        self.base = base
        self.on_decision = on_decision
        self.on_approval = on_approval
        self._cache: OrderedDict[tuple[str, str], tuple[float, Verdict]] = OrderedDict()
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()

    @classmethod
    def from_policies(cls, policies: Sequence[str], *, engine_kwargs: Mapping[str, Any] | None = None, **kwargs: Any) -> "Enforcer":
        """An enforcer over a new engine for `policies` (files, directories, builtin:NAME)."""
        from bastion.engine import Engine

        return cls(Engine.from_paths(list(policies), **dict(engine_kwargs or {})), **kwargs)

    # ------------------------------------------------------------------ deciding

    def check_tool(self, tool: str, arguments: Any, *, call_id: str | None = None, base: Mapping[str, Any] | None = None) -> Verdict:
        """Decide one tool call. Never raises: an error is a deny verdict.

        `base` replaces the enforcer's identity fields for this call (e.g. a session id
        that arrives with each call)."""
        args = _arguments(arguments)
        ident = self.base if base is None else base
        key = None
        if call_id:
            key = (str(call_id), _digest_args(tool, args) + (_digest_args("", ident) if base is not None else ""))
            hit = self._cached(key)
            if hit is not None:
                return hit
        verdict = self._check(tool, args, call_id, lambda: self.toolmap.map(tool, jsonable(args), base=ident))
        if key is not None and verdict.error is None:
            self._remember(key, verdict)
        return verdict

    def check_actions(self, tool: str, actions: Iterable[Mapping[str, Any]], arguments: Any = None, *, call_id: str | None = None) -> Verdict:
        """Decide explicit actions (for example from `@guard(capability=...)`)."""
        args = _arguments(arguments)
        acts = list(actions)

        def mapped() -> list[MappedAction]:
            out = []
            for a in acts:
                merged = {**self.base, **dict(a)}
                ctx = {**(self.base.get("context") or {}), **(dict(a).get("context") or {})}
                ctx.setdefault("tool", tool)
                merged["context"] = ctx
                out.append(MappedAction(merged, "explicit"))
            return out

        return self._check(tool, args, call_id, mapped)

    def _check(self, tool: str, args: dict[str, Any], call_id: str | None, mapper: Callable[[], list[MappedAction]]) -> Verdict:
        try:
            mapped = mapper()
            actions: list[Action] = []
            for i, m in enumerate(mapped):
                data = dict(m.action)
                if call_id and "id" not in data:  # stable ids: a re-run of the same call de-duplicates in the audit
                    data["id"] = f"{call_id}#{i}" if len(mapped) > 1 else str(call_id)
                actions.append(Action.from_dict(data))
            decisions = [self.engine.decide(a) for a in actions]
            verdict = _combine(tool, args, actions, decisions)
            if verdict.effect in (Effect.REDACT, Effect.REQUIRE_APPROVAL) and any(d.decision == Effect.REDACT for d in decisions):
                verdict.redacted_arguments = self._redact_args(args)
        except Exception as exc:  # fail closed
            log.exception("enforcement failed for tool %s", tool)
            verdict = self._failed(tool, args, exc)
        self._notify(verdict)
        return verdict

    def _redact_args(self, args: dict[str, Any]) -> dict[str, Any]:
        redacted = self.engine.redact(args)
        if not isinstance(redacted, dict):
            raise TypeError("redaction did not return arguments")
        return redacted

    def _failed(self, tool: str, args: dict[str, Any], exc: BaseException) -> Verdict:
        message = _safe_error(self.engine, exc)
        action = Action(capability="tool.call", target=str(tool)[:200])
        decision = Decision(
            decision_id=new_id("d"),
            action_id=action.id,
            decision=Effect.DENY,
            reason=f"the enforcement point failed; failing closed ({message})",
            policy_ids=[],
            rules=[],
            severity=_high(),
            risk_score=80,
            timestamp=time.time(),
            error=message,
        )
        return Verdict(tool, args, [action], [decision], decision, error=message)

    def _notify(self, verdict: Verdict) -> None:
        if self.on_decision is not None:
            try:
                self.on_decision(verdict)
            except Exception:
                log.exception("on_decision callback failed")

    # ------------------------------------------------------------------ approvals

    def resume(self, tool: str, arguments: Any, answer: Any, *, requested: Verdict | None = None, call_id: str | None = None) -> Verdict:
        """Re-decide a paused call once the framework hands back an approver's answer.

        `requested` is the verdict that paused the call, when the framework kept it: its
        actions are decided again as they were (same ids, same digest), and arguments
        that changed since are refused."""
        args = _arguments(arguments)
        if requested is not None:
            if _digest_args(tool, args) != _digest_args(requested.tool, requested.arguments):
                return _blocked(requested, "Bastion blocked this call: its arguments changed after approval was requested.")
            acts = [MappedAction(a.to_dict(), "resume") for a in requested.actions]
            recheck: Callable[[], list[MappedAction]] = lambda: acts
        else:
            recheck = lambda: self.toolmap.map(tool, jsonable(args), base=self.base)
        try:
            ans = ApprovalAnswer.parse(answer)
        except ValueError as exc:
            base = requested or self._check(tool, args, call_id, recheck)
            return _blocked(base, f"Bastion blocked this call: the approval answer was not understood ({exc}); treating it as a denial.")
        if not ans.approved:
            base = requested or self._check(tool, args, call_id, recheck)
            who = f" by {ans.approver}" if ans.approver else ""
            why = f": {ans.reason}" if ans.reason else ""
            return _blocked(base, f"Bastion blocked this call: approval was denied{who}{why}. Do not retry it.")
        if call_id:  # the re-decision must not come from the cache
            with self._lock:
                for k in [k for k in self._cache if k[0] == str(call_id)]:
                    del self._cache[k]
        fresh = self._check(tool, args, call_id, recheck)
        if fresh.effect != Effect.REQUIRE_APPROVAL:
            return fresh  # allowed now (a store approval), or stricter (policy changed)
        if fresh.approval_ids:
            # store-backed approvals: only the store's approval counts; still pending
            return fresh
        fresh.approved_by = ans
        if self.on_approval is not None:
            try:
                self.on_approval(fresh, ans)
            except Exception:
                log.exception("on_approval callback failed")
        return fresh

    # ------------------------------------------------------------------ results

    def redact_result(self, value: Any) -> Any:
        """`value` with every secret replaced by a marker, before a model sees it.

        Strings, dicts and lists are walked; anything else is returned as is only when it
        holds no string (else it is rendered to text first). If no scanner is available
        the result is withheld (fail closed)."""
        try:
            return self.engine.redact(value)
        except Exception as exc:
            log.error("result redaction failed: %s", type(exc).__name__)
            return f"[tool result withheld by Bastion: it could not be scanned for secrets ({type(exc).__name__})]"

    # ------------------------------------------------------------------ cache

    def _cached(self, key: tuple[str, str]) -> Verdict | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                return None
            at, verdict = hit
            if self._clock() - at > self._cache_seconds:
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return verdict

    def _remember(self, key: tuple[str, str], verdict: Verdict) -> None:
        with self._lock:
            self._cache[key] = (self._clock(), verdict)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)


def _combine(tool: str, args: dict[str, Any], actions: list[Action], decisions: list[Decision]) -> Verdict:
    if not decisions:
        raise RuntimeError("a tool call mapped to no action")
    worst = decisions[0]
    for d in decisions[1:]:
        if d.decision > worst.decision:
            worst = d
    return Verdict(tool, args, actions, decisions, worst)


def _blocked(base: Verdict, message: str) -> Verdict:
    """A deny verdict built from `base` (the call as it was requested)."""
    d = base.decision
    denied = Decision(
        decision_id=new_id("d"),
        action_id=d.action_id,
        decision=Effect.DENY,
        reason=message,
        policy_ids=list(d.policy_ids),
        rules=list(d.rules),
        severity=d.severity,
        risk_score=d.risk_score,
        timestamp=time.time(),
        extra={k: v for k, v in d.extra.items() if k == "approval_id"},
    )
    return Verdict(base.tool, base.arguments, base.actions, base.decisions, denied, error=base.error).with_message(message)


def _arguments(arguments: Any) -> dict[str, Any]:
    if arguments is None:
        return {}
    if isinstance(arguments, Mapping):
        return {str(k): v for k, v in arguments.items()}
    from bastion.integrations.toolmap import _as_args

    return _as_args(arguments)


def _digest_args(tool: str, args: Mapping[str, Any]) -> str:
    from bastion.canonical import canonical, sha256_hex

    try:
        text = canonical({"tool": tool, "args": jsonable(args)})
    except Exception:
        text = repr((tool, sorted(args.items(), key=lambda kv: kv[0])))
    return sha256_hex(text.encode("utf-8", "surrogatepass"))


def _safe_error(engine: Any, exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    try:
        redacted = engine.redact(text)
        return redacted if isinstance(redacted, str) else type(exc).__name__
    except Exception:
        return type(exc).__name__


def _high() -> Any:
    from bastion.model import Severity

    return Severity.HIGH
