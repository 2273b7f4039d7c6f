"""Who may approve: the configuration's `people` section, as a directory of roles.

    people:
      dana@example.com: {roles: [owner]}
      sam@example.com: {roles: [security-lead, owner], name: Sam}

Identities are compared case-insensitively (`Dana@Example.com` is `dana@example.com`):
otherwise a change of case would slip past separation of duties. A person entry with an
unknown key is an error (a misspelt `role:` would silently leave someone without roles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from bastion.errors import BastionError

PERSON_KEYS = ("roles", "name", "email", "slack")


class PeopleError(BastionError, ValueError):
    """The `people` section is malformed."""


def norm(identity: str | None) -> str:
    """The comparable form of an identity (email, agent id, user name)."""
    return (identity or "").strip().casefold()


@dataclass(frozen=True)
class Person:
    id: str
    roles: frozenset[str] = frozenset()
    name: str | None = None


@dataclass
class People:
    """A directory of people and their roles."""

    _by_id: dict[str, Person] = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: Any) -> "People":
        """Build from the `people` configuration value (a mapping; None or {} is empty)."""
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise PeopleError("people: expected a mapping of person -> {roles: [...]}")
        out = cls()
        for key, entry in section.items():
            if not isinstance(key, str) or not key.strip():
                raise PeopleError(f"people: a person's identity must be a non-empty string, got {key!r}")
            if entry is None:
                entry = {}
            if not isinstance(entry, Mapping):
                raise PeopleError(f"people.{key}: expected a mapping such as {{roles: [owner]}}")
            unknown = sorted(str(k) for k in entry if k not in PERSON_KEYS)
            if unknown:
                raise PeopleError(f"people.{key}: unknown key {unknown[0]!r} (expected {', '.join(PERSON_KEYS)})")
            roles = entry.get("roles", [])
            if isinstance(roles, str):
                roles = [roles]
            if not isinstance(roles, list) or not all(isinstance(r, str) and r.strip() for r in roles):
                raise PeopleError(f"people.{key}.roles: expected a list of role names")
            ident = norm(key)
            if ident in out._by_id:
                raise PeopleError(f"people: {key!r} is listed twice (identities are case-insensitive)")
            name = entry.get("name")
            out._by_id[ident] = Person(key.strip(), frozenset(r.strip() for r in roles), name if isinstance(name, str) else None)
        return out

    @classmethod
    def of(cls, mapping: Mapping[str, Iterable[str]]) -> "People":
        """Shorthand for tests and the API: {"sam@example.com": ["security-lead"]}."""
        return cls.from_config({k: {"roles": list(v)} for k, v in mapping.items()})

    def get(self, identity: str | None) -> Person | None:
        return self._by_id.get(norm(identity))

    def __contains__(self, identity: object) -> bool:
        return isinstance(identity, str) and norm(identity) in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def roles(self, identity: str | None) -> frozenset[str]:
        p = self.get(identity)
        return p.roles if p is not None else frozenset()

    def with_role(self, role: str) -> list[str]:
        return sorted(p.id for p in self._by_id.values() if role in p.roles)
