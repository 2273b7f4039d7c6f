"""`when:` conditions in CEL, compiled once with cel-expr-python (the C++ CEL runtime).

Variables: `action` (the subject's action as a map: capability, target, args, agent,
session, environment, resource, risk, context), `facts` (analysis facts), `derived`
(bool) and `now` (timestamp). The expression must be boolean; that is checked at
compile time.

A missing key (`action.args.rows` when there is no `rows`) makes the condition
false, like the structured matchers; guard with `has(...)` to be explicit. Any
other evaluation error raises, and the engine fails closed (deny).
"""

from __future__ import annotations

from typing import Any, Callable

from cel_expr_python import cel

from bastion.compile.context import EvalContext
from bastion.errors import DecisionError
from bastion.model import Subject

_ENV = None


def _env() -> Any:
    global _ENV
    if _ENV is None:
        dyn_map = cel.Type.Map(cel.Type.STRING, cel.Type.DYN)
        _ENV = cel.NewEnv(
            variables={"action": dyn_map, "facts": dyn_map, "derived": cel.Type.BOOL, "now": cel.Type.TIMESTAMP}
        )
    return _ENV


class CelError(ValueError):
    pass


def compile_when(expression: str) -> Callable[[Subject, EvalContext], bool]:
    if not isinstance(expression, str) or not expression.strip():
        raise CelError("when must be a non-empty CEL expression")
    try:
        program = _env().compile(expression)
    except RuntimeError as exc:
        message = str(exc).replace("INVALID_ARGUMENT: ", "").strip()
        raise CelError(f"invalid CEL expression: {message}") from None
    rtype = program.return_type()
    if rtype != cel.Type.BOOL and rtype != cel.Type.DYN:
        raise CelError(f"when must be a boolean expression, this one returns {rtype.name()}")
    error_type = cel.Type.ERROR

    def when(s: Subject, c: EvalContext) -> bool:
        result = program.eval(data=c.cel_input(s))
        if result.type() == error_type:
            text = str(result.value())
            if "NOT_FOUND" in text or "no such key" in text.lower():
                return False
            raise DecisionError(f"CEL condition {expression!r} failed: {text}")
        value = result.value()
        if not isinstance(value, bool):
            raise DecisionError(f"CEL condition {expression!r} returned {type(value).__name__}, not bool")
        return value

    return when
