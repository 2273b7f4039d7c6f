import json

import pytest

from bastion import Action, ActionError, Effect
from bastion.model import Severity


def test_only_capability_is_required_and_id_is_generated():
    a = Action.from_dict({"capability": "shell.exec"})
    b = Action.from_dict({"capability": "shell.exec"})
    assert a.id != b.id and a.id.startswith("a-")
    assert a.target is None and a.args == {} and a.agent.tags == ()


def test_full_contract_action_round_trips():
    data = {
        "id": "a-0001",
        "capability": "shell.exec",
        "target": "git push --force origin main",
        "args": {"cwd": "/home/dana/repo"},
        "agent": {"id": "coder-7", "role": "coding-agent", "team": "payments", "owner": "dana@example.com", "tags": ["phi-cleared"]},
        "session": {"id": "s-42", "parent_id": None, "depth": 0},
        "environment": "development",
        "resource": {"type": "repository", "path": "/home/dana/repo", "classification": "internal"},
        "risk": {"tier": "medium", "signals": []},
        "context": {},
    }
    a = Action.from_dict(data)
    assert a.to_dict() == data


@pytest.mark.parametrize(
    "data, field",
    [
        ({"capability": "x", "tagret": "y"}, "tagret"),
        ({"capability": "x", "agent": {"rol": "a"}}, "agent.rol"),
        ({"target": "y"}, "capability"),
        ({"capability": ""}, "capability"),
        ({"capability": "has space"}, "capability"),
        ({"capability": "x", "session": {"depth": -1}}, "session.depth"),
        ({"capability": "x", "args": "not a dict"}, "args"),
    ],
)
def test_malformed_actions_name_the_field(data, field):
    with pytest.raises(ActionError) as exc:
        Action.from_dict(data)
    assert any(f == field for f, _ in exc.value.problems), exc.value.problems
    assert field in str(exc.value)


def test_non_object_and_bad_json():
    with pytest.raises(ActionError, match="JSON object"):
        Action.from_dict(["capability"])
    with pytest.raises(ActionError, match="invalid JSON"):
        Action.from_json("{not json")


def test_actions_are_immutable():
    a = Action.from_dict({"capability": "x"})
    with pytest.raises(Exception):
        a.capability = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    "alias, effect",
    [
        ("autonomous", Effect.ALLOW),
        ("notify", Effect.ALERT),
        ("warn", Effect.ALERT),
        ("approval_required", Effect.REQUIRE_APPROVAL),
        ("blocked", Effect.DENY),
        ("sigkill", Effect.TERMINATE),
        ("sigstop", Effect.REQUIRE_APPROVAL),
        ("sigwarn", Effect.ALERT),
        ("Require-Approval", Effect.REQUIRE_APPROVAL),
    ],
)
def test_effect_aliases(alias, effect):
    assert Effect.parse(alias) is effect


def test_effect_order_is_restrictiveness():
    order = ["allow", "log_only", "alert", "redact", "require_approval", "deny", "terminate"]
    assert [Effect.parse(x) for x in order] == sorted(Effect)
    with pytest.raises(ValueError, match="unknown effect"):
        Effect.parse("maybe")
    assert Severity.parse("HIGH") is Severity.HIGH


def test_decision_json_has_contract_fields(write_policy):
    from bastion.engine import Engine

    p = write_policy(
        """
        policy: t
        rules:
          - id: r
            match: {capability: shell.exec}
            effect: deny
            reason: No shell
        """
    )
    d = Engine.from_paths([p]).decide({"id": "a-1", "capability": "shell.exec"}).to_dict()
    for key in ("decision_id", "action_id", "decision", "reason", "policy_ids", "rules", "severity", "risk_score", "approver_roles", "redactions", "timestamp"):
        assert key in d
    assert d["action_id"] == "a-1" and d["decision"] == "deny"
    assert d["rules"][0]["source"].endswith("policy.yaml:3")
    assert d["timestamp"].endswith("Z")
    json.dumps(d)


# --------------------------------------------------------------------------- timestamps

from hypothesis import given, settings, strategies as st  # noqa: E402

from bastion.model import _iso, _iso_slow  # noqa: E402


@settings(max_examples=3000)
@given(st.one_of(
    st.floats(min_value=-2e9, max_value=4e9, allow_nan=False),
    # many decisions within one second, and the rounding edges around whole seconds
    st.integers(min_value=1_700_000_000, max_value=1_700_000_003).flatmap(
        lambda s: st.floats(min_value=s - 1e-6, max_value=s + 1e-6) | st.floats(min_value=s, max_value=s + 1)
    ),
))
def test_cached_iso_timestamps_are_what_datetime_writes(ts: float) -> None:
    assert _iso(ts) == _iso_slow(ts)
    assert _iso(ts) == _iso_slow(ts)  # again: now from the per-second cache


def test_iso_timestamps_outside_the_cache_range_take_the_general_path() -> None:
    for ts in (-62135596800.0, 253402300799.0):  # year 1, year 9999
        assert _iso(ts) == _iso_slow(ts)
    for bad in (float("inf"), float("nan")):
        with pytest.raises((ValueError, OverflowError)):
            _iso_slow(bad)
        with pytest.raises((ValueError, OverflowError)):
            _iso(bad)
