"""Per-decision evaluation context: the clock reading and lazily computed views.

One context is made per `decide()` and shared by every subject and rule, so that
expensive views (the secret scan, the CEL input map, local times) are computed at
most once per decision, and only when a rule asks for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable
from zoneinfo import ZoneInfo

from bastion.analysis.frozen import thaw
from bastion.model import Action, Subject


class EvalContext:
    __slots__ = ("now", "action", "_secrets", "_secrets_fn", "_cel", "_local", "state", "subjects")

    def __init__(
        self,
        now: float,
        action: Action,
        secrets_fn: Callable[[Action], dict[str, Any]] | None = None,
        state: Any = None,
    ) -> None:
        self.now = now
        self.action = action
        self._secrets: dict[str, Any] | None = None
        self._secrets_fn = secrets_fn
        self._cel: dict[int, dict[str, Any]] | None = None
        self._local: dict[str, datetime] | None = None
        #: session state view for stateful rules (None when the engine has no state)
        self.state = state
        #: the subjects analysis made of the action, once known (the state stage records them)
        self.subjects: tuple[Subject, ...] | None = None

    def secrets(self) -> dict[str, Any]:
        """{'kinds': [...], 'count': n} for the whole action, computed once."""
        if self._secrets is None:
            if self._secrets_fn is None:
                raise RuntimeError("a rule uses secrets.* but the engine has no secret scanner")
            self._secrets = self._secrets_fn(self.action)
        return self._secrets

    def local_time(self, tz: ZoneInfo) -> datetime:
        key = tz.key
        if self._local is None:
            self._local = {}
        dt = self._local.get(key)
        if dt is None:
            dt = self._local[key] = datetime.fromtimestamp(self.now, tz)
        return dt

    def cel_input(self, subject: Subject) -> dict[str, Any]:
        """The variables a CEL `when` expression sees, built once per subject."""
        if self._cel is None:
            self._cel = {}
        key = id(subject)
        data = self._cel.get(key)
        if data is None:
            action = self.action.to_dict()
            action["capability"] = subject.capability
            action["target"] = subject.target
            # cel-expr-python takes exact JSON types: analysis facts are frozen (tuples,
            # mapping subclasses), so they are thawed into plain dicts and lists here
            action["args"] = thaw(subject.args)
            data = {
                "action": action,
                "facts": thaw(subject.facts),
                "derived": subject.origin is not None,
                "now": datetime.fromtimestamp(self.now).astimezone(),
            }
            self._cel[key] = data
        return data
