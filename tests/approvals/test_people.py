"""The people directory from the configuration: shapes, errors, case-insensitive identities."""

from __future__ import annotations

import pytest

from bastion.approvals import People, PeopleError


def test_directory_from_config() -> None:
    people = People.from_config({
        "Dana@Example.com": {"roles": ["owner"], "name": "Dana"},
        "sam@example.com": {"roles": "security-lead"},
        "ops-bot": None,
    })
    assert len(people) == 3
    assert people.roles("dana@example.com") == {"owner"} and people.get("DANA@example.com").name == "Dana"
    assert people.roles("sam@example.com") == {"security-lead"} and people.roles("ops-bot") == frozenset()
    assert "SAM@EXAMPLE.COM" in people and "eve@example.com" not in people and 42 not in people
    assert people.with_role("owner") == ["Dana@Example.com"]
    assert People.from_config(None).roles("x") == frozenset() and len(People.from_config({})) == 0


@pytest.mark.parametrize(
    "section, message",
    [
        (["dana"], "expected a mapping of person"),
        ({"": {"roles": []}}, "non-empty string"),
        ({"dana@example.com": ["owner"]}, r"expected a mapping such as"),
        ({"dana@example.com": {"role": ["owner"]}}, "unknown key 'role'"),
        ({"dana@example.com": {"roles": [""]}}, "list of role names"),
        ({"dana@example.com": {"roles": {"owner": True}}}, "list of role names"),
        ({"dana@example.com": {}, "DANA@example.com": {}}, "listed twice"),
    ],
)
def test_bad_people_sections(section: object, message: str) -> None:
    with pytest.raises(PeopleError, match=message):
        People.from_config(section)
