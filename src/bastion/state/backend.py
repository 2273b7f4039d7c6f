"""The one interface every state backend implements (memory, SQL, Redis).

Small on purpose: the rules of the game (escalation, rate limits, budgets, sequence
rules, sub-agents) live once in the stage; a backend only stores and counts, and
makes each operation atomic across the threads (and, for SQL and Redis, the
processes) that share it. The same test suite runs against every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import nullcontext
from typing import Any, ContextManager, Iterable, Sequence

from bastion.errors import BastionError
from bastion.state.records import Grant, Mark, SessionRecord, WindowCheck, WindowResult


_NO_BATCH = nullcontext()


class StateError(BastionError):
    """The state backend cannot do what was asked (bad URL, unreachable server, bad data)."""


class StateBackend(ABC):
    """Session records, sliding windows, usage meters, sequence marks and spawn grants."""

    #: memory | sqlite | postgresql | redis
    name: str = ""
    #: where it lives, printable (never carries a password)
    url: str = ""

    # ------------------------------------------------------------------ sessions

    @abstractmethod
    def get_sessions(self, ids: Sequence[str]) -> list[SessionRecord | None]:
        """The records of `ids`, in order (None where unknown)."""

    def get_session(self, sid: str) -> SessionRecord | None:
        return self.get_sessions([sid])[0]

    @abstractmethod
    def create_session(self, record: SessionRecord) -> SessionRecord:
        """Store `record` unless the session exists; return the stored record (first writer wins)."""

    @abstractmethod
    def terminate(self, sid: str, reason: str, at: float, by: dict, template: SessionRecord | None = None) -> SessionRecord:
        """Mark a session terminated (creating it from `template` if unknown). A session
        already terminated keeps its first reason. Returns the stored record."""

    @abstractmethod
    def reopen(self, sid: str, at: float, by: str | None) -> SessionRecord | None:
        """Mark a terminated session active again; None when the session is unknown."""

    @abstractmethod
    def list_sessions(self, status: str | None = None, limit: int = 100) -> list[SessionRecord]:
        """Sessions, most recently started first."""

    @abstractmethod
    def children(self, sid: str) -> list[str]:
        """Sessions whose parent is `sid`."""

    # ------------------------------------------------------------------ sliding windows

    @abstractmethod
    def hit(self, checks: Sequence[WindowCheck], now: float, commit: bool = True) -> WindowResult:
        """Rate limits, atomically: if every window has room, record one hit in each
        (when `commit`); otherwise record nothing. A window holds hits in (now - window, now]."""

    @abstractmethod
    def add_event(self, key: str, now: float, windows: Sequence[float], retention: float) -> list[int]:
        """Record one event (a denial, an alert) and return how many fall in each window."""

    @abstractmethod
    def count_events(self, key: str, now: float, windows: Sequence[float]) -> list[int]:
        """How many events fall in each window (read-only)."""

    @abstractmethod
    def clear(self, keys: Iterable[str]) -> None:
        """Forget the windows/events under `keys`."""

    # ------------------------------------------------------------------ usage

    @abstractmethod
    def add_usage(self, scopes: Sequence[str], amounts: dict[str, float]) -> None:
        """Add `amounts` (meter -> non-negative number) to every scope."""

    @abstractmethod
    def get_usage(self, scopes: Sequence[str]) -> dict[str, dict[str, float]]:
        """scope -> meter -> total (missing scopes map to {})."""

    # ------------------------------------------------------------------ sequence marks

    @abstractmethod
    def add_marks(self, sid: str, marks: dict[str, str], at: float) -> None:
        """Remember that at `at` the session did something matching each tracker (tracker -> detail)."""

    @abstractmethod
    def get_marks(self, sid: str, trackers: Sequence[str] | None) -> dict[str, list[Mark]]:
        """tracker -> marks, newest first (at most MARKS_KEPT each); trackers None: all of them."""

    # ------------------------------------------------------------------ sub-agent grants

    @abstractmethod
    def put_grant(self, grant: Grant) -> None: ...

    @abstractmethod
    def get_grant(self, agent_id: str) -> Grant | None: ...

    # ------------------------------------------------------------------ lifecycle

    def batch(self) -> ContextManager[Any]:
        """Group the operations inside into one transaction where the backend has them."""
        return _NO_BATCH

    def close(self) -> None:
        pass

    def __enter__(self) -> "StateBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
