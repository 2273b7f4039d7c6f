"""Time-window conditions: weekdays, hour ranges and weekly spans, in a timezone.

    time: {timezone: Europe/Paris, days: [mon-fri], hours: "09:00-17:00"}
    time: {timezone: America/New_York, weekly: {from: "fri 17:00", to: "mon 09:00"}}

The clock is the engine's (injectable), read once per decision and recorded in the
decision's timestamp, so a decision can be replayed exactly.
"""

from __future__ import annotations

import re
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bastion.compile.context import EvalContext

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_FULL = {d: i for i, d in enumerate(DAYS)} | {
    n: i for i, n in enumerate(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])
}
_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_POINT = re.compile(r"^\s*([A-Za-z]+)\s+(\d{1,2}:\d{2})\s*$")
WEEK = 7 * 24 * 60

KEYS = {"timezone", "days", "hours", "weekly"}


class TimeWindowError(ValueError):
    def __init__(self, message: str, path: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


def _day(name: Any, where: tuple[Any, ...]) -> int:
    key = str(name).strip().lower()
    if key not in _FULL:
        raise TimeWindowError(f"unknown weekday {name!r} (use mon, tue, ... sun)", where)
    return _FULL[key]


def _minutes(text: Any, where: tuple[Any, ...]) -> int:
    m = _HHMM.match(str(text))
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59 or (int(m.group(1)) == 24 and int(m.group(2))):
        raise TimeWindowError(f"invalid time of day {text!r} (use HH:MM, 00:00 to 24:00)", where)
    return int(m.group(1)) * 60 + int(m.group(2))


def _days(spec: Any, where: tuple[Any, ...]) -> set[int]:
    items = spec if isinstance(spec, list) else [spec]
    out: set[int] = set()
    for i, item in enumerate(items):
        text = str(item)
        if "-" in text:  # mon-fri, fri-mon (wraps)
            a, b = (_day(x, where + (i,)) for x in text.split("-", 1))
            d = a
            while True:
                out.add(d)
                if d == b:
                    break
                d = (d + 1) % 7
        else:
            out.add(_day(text, where + (i,)))
    return out


def _point(text: Any, where: tuple[Any, ...]) -> int:
    m = _POINT.match(str(text))
    if not m:
        raise TimeWindowError(f"invalid weekly time {text!r} (use e.g. 'fri 17:00')", where)
    return _day(m.group(1), where) * 24 * 60 + _minutes(m.group(2), where)


def compile_time_window(spec: Any, where: tuple[Any, ...]) -> Callable[[EvalContext], bool]:
    if not isinstance(spec, dict):
        raise TimeWindowError("time takes a mapping: {timezone, days, hours} or {timezone, weekly}", where)
    unknown = set(spec) - KEYS
    if unknown:
        raise TimeWindowError(f"unknown time-window key {sorted(unknown)[0]!r} (expected {sorted(KEYS)})", where)
    tz_name = spec.get("timezone", "UTC")
    try:
        tz = ZoneInfo(str(tz_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeWindowError(f"unknown timezone {tz_name!r}", where + ("timezone",)) from None

    spans: list[tuple[int, int]] = []  # minute-of-week [start, end), may wrap
    if "weekly" in spec:
        if "days" in spec or "hours" in spec:
            raise TimeWindowError("use either weekly or days/hours, not both", where)
        weekly = spec["weekly"]
        items = weekly if isinstance(weekly, list) else [weekly]
        for i, item in enumerate(items):
            at = where + ("weekly",) + ((i,) if isinstance(weekly, list) else ())
            if not isinstance(item, dict) or set(item) != {"from", "to"}:
                raise TimeWindowError("weekly takes {from: 'fri 17:00', to: 'mon 09:00'}", at)
            spans.append((_point(item["from"], at + ("from",)), _point(item["to"], at + ("to",))))
    else:
        days = _days(spec["days"], where + ("days",)) if "days" in spec else set(range(7))
        if "hours" in spec:
            text = str(spec["hours"])
            if "-" not in text:
                raise TimeWindowError("hours takes a range such as '09:00-17:00'", where + ("hours",))
            a, b = text.split("-", 1)
            start, end = _minutes(a, where + ("hours",)), _minutes(b, where + ("hours",))
        else:
            start, end = 0, 24 * 60
        for d in days:  # an overnight range (22:00-06:00) starts on the listed day
            base = d * 24 * 60
            spans.append((base + start, (base + end + (24 * 60 if end <= start else 0)) % WEEK))

    def in_window(ctx: EvalContext) -> bool:
        t = ctx.local_time(tz)
        minute = t.weekday() * 24 * 60 + t.hour * 60 + t.minute
        for a, b in spans:
            if a < b:
                if a <= minute < b:
                    return True
            elif a > b:  # wraps past Sunday midnight
                if minute >= a or minute < b:
                    return True
            else:  # a == b: the whole week
                return True
        return False

    return in_window
