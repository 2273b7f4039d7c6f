"""In-memory state: the library default. Per process, thread-safe, bounded.

Nothing persists across restarts; for that use SQLite (`open_state("path.db")`), and
for several processes or servers use Redis. Memory stays bounded: windows are pruned
as they are used and swept every few thousand writes, and when more than
`max_sessions` sessions are known the oldest *active* ones are forgotten (terminated
sessions are kept until reopened: forgetting one would silently revive it).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import Iterable, Sequence

from bastion.state.backend import StateBackend
from bastion.state.records import (
    MARKS_KEPT,
    TERMINATED,
    Grant,
    Mark,
    SessionRecord,
    WindowCheck,
    WindowResult,
    retry_index,
)

_SWEEP_EVERY = 4096


class MemoryState(StateBackend):
    name = "memory"
    url = "memory"

    def __init__(self, *, max_sessions: int = 100_000) -> None:
        self.max_sessions = max_sessions
        self._lock = threading.RLock()
        self._sessions: dict[str, SessionRecord] = {}
        self._children: dict[str, list[str]] = defaultdict(list)
        #: key -> (window seconds, sorted hit times)
        self._windows: dict[str, tuple[float, list[float]]] = {}
        self._usage: dict[str, dict[str, float]] = {}
        self._marks: dict[str, dict[str, list[Mark]]] = {}
        self._grants: dict[str, Grant] = {}
        self._writes = 0
        #: how many sessions were ever terminated here (0 lets an engine whose policies use
        #: no state skip the state stage: no session of this backend can be terminated)
        self.terminations = 0

    # ------------------------------------------------------------------ sessions

    def get_sessions(self, ids: Sequence[str]) -> list[SessionRecord | None]:
        get = self._sessions.get
        return [get(i) for i in ids]

    def get_session(self, sid: str) -> SessionRecord | None:
        return self._sessions.get(sid)

    def create_session(self, record: SessionRecord) -> SessionRecord:
        with self._lock:
            existing = self._sessions.get(record.id)
            if existing is not None:
                return existing
            self._sessions[record.id] = record
            if record.parent_id is not None:
                self._children[record.parent_id].append(record.id)
            if len(self._sessions) > self.max_sessions:
                self._evict()
            return record

    def _evict(self) -> None:
        excess = len(self._sessions) - self.max_sessions
        for sid in [s for s, r in self._sessions.items() if r.status != TERMINATED][: max(excess, self.max_sessions // 10)]:
            rec = self._sessions.pop(sid)
            self._marks.pop(sid, None)
            self._usage.pop("session:" + sid, None)
            if rec.parent_id is not None and sid in self._children.get(rec.parent_id, ()):
                self._children[rec.parent_id].remove(sid)

    def terminate(self, sid: str, reason: str, at: float, by: dict, template: SessionRecord | None = None) -> SessionRecord:
        with self._lock:
            rec = self._sessions.get(sid)
            if rec is None:
                rec = self.create_session(template or SessionRecord(sid, started_at=at))
            if rec.terminated:
                return rec
            rec = rec.with_(status=TERMINATED, reason=reason, terminated_at=at, terminated_by=dict(by))
            self._sessions[sid] = rec
            self.terminations += 1
            return rec

    def reopen(self, sid: str, at: float, by: str | None) -> SessionRecord | None:
        with self._lock:
            rec = self._sessions.get(sid)
            if rec is None:
                return None
            rec = rec.with_(status="active", reopened_at=at, reopened_by=by)
            self._sessions[sid] = rec
            return rec

    def list_sessions(self, status: str | None = None, limit: int = 100) -> list[SessionRecord]:
        with self._lock:
            recs = [r for r in self._sessions.values() if status is None or r.status == status]
        recs.sort(key=lambda r: (-r.started_at, r.id))
        return recs[:limit]

    def children(self, sid: str) -> list[str]:
        with self._lock:
            return list(self._children.get(sid, ()))

    # ------------------------------------------------------------------ sliding windows

    def _live(self, key: str, window: float, now: float) -> list[float]:
        """The hits of `key` in (now - window, now], pruning older ones."""
        entry = self._windows.get(key)
        if entry is None:
            return []
        hits = entry[1]
        cut = bisect.bisect_right(hits, now - window)
        if cut:
            del hits[:cut]
        return hits

    def hit(self, checks: Sequence[WindowCheck], now: float, commit: bool = True) -> WindowResult:
        with self._lock:
            result = WindowResult(True)
            for c in checks:
                hits = self._live(c.key, c.window, now)
                upto = bisect.bisect_right(hits, now)  # hits in the future (a clock set back) do not count yet
                count = upto
                result.counts.append(count)
                idx = retry_index(count, c.limit)
                if idx is not None:
                    result.admitted = False
                    result.retry_at.append(hits[idx] + c.window)
                else:
                    result.retry_at.append(None)
            if result.admitted and commit:
                for c in checks:
                    entry = self._windows.get(c.key)
                    if entry is None:
                        self._windows[c.key] = (c.window, [now])
                    elif not entry[1] or entry[1][-1] <= now:
                        entry[1].append(now)
                        if entry[0] != c.window:
                            self._windows[c.key] = (max(entry[0], c.window), entry[1])
                    else:
                        bisect.insort(entry[1], now)
                        if entry[0] != c.window:
                            self._windows[c.key] = (max(entry[0], c.window), entry[1])
                self._wrote(now)
            return result

    def add_event(self, key: str, now: float, windows: Sequence[float], retention: float) -> list[int]:
        with self._lock:
            entry = self._windows.get(key)
            if entry is None:
                hits = [now]
                self._windows[key] = (retention, hits)
            else:
                hits = entry[1]
                cut = bisect.bisect_right(hits, now - retention)
                if cut:
                    del hits[:cut]
                if not hits or hits[-1] <= now:
                    hits.append(now)  # time moves forward: the usual case
                else:
                    bisect.insort(hits, now)
            self._writes += 1
            if self._writes % _SWEEP_EVERY == 0:
                self._sweep(now)
            if hits[-1] <= now:
                n = len(hits)
                return [n - bisect.bisect_right(hits, now - w) for w in windows]
            return self._counts(hits, now, windows)

    def count_events(self, key: str, now: float, windows: Sequence[float]) -> list[int]:
        with self._lock:
            entry = self._windows.get(key)
            return self._counts(entry[1] if entry else [], now, windows)

    @staticmethod
    def _counts(hits: list[float], now: float, windows: Sequence[float]) -> list[int]:
        upto = bisect.bisect_right(hits, now)
        return [upto - bisect.bisect_right(hits, now - w, 0, upto) for w in windows]

    def clear(self, keys: Iterable[str]) -> None:
        with self._lock:
            for k in keys:
                self._windows.pop(k, None)

    def _wrote(self, now: float) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        for key in [k for k, (w, hits) in self._windows.items() if not hits or hits[-1] <= now - w]:
            del self._windows[key]

    # ------------------------------------------------------------------ usage

    def add_usage(self, scopes: Sequence[str], amounts: dict[str, float]) -> None:
        with self._lock:
            for scope in scopes:
                meters = self._usage.setdefault(scope, {})
                for meter, value in amounts.items():
                    meters[meter] = meters.get(meter, 0.0) + value

    def get_usage(self, scopes: Sequence[str]) -> dict[str, dict[str, float]]:
        with self._lock:
            return {s: dict(self._usage.get(s, {})) for s in scopes}

    # ------------------------------------------------------------------ marks

    def add_marks(self, sid: str, marks: dict[str, str], at: float) -> None:
        with self._lock:
            per = self._marks.setdefault(sid, {})
            for tracker, detail in marks.items():
                old = per.get(tracker, ())
                mark = Mark(at, detail)
                # a new list each time: readers may hold the old one without a lock
                if not old or old[0].ts <= at:
                    per[tracker] = [mark, *old[: MARKS_KEPT - 1]]
                else:  # a clock set back: keep newest first
                    per[tracker] = sorted([mark, *old], key=lambda m: -m.ts)[:MARKS_KEPT]

    def get_marks(self, sid: str, trackers: Sequence[str] | None) -> dict[str, list[Mark]]:
        per = self._marks.get(sid)
        if not per:
            return {}
        # lists are replaced, never changed in place: no copy, no lock needed
        return {t: per[t] for t in (list(per) if trackers is None else trackers) if t in per}

    # ------------------------------------------------------------------ grants

    def put_grant(self, grant: Grant) -> None:
        with self._lock:
            self._grants[grant.agent_id] = grant

    def get_grant(self, agent_id: str) -> Grant | None:
        return self._grants.get(agent_id)
