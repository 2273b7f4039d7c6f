"""Redis state: for several processes or servers sharing limits and session state.

Every operation that must be atomic is: a rate-limit check-and-record is one Lua
script over all the windows an action meets (so N processes sharing a limit of 100
admit exactly 100), escalation counts are one MULTI transaction, a termination is an
optimistic WATCH/MULTI update of the session record. Times come from the caller (the
engine's clock) as exact decimal strings, never from the server, so decisions are
replayable and tests can inject a clock.

Keys (prefix `bastion:` by default, `?prefix=` in the URL to change it):
`s:{sid}` session record (JSON), `sessions` (zset by start time), `terminated` (set),
`c:{sid}` children, `w:{key}` sliding windows (zset of hit times, expiring with the
window), `u:{scope}` usage (hash), `m:{sid}:{tracker}` sequence marks (zset, the
newest 100), `mt:{sid}` a session's trackers, `g:{agent}` spawn grants. Sessions are
kept until deleted: a terminated session must stay terminated until it is reopened.
Single Redis servers (and replicas) are supported, not Redis Cluster.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bastion.state.backend import StateBackend, StateError
from bastion.state.records import MARKS_KEPT, TERMINATED, Grant, Mark, SessionRecord, WindowCheck, WindowResult

_HIT = """
local now = ARGV[1]
local commit = ARGV[2] == "1"
local member = ARGV[3]
local admitted = 1
local out = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[1 + 3 * i])
  local cut = ARGV[2 + 3 * i]
  if commit then redis.call("ZREMRANGEBYSCORE", KEYS[i], "-inf", cut) end
  local count = redis.call("ZCOUNT", KEYS[i], "(" .. cut, now)
  local oldest = ""
  if count >= limit then
    admitted = 0
    local r = redis.call("ZRANGEBYSCORE", KEYS[i], "(" .. cut, now, "WITHSCORES", "LIMIT", count - limit, 1)
    if #r >= 2 then oldest = r[2] end
  end
  out[#out + 1] = count
  out[#out + 1] = oldest
end
if admitted == 1 and commit then
  for i = 1, #KEYS do
    redis.call("ZADD", KEYS[i], now, member)
    redis.call("PEXPIRE", KEYS[i], ARGV[3 + 3 * i])
  end
end
table.insert(out, 1, admitted)
return out
"""


#: store a record unless present; return the existing one (Redis 6 has no SET NX GET)
_CREATE = """
if redis.call("SET", KEYS[1], ARGV[1], "NX") then return false end
return redis.call("GET", KEYS[1])
"""


def _num(t: float) -> str:
    return repr(float(t))


def display_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{parts.username or ''}:***@{host}", parts.path, parts.query, parts.fragment))


class RedisState(StateBackend):
    name = "redis"

    def __init__(self, url: str, *, prefix: str | None = None, timeout: float = 2.0, client: Any = None) -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - an optional extra
            raise StateError("Redis state needs redis-py: pip install 'bastion-policy[redis]'") from None
        self._redis = redis
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "prefix"]
        url_prefix = dict(parse_qsl(parts.query)).get("prefix")
        self.prefix = prefix if prefix is not None else (url_prefix if url_prefix is not None else "bastion:")
        clean = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
        self.url = display_url(clean)
        try:
            self.r = client if client is not None else redis.Redis.from_url(clean, socket_timeout=timeout, socket_connect_timeout=timeout)
            self.r.ping()
        except redis.RedisError as exc:
            raise StateError(f"cannot reach Redis at {self.url}: {exc}") from None
        except ValueError as exc:
            raise StateError(f"invalid Redis URL {self.url}: {exc}") from None
        self._hit = self.r.register_script(_HIT)
        self._create = self.r.register_script(_CREATE)

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _wrap(self, exc: Exception) -> StateError:
        return StateError(f"Redis state at {self.url}: {exc}")

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._redis.RedisError as exc:
            raise self._wrap(exc) from None

    # ------------------------------------------------------------------ sessions

    def get_sessions(self, ids: Sequence[str]) -> list[SessionRecord | None]:
        if not ids:
            return []
        raw = self._call(self.r.mget, [self._k("s", i) for i in ids])
        return [SessionRecord.from_json(x) if x is not None else None for x in raw]

    def get_session(self, sid: str) -> SessionRecord | None:
        raw = self._call(self.r.get, self._k("s", sid))
        return SessionRecord.from_json(raw) if raw is not None else None

    def create_session(self, record: SessionRecord) -> SessionRecord:
        key = self._k("s", record.id)
        old = self._call(self._create, keys=[key], args=[record.to_json()])
        if old is not None:
            return SessionRecord.from_json(old)
        self._index(record)
        return record

    def _index(self, record: SessionRecord) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.zadd(self._k("sessions"), {record.id: record.started_at})
        if record.parent_id is not None:
            pipe.sadd(self._k("c", record.parent_id), record.id)
        if record.terminated:
            pipe.sadd(self._k("terminated"), record.id)
        self._call(pipe.execute)

    def _update(self, sid: str, change: Any) -> SessionRecord | None:
        """Apply `change(record) -> record | None` atomically (WATCH/MULTI, retried on conflict)."""
        key = self._k("s", sid)
        redis = self._redis
        try:
            with self.r.pipeline() as pipe:
                while True:
                    try:
                        pipe.watch(key)
                        raw = pipe.get(key)
                        rec = SessionRecord.from_json(raw) if raw is not None else None
                        new = change(rec)
                        if new is None or new is rec:
                            pipe.unwatch()
                            return rec
                        pipe.multi()
                        pipe.set(key, new.to_json())
                        pipe.zadd(self._k("sessions"), {sid: new.started_at})
                        if new.terminated:
                            pipe.sadd(self._k("terminated"), sid)
                        else:
                            pipe.srem(self._k("terminated"), sid)
                        if rec is None and new.parent_id is not None:
                            pipe.sadd(self._k("c", new.parent_id), sid)
                        pipe.execute()
                        return new
                    except redis.WatchError:
                        continue
        except redis.RedisError as exc:
            raise self._wrap(exc) from None

    def terminate(self, sid: str, reason: str, at: float, by: dict, template: SessionRecord | None = None) -> SessionRecord:
        def change(rec: SessionRecord | None) -> SessionRecord:
            if rec is None:
                rec = template if template is not None and template.id == sid else SessionRecord(sid, started_at=at)
            elif rec.terminated:
                return rec
            return rec.with_(status=TERMINATED, reason=reason, terminated_at=at, terminated_by=dict(by))

        out = self._update(sid, change)
        assert out is not None
        return out

    def reopen(self, sid: str, at: float, by: str | None) -> SessionRecord | None:
        return self._update(sid, lambda rec: None if rec is None else rec.with_(status="active", reopened_at=at, reopened_by=by))

    def list_sessions(self, status: str | None = None, limit: int = 100) -> list[SessionRecord]:
        if status == TERMINATED:
            ids = sorted(self._call(self.r.smembers, self._k("terminated")))
            recs = [r for r in self.get_sessions([i.decode() for i in ids]) if r is not None]
        else:
            recs = []
            start = 0
            batch = max(limit, 100)
            while len(recs) < limit:
                ids = self._call(self.r.zrevrange, self._k("sessions"), start, start + batch - 1)
                if not ids:
                    break
                start += batch
                recs.extend(r for r in self.get_sessions([i.decode() for i in ids]) if r is not None and (status is None or r.status == status))
        recs.sort(key=lambda r: (-r.started_at, r.id))
        return recs[:limit]

    def children(self, sid: str) -> list[str]:
        return sorted(x.decode() for x in self._call(self.r.smembers, self._k("c", sid)))

    # ------------------------------------------------------------------ sliding windows

    def hit(self, checks: Sequence[WindowCheck], now: float, commit: bool = True) -> WindowResult:
        args: list[Any] = [_num(now), "1" if commit else "0", f"{_num(now)}:{os.urandom(8).hex()}"]
        for c in checks:
            args.extend([c.limit, _num(now - c.window), int(c.window * 1000) + 1000])
        raw = self._call(self._hit, keys=[self._k("w", c.key) for c in checks], args=args)
        result = WindowResult(bool(raw[0]))
        for i, c in enumerate(checks):
            count, oldest = int(raw[1 + 2 * i]), raw[2 + 2 * i]
            result.counts.append(count)
            if count >= c.limit:
                result.retry_at.append(float(oldest) + c.window if oldest else now + c.window)
            else:
                result.retry_at.append(None)
        return result

    def add_event(self, key: str, now: float, windows: Sequence[float], retention: float) -> list[int]:
        k = self._k("w", key)
        pipe = self.r.pipeline(transaction=True)
        pipe.zremrangebyscore(k, "-inf", _num(now - retention))
        pipe.zadd(k, {f"{_num(now)}:{os.urandom(8).hex()}": now})
        pipe.pexpire(k, int(retention * 1000) + 1000)
        for w in windows:
            pipe.zcount(k, f"({_num(now - w)}", _num(now))
        out = self._call(pipe.execute)
        return [int(x) for x in out[3:]]

    def count_events(self, key: str, now: float, windows: Sequence[float]) -> list[int]:
        if not windows:
            return []
        k = self._k("w", key)
        pipe = self.r.pipeline(transaction=False)
        for w in windows:
            pipe.zcount(k, f"({_num(now - w)}", _num(now))
        return [int(x) for x in self._call(pipe.execute)]

    def clear(self, keys: Iterable[str]) -> None:
        names = [self._k("w", k) for k in keys]
        if names:
            self._call(self.r.delete, *names)

    # ------------------------------------------------------------------ usage

    def add_usage(self, scopes: Sequence[str], amounts: dict[str, float]) -> None:
        if not amounts or not scopes:
            return
        pipe = self.r.pipeline(transaction=True)
        for scope in scopes:
            for meter, value in amounts.items():
                pipe.hincrbyfloat(self._k("u", scope), meter, value)
        self._call(pipe.execute)

    def get_usage(self, scopes: Sequence[str]) -> dict[str, dict[str, float]]:
        pipe = self.r.pipeline(transaction=False)
        for scope in scopes:
            pipe.hgetall(self._k("u", scope))
        rows = self._call(pipe.execute) if scopes else []
        return {s: {k.decode(): float(v) for k, v in row.items()} for s, row in zip(scopes, rows)}

    # ------------------------------------------------------------------ marks

    def add_marks(self, sid: str, marks: dict[str, str], at: float) -> None:
        pipe = self.r.pipeline(transaction=True)
        for tracker, detail in marks.items():
            k = self._k("m", sid, tracker)
            pipe.zadd(k, {json.dumps([_num(at), detail, os.urandom(4).hex()]): at})
            pipe.zremrangebyrank(k, 0, -(MARKS_KEPT + 1))
            pipe.sadd(self._k("mt", sid), tracker)
        self._call(pipe.execute)

    def get_marks(self, sid: str, trackers: Sequence[str] | None) -> dict[str, list[Mark]]:
        if trackers is None:
            trackers = sorted(x.decode() for x in self._call(self.r.smembers, self._k("mt", sid)))
        if not trackers:
            return {}
        pipe = self.r.pipeline(transaction=False)
        for t in trackers:
            pipe.zrevrange(self._k("m", sid, t), 0, MARKS_KEPT - 1)
        out: dict[str, list[Mark]] = {}
        for t, rows in zip(trackers, self._call(pipe.execute)):
            if rows:
                items = [json.loads(r) for r in rows]
                out[t] = [Mark(float(ts), detail) for ts, detail, _ in items]
        return out

    # ------------------------------------------------------------------ grants

    def put_grant(self, grant: Grant) -> None:
        self._call(self.r.set, self._k("g", grant.agent_id), grant.to_json())

    def get_grant(self, agent_id: str) -> Grant | None:
        raw = self._call(self.r.get, self._k("g", agent_id))
        return Grant.from_json(raw) if raw is not None else None

    def close(self) -> None:
        try:
            self.r.close()
        except Exception:  # pragma: no cover
            pass

    def delete_all(self) -> int:
        """Delete every key under this backend's prefix (tests, and resetting a deployment)."""
        n = 0
        for key in self.r.scan_iter(match=_glob_escape(self.prefix) + "*", count=1000):
            n += self._call(self.r.delete, key)
        return n


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
