"""Loading policies: every error names file, line, column and field."""

import pytest

from bastion.engine import Engine
from bastion.errors import PolicyError
from bastion.policy.loader import load_policies


def problems_of(paths):
    with pytest.raises(PolicyError) as exc:
        Engine.from_paths(paths)
    return exc.value.problems


def test_yaml_syntax_error_has_position(write_policy):
    p = write_policy("policy: x\nrules:\n  - id: a\n    effect: [deny\n")
    (prob,) = problems_of([p])
    assert prob.file == str(p) and prob.line is not None and "YAML syntax error" in prob.message


def test_unknown_rule_field_with_did_you_mean(write_policy):
    p = write_policy(
        """
        policy: x
        rules:
          - id: a
            match: {capability: shell.exec}
            effct: deny
        """
    )
    probs = problems_of([p])
    assert any(pr.field == "rules[0].effct" and "did you mean 'effect'" in pr.message and pr.line == 5 for pr in probs), probs


def test_unknown_match_field_is_an_error_with_position(write_policy):
    p = write_policy(
        """
        policy: x
        rules:
          - id: a
            match:
              capability: shell.exec
              agent.rol: admin
            effect: deny
        """
    )
    (prob,) = problems_of([p])
    assert prob.line == 6 and prob.field == "rules[0].match.agent.rol" and "did you mean 'agent.role'" in prob.message


def test_invalid_regex_and_glob_are_load_errors(write_policy):
    p = write_policy(
        """
        policy: x
        rules:
          - id: bad-regex
            match: {target: {regex: "(unclosed"}}
            effect: deny
          - id: bad-glob
            match: {target: {glob: "[abc"}}
            effect: deny
        """
    )
    probs = problems_of([p])
    fields = {pr.field for pr in probs}
    assert "rules[0].match.target.regex" in fields and "rules[1].match.target.glob" in fields
    assert all(pr.line for pr in probs)


def test_backtracking_regex_is_compiled_by_re2_and_rejected_when_unsupported(write_policy):
    # backreferences need a backtracking engine; RE2 refuses them, so they are load errors
    p = write_policy(
        """
        policy: x
        rules:
          - id: backref
            match: {target: {regex: '(a+)\\1'}}
            effect: deny
        """
    )
    (prob,) = problems_of([p])
    assert "invalid regular expression" in prob.message


def test_unknown_extends_and_builtin(write_policy, tmp_path):
    p = write_policy("policy: x\nextends: [nowhere]\nrules: []\n")
    (prob,) = problems_of([p])
    assert prob.field == "extends[0]" and "nowhere" in prob.message and prob.line == 2
    probs = problems_of(["builtin:coding-agnt"])
    assert "did you mean 'builtin:coding-agent'" in probs[0].message


def test_empty_directory_and_missing_path(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (prob,) = problems_of([empty])
    assert "no policy files" in prob.message
    (prob,) = problems_of([tmp_path / "missing.yaml"])
    assert "no such file" in prob.message
    with pytest.raises(PolicyError, match="no policy given"):
        Engine.from_paths([])


def test_duplicate_rule_ids_and_policy_ids(write_policy, tmp_path):
    p = write_policy(
        """
        policy: x
        rules:
          - {id: a, effect: deny}
          - {id: a, effect: allow}
        """
    )
    probs = problems_of([p])
    assert any("duplicate rule id" in pr.message and pr.line == 4 for pr in probs)
    d = tmp_path / "two"
    write_policy("policy: same\nrules: []\n", "a.yaml", d)
    write_policy("policy: same\nrules: []\n", "b.yaml", d)
    probs = problems_of([d])
    assert any("also used by" in pr.message for pr in probs)


def test_directory_loads_every_policy_but_not_tests(write_policy, tmp_path):
    d = tmp_path / "pols"
    write_policy("policy: a\nrules: []\n", "a.yaml", d)
    write_policy("policy: b\nrules: []\n", "sub/b.yml", d)
    write_policy("tests: []\n", "a_test.yaml", d)
    assert sorted(lp.id for lp in load_policies([d])) == ["a", "b"]


def test_extends_inherits_rules_defaults_and_lets_a_child_replace_a_rule(write_policy, tmp_path):
    write_policy(
        """
        policy: base
        defaults: alert
        rules:
          - {id: r1, match: {capability: a}, effect: deny}
          - {id: r2, match: {capability: b}, effect: deny}
        """,
        "base.yaml",
    )
    child = write_policy(
        """
        policy: child
        extends: [base.yaml]
        rules:
          - {id: r2, match: {capability: b}, effect: log_only}
        """,
        "child.yaml",
    )
    (lp,) = load_policies([child])
    assert [r.rule.id for r in lp.rules] == ["r1", "r2"]
    assert lp.defaults.label == "alert" and lp.parents == ["base"]
    e = Engine(load_policies([child]))
    assert e.decide({"capability": "a"}).decision.label == "deny"
    assert e.decide({"capability": "b"}).decision.label == "log_only"
    assert e.decide({"capability": "c"}).decision.label == "alert"
    assert e.decide({"capability": "a"}).rules[0].source.endswith("base.yaml:4")


def test_extends_cycle_is_reported(write_policy):
    a = write_policy("policy: a\nextends: [b.yaml]\nrules: []\n", "a.yaml")
    write_policy("policy: b\nextends: [a.yaml]\nrules: []\n", "b.yaml")
    probs = problems_of([a])
    assert any("cycle" in pr.message for pr in probs)


def test_bad_values_name_their_field(write_policy):
    p = write_policy(
        """
        policy: x
        layer: galaxy
        combine: random
        rules:
          - id: a
            effect: require_approval
            timeout: soon
            on_timeout: maybe
            expires: not-a-date
        """
    )
    fields = {pr.field for pr in problems_of([p])}
    assert {"layer", "combine", "rules[0].timeout", "rules[0].on_timeout", "rules[0].expires"} <= fields


def test_failing_example_is_a_load_error(write_policy):
    p = write_policy(
        """
        policy: x
        rules:
          - id: a
            match: {capability: filesystem.read, target: {path: "*.pem"}}
            effect: deny
            examples:
              match: [{capability: filesystem.read, target: key.txt}]
              no_match: [{capability: filesystem.read, target: x/key.pem}]
        """
    )
    probs = problems_of([p])
    assert {pr.field for pr in probs} == {"rules[0].examples.match[0]", "rules[0].examples.no_match[0]"}
    assert all(pr.line in (7, 8) for pr in probs)


def test_cel_errors_are_load_errors(write_policy):
    p = write_policy(
        """
        policy: x
        rules:
          - id: a
            when: "action.args.rows >"
            effect: deny
          - id: b
            when: "1 + 2"
            effect: deny
        """
    )
    probs = problems_of([p])
    assert {pr.field for pr in probs} == {"rules[0].when", "rules[1].when"}
    assert any("boolean" in pr.message for pr in probs)


def test_error_messages_never_traceback_on_garbage(write_policy):
    for text in ["", "[]", "just a string", "policy: x\nrules: 5\n", "policy: x\nrules: [5]\n", "policy: [1]\n"]:
        p = write_policy(text, "g.yaml")
        probs = problems_of([p])
        assert probs and all(pr.file == str(p) for pr in probs)


def test_yaml_booleans_in_ids_get_a_hint(write_policy):
    p = write_policy("policy: x\nrules:\n  - {id: off, effect: deny}\n")
    (prob,) = problems_of([p])
    assert prob.field == "rules[0].id" and "quotes" in prob.message
    p = write_policy("policy: x\nrules:\n  - {id: a, effect: deny, reason: no}\n")
    (prob,) = problems_of([p])
    assert prob.field == "rules[0].reason" and "quotes" in prob.message


def test_approval_scopes_and_max_duration(write_policy):
    p = write_policy(
        """
        policy: x
        rules:
          - id: a
            effect: require_approval
            approvers: {roles: [lead], scopes: [once, session], max_duration: 8h}
        """
    )
    (lp,) = load_policies([p])
    appr = lp.rules[0].rule.approvers
    assert appr.scopes == ["once", "session"] and appr.max_duration == 8 * 3600
    bad = write_policy("policy: y\nrules:\n  - {id: a, effect: require_approval, approvers: {scopes: [forever]}}\n", "bad.yaml")
    (prob,) = problems_of([bad])
    assert prob.field == "rules[0].approvers.scopes[0]" and prob.line == 3
