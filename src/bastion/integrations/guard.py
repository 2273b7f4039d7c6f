"""`@guard`: enforce Bastion decisions on plain Python functions (sync and async).

    from bastion.integrations.guard import guard, configure

    configure(policies=["builtin:coding-agent"])          # or configure(engine=engine)

    @guard(capability="filesystem.read", target="path")
    def read_file(path: str) -> str: ...

A call is decided before the function runs. Allowed calls run (with secrets in their
arguments replaced by markers when the decision is `redact`), and secrets in the result
are redacted before it is returned. Blocked calls raise a typed exception instead:
`ActionDenied`, `RateLimited` (a deny carrying `retry_after`), `ApprovalRequired` (with
the `approval_id` when approvals are stored) or `SessionTerminated`. Without a
`capability`, the function is mapped like any tool, by its name (see `toolmap`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import weakref
from typing import Any, Callable, Mapping, TypeVar

from bastion.errors import BastionError
from bastion.integrations.enforce import ApprovalAnswer, Enforcer, Verdict, jsonable
from bastion.model import Decision, Effect

__all__ = [
    "ActionDenied",
    "ApprovalRequired",
    "GuardError",
    "RateLimited",
    "SessionTerminated",
    "configure",
    "default_enforcer",
    "guard",
    "guarded",
    "raise_for",
]

F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- exceptions


class GuardError(BastionError):
    """A guarded call that did not run. `decision` is the decision that stopped it."""

    def __init__(self, message: str, verdict: Verdict | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict

    @property
    def decision(self) -> Decision | None:
        return self.verdict.decision if self.verdict is not None else None

    @property
    def reason(self) -> str:
        return self.verdict.decision.reason if self.verdict is not None else str(self)


class ActionDenied(GuardError, PermissionError):
    """The policy denies the call."""


class RateLimited(ActionDenied):
    """A deny from a rate limit or budget; `retry_after` seconds (None when unknown)."""

    def __init__(self, message: str, verdict: Verdict | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, verdict)
        self.retry_after = retry_after


class ApprovalRequired(GuardError):
    """The call needs a human's approval; `approval_id` names the stored request, if any."""

    def __init__(self, message: str, verdict: Verdict | None = None, approval_id: str | None = None) -> None:
        super().__init__(message, verdict)
        self.approval_id = approval_id

    @property
    def approver_roles(self) -> list[str]:
        return list(self.decision.approver_roles) if self.decision is not None else []


class SessionTerminated(GuardError):
    """The policy ended the session: stop the agent, do not retry."""


def raise_for(verdict: Verdict) -> None:
    """Raise the exception that matches a verdict that does not proceed."""
    if verdict.proceed:
        return
    e = verdict.effect
    msg = verdict.message
    if e == Effect.TERMINATE:
        raise SessionTerminated(msg, verdict)
    if e == Effect.REQUIRE_APPROVAL:
        raise ApprovalRequired(msg, verdict, verdict.approval_id)
    if verdict.retry_after is not None:
        raise RateLimited(msg, verdict, verdict.retry_after)
    raise ActionDenied(msg, verdict)


# --------------------------------------------------------------------------- default enforcer

_default: Enforcer | None = None
_default_lock = threading.Lock()


def configure(engine: Any = None, *, policies: list[str] | None = None, **enforcer_kwargs: Any) -> Enforcer:
    """Set the enforcer `@guard` uses when none is given: from an engine or policy list."""
    global _default
    if engine is None:
        from bastion.engine import Engine

        if policies is None:
            from bastion.config import load_config

            policies = list(load_config()["policies"])
        engine = Engine.from_paths(policies)
    with _default_lock:
        _default = engine if isinstance(engine, Enforcer) else Enforcer(engine, **enforcer_kwargs)
        return _default


def default_enforcer() -> Enforcer:
    """The configured enforcer, built from `bastion.yaml` (or `builtin:coding-agent`) on first use."""
    if _default is None:
        return configure()
    return _default


# --------------------------------------------------------------------------- the decorator


def guard(
    fn: F | None = None,
    *,
    capability: str | None = None,
    target: str | Callable[[Mapping[str, Any]], Any] | None = None,
    tool: str | None = None,
    engine: Any = None,
    enforcer: Enforcer | None = None,
    args: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    redact_result: bool = True,
    wait_for_approval: float | None = None,
) -> Any:
    """Decide every call of the decorated function before it runs.

    `capability`/`target` say what the call is: `target` is a parameter name or a
    function of the bound arguments. Without `capability` the call is mapped by tool
    name (`tool`, default the function's name) like any framework tool. `args` may pick
    or rename the arguments that go into the action (default: all of them).
    `wait_for_approval=seconds` blocks on an approval store (issue 7's
    `engine.wait_for_approval`) instead of raising `ApprovalRequired` at once.
    """

    def decorate(func: F) -> F:
        sig = inspect.signature(func)
        if isinstance(target, str) and target not in sig.parameters:
            raise TypeError(f"@guard target {target!r} is not a parameter of {func.__qualname__}")
        name = tool or func.__name__

        def enf() -> Enforcer:
            if enforcer is not None:
                return enforcer
            if engine is not None:
                return _enforcer_for(engine)
            return default_enforcer()

        def check(bound: inspect.BoundArguments) -> tuple[Verdict, Enforcer]:
            e = enf()
            values = dict(bound.arguments)
            for pname, p in sig.parameters.items():  # **kwargs flattened into the arguments
                if p.kind is inspect.Parameter.VAR_KEYWORD and pname in values:
                    values.update(values.pop(pname))
            action_args = dict(args(values)) if args is not None else values
            if capability is None:
                return e.check_tool(name, action_args), e
            act: dict[str, Any] = {"capability": capability, "args": jsonable(action_args)}
            t = target(values) if callable(target) else values.get(target) if target else None
            if t is not None:
                act["target"] = t if isinstance(t, str) else str(jsonable(t))
            return e.check_actions(name, [act], action_args), e

        def rebind(bound: inspect.BoundArguments, verdict: Verdict) -> inspect.BoundArguments:
            if verdict.redacted_arguments is None:
                return bound
            red = verdict.redacted_arguments
            for pname in list(bound.arguments):
                p = sig.parameters[pname]
                if p.kind is inspect.Parameter.VAR_KEYWORD:
                    bound.arguments[pname] = {k: red.get(k, v) for k, v in bound.arguments[pname].items()}
                elif pname in red:
                    bound.arguments[pname] = red[pname]
            return bound

        def finish(e: Enforcer, result: Any) -> Any:
            if redact_result and isinstance(result, (str, dict, list, tuple, bytes)):
                return e.redact_result(result)
            return result

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*a: Any, **kw: Any) -> Any:
                bound = sig.bind(*a, **kw)
                bound.apply_defaults()
                verdict, e = check(bound)
                if verdict.needs_approval and wait_for_approval and verdict.approval_id:
                    verdict = await asyncio.to_thread(_wait, e, verdict, wait_for_approval)
                raise_for(verdict)
                bound = rebind(bound, verdict)
                return finish(e, await func(*bound.args, **bound.kwargs))

            async_wrapper.__bastion_guard__ = True  # type: ignore[attr-defined]
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*a: Any, **kw: Any) -> Any:
            bound = sig.bind(*a, **kw)
            bound.apply_defaults()
            verdict, e = check(bound)
            if verdict.needs_approval and wait_for_approval and verdict.approval_id:
                verdict = _wait(e, verdict, wait_for_approval)
            raise_for(verdict)
            bound = rebind(bound, verdict)
            return finish(e, func(*bound.args, **bound.kwargs))

        wrapper.__bastion_guard__ = True  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    if fn is not None:  # used bare: @guard
        return decorate(fn)
    return decorate


def guarded(func: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """The wrapper form: `safe_read = guarded(read_file, capability="filesystem.read", target="path")`."""
    return guard(**options)(func)


_enforcers: "weakref.WeakKeyDictionary[Any, Enforcer]" = weakref.WeakKeyDictionary()


def _enforcer_for(engine: Any) -> Enforcer:
    """One enforcer per engine (its verdict cache is shared by every function guarded with it)."""
    if isinstance(engine, Enforcer):
        return engine
    with _default_lock:
        e = _enforcers.get(engine)
        if e is None:
            e = _enforcers[engine] = Enforcer(engine)
        return e


def _wait(e: Enforcer, verdict: Verdict, timeout: float) -> Verdict:
    """Block on the approval store, then re-decide (the store's approval turns it into allow)."""
    waiter = getattr(e.engine, "wait_for_approval", None)
    if waiter is None:
        return verdict
    for aid in verdict.approval_ids:
        waiter(aid, timeout)
    return e.resume(verdict.tool, verdict.arguments, ApprovalAnswer(True, approval_id=verdict.approval_id), requested=verdict)
