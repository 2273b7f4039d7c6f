"""Error types. Each names where the problem is: a field, or a file, line and column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from pydantic import ValidationError


class BastionError(Exception):
    """Base class of every error Bastion raises on purpose."""


def format_loc(loc: Iterable[Any]) -> str:
    """('rules', 3, 'effect') -> 'rules[3].effect'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class ActionError(BastionError, ValueError):
    """A malformed action. `problems` lists (field, message) pairs."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    @classmethod
    def from_validation(cls, exc: "ValidationError") -> "ActionError":
        problems: list[tuple[str, str]] = []
        for err in exc.errors():
            where = format_loc(err["loc"]) or "(action)"
            if err["type"] == "extra_forbidden":
                msg = "unknown field (free-form facts belong under 'args' or 'context')"
            elif err["type"] == "missing":
                msg = "field required"
            else:
                msg = err["msg"]
            problems.append((where, msg))
        text = "; ".join(f"{f}: {m}" for f, m in problems)
        return cls(f"invalid action: {text}", problems)


@dataclass(frozen=True)
class Problem:
    """One finding about a policy file, with its position."""

    file: str
    line: int | None
    column: int | None
    field: str | None
    message: str
    level: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}: {self.level}:{field} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
            "level": self.level,
        }


class PolicyError(BastionError):
    """A policy that cannot be loaded or compiled. Carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = [p for p in problems if p.level == "error"] or problems
        super().__init__("\n".join(str(p) for p in self.problems))


class DecisionError(BastionError):
    """An error raised while deciding; the engine turns it into a fail-closed deny."""
