"""The versioned policy store: push, revert, enable, fork; approve or reject; activate; read.

Every edit is a new version (author, time, message, content hash); nothing is
rewritten. A version is validated (with everything else active) before it is stored
and again before it becomes active; the change-management policies (changes.py)
decide whether it activates at once or waits for a second person. A version waiting
for approval is not used for decisions: `active_texts()` / `engine()` read only the
active version of each policy.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from bastion.approvals.ledger import AuditedTx, audited, reading
from bastion.approvals.people import People
from bastion.approvals.request import KIND_POLICY_CHANGE, iso, ms
from bastion.errors import BastionError, PolicyError, Problem
from bastion.lifecycle.changes import edit_action, governance_engine
from bastion.lifecycle.diff import PolicyDiff, diff_policies
from bastion.lifecycle.policyset import Texts, builtin_text, build_engine, content_hash, parse_all, read_sources, replace, store_key
from bastion.model import Effect
from bastion.policy.document import Policy
from bastion.policy.loader import BUILTIN_PREFIX, parse_policy_text

STATES = ("proposed", "active", "superseded", "rejected", "expired", "withdrawn")
ORIGINS = ("push", "revert", "enable", "fork")

_COLUMNS = "name, version, content, content_hash, author, created_ms, message, origin, based_on, state, approval_id, state_ms, state_by"
#: the `policy:` line of a YAML policy (a fixed pattern: no backtracking on any input)
_POLICY_LINE = re.compile(r"^policy:[ \t]*[^\n]*$", re.M)


class LifecycleError(BastionError):
    """A policy store operation that cannot be done (unknown version, wrong state, ...)."""


@dataclass
class PolicyVersion:
    name: str
    version: int
    content: str
    content_hash: str
    author: str
    created_at: float
    message: str
    origin: str
    based_on: int | None
    state: str
    approval_id: str | None
    state_at: float
    state_by: str | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> "PolicyVersion":
        name, version, content, h, author, created, message, origin, based_on, state, approval_id, state_ms, state_by = row
        return cls(name, int(version), content, h, author, int(created) / 1000.0, message, origin,
                   None if based_on is None else int(based_on), state, approval_id, int(state_ms) / 1000.0, state_by)

    @property
    def key(self) -> str:
        return store_key(self.name, self.version)

    @property
    def label(self) -> str:
        return f"v{self.version}"

    def doc(self) -> Policy:
        doc, _ = parse_policy_text(self.content, self.key)
        return doc

    def to_dict(self, content: bool = False) -> dict[str, Any]:
        out = {
            "policy": self.name,
            "version": self.version,
            "state": self.state,
            "content_hash": self.content_hash,
            "author": self.author,
            "created_at": iso(self.created_at),
            "message": self.message,
            "origin": self.origin,
            "based_on": self.based_on,
            "approval_id": self.approval_id,
            "state_at": iso(self.state_at),
            "state_by": self.state_by,
        }
        if content:
            out["content"] = self.content
        return out


@dataclass
class PushResult:
    """What happened to one proposed policy: active, proposed (waiting), or unchanged."""

    name: str
    state: str
    version: int | None = None
    approval_id: str | None = None
    diff: PolicyDiff | None = None
    decision: dict[str, Any] | None = None
    approver_roles: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"policy": self.name, "state": self.state, "version": self.version}
        if self.approval_id:
            out["approval_id"] = self.approval_id
            out["approver_roles"] = self.approver_roles
        if self.decision is not None:
            out["change_decision"] = {k: self.decision.get(k) for k in ("decision", "reason", "rules")}
        if self.diff is not None:
            out["diff"] = self.diff.to_dict()
        return out


class PolicyStore:
    """Versions of policies on a store, with change management through approvals."""

    def __init__(self, store: Any, people: People | dict[str, Any] | None = None, *, approvals: Any = None, clock: Any = time.time) -> None:
        import bastion.lifecycle.schema  # noqa: F401 - registers the tables

        self.store = store
        if "policies" not in store.schema_versions():
            store.migrate()
        if approvals is None:
            from bastion.approvals.service import ApprovalService

            approvals = ApprovalService(store, people, clock=clock)
        self.approvals = approvals
        self.clock = clock

    # ------------------------------------------------------------------ reading

    def names(self) -> list[str]:
        with reading(self.store) as r:
            return [n for (n,) in r.execute("SELECT DISTINCT name FROM bastion_policy_versions ORDER BY name")]

    def versions(self, name: str) -> list[PolicyVersion]:
        """Every version of `name`, oldest first (LifecycleError when there are none)."""
        self.approvals.expire_due()
        with reading(self.store) as r:
            out = self._versions(r, name)
        if not out:
            raise LifecycleError(f"no policy {name!r} in the store")
        return out

    def version(self, name: str, version: int) -> PolicyVersion:
        self.approvals.expire_due()
        with reading(self.store) as r:
            return self._version(r, name, version)

    def active(self) -> dict[str, PolicyVersion]:
        """The active version of every policy, by name. Proposed versions are never here."""
        with reading(self.store) as r:
            return self._active(r)

    def active_texts(self) -> Texts:
        return _texts(self.active())

    def engine(self, *, shadow: bool = False, **kwargs: Any) -> Any:
        """An Engine over the active versions (with shadow stages for versions in shadow mode)."""
        active = self.active()
        if not active:
            raise LifecycleError("the policy store has no active policy: push one, or `bastion templates enable NAME`")
        if shadow:
            kwargs["stages"] = [*self.shadow_stages(), *kwargs.get("stages", ())]
        return build_engine(_texts(active), **kwargs)

    def _versions(self, r: Any, name: str) -> list[PolicyVersion]:
        rows = r.execute(f"SELECT {_COLUMNS} FROM bastion_policy_versions WHERE name = ? ORDER BY version", (name,))
        return [PolicyVersion.from_row(row) for row in rows]

    def _version(self, r: Any, name: str, version: int) -> PolicyVersion:
        rows = r.execute(f"SELECT {_COLUMNS} FROM bastion_policy_versions WHERE name = ? AND version = ?", (name, int(version)))
        if not rows:
            known = [v.version for v in self._versions(r, name)]
            hint = f" (it has v{known[0]}..v{known[-1]})" if known else " (no such policy in the store)"
            raise LifecycleError(f"no version {version} of policy {name!r}{hint}")
        return PolicyVersion.from_row(rows[0])

    def _active(self, r: Any) -> dict[str, PolicyVersion]:
        rows = r.execute(f"SELECT {_COLUMNS} FROM bastion_policy_versions WHERE state = ? ORDER BY name", ("active",))
        return {v.name: v for v in (PolicyVersion.from_row(row) for row in rows)}

    # ------------------------------------------------------------------ diff

    def diff(self, name: str, v1: int, v2: int) -> PolicyDiff:
        a, b = self.version(name, v1), self.version(name, v2)
        return diff_policies(a.doc(), b.doc(), a.label, b.label)

    # ------------------------------------------------------------------ proposing

    def push(self, sources: Iterable[str], author: str, message: str, *, now: float | None = None) -> list[PushResult]:
        """Propose the policies in `sources` (files, directories) as new versions."""
        texts = read_sources(sources)
        docs = parse_all(texts)
        seen: dict[str, str] = {}
        for key, doc in docs.items():
            if doc.policy in seen:
                raise PolicyError([Problem(key, None, None, "policy", f"policy id {doc.policy!r} is also used by {seen[doc.policy]}")])
            seen[doc.policy] = key
        self._check_extends(docs, set(self.active()) | set(seen))
        build_engine(replace(self.active_texts(), texts))  # the whole push must load together
        return [self.propose(doc.policy, texts[key], author, message, "push", now=now) for key, doc in docs.items()]

    def revert(self, name: str, version: int, author: str, message: str | None = None, *, now: float | None = None) -> PushResult:
        """A new version with the content of `version`."""
        old = self.version(name, version)
        return self.propose(name, old.content, author, message or f"revert to v{version}", "revert", based_on=version, now=now)

    def enable_builtin(self, name: str, author: str, message: str | None = None, *, now: float | None = None) -> PushResult:
        """Put a built-in policy in the store (as `builtin:NAME`), through change management."""
        bare = name.removeprefix(BUILTIN_PREFIX)
        return self.propose(f"{BUILTIN_PREFIX}{bare}", builtin_text(bare), author, message or f"enable builtin:{bare}", "enable", now=now)

    def fork(self, source: str, new_id: str, author: str, message: str | None = None, *, now: float | None = None) -> PushResult:
        """An editable copy of a built-in (or of a stored policy's active version) under `new_id`."""
        if source.startswith(BUILTIN_PREFIX) or source not in self.active():
            text = builtin_text(source)
        else:
            text = self.active()[source].content
        if new_id in self.names():
            raise LifecycleError(f"policy {new_id!r} already exists in the store: push a new version of it instead")
        if not _POLICY_LINE.search(text):
            raise LifecycleError(f"cannot find the 'policy:' line of {source} to rename it")
        forked = _POLICY_LINE.sub(lambda _m: f"policy: {_yaml_scalar(new_id)}", text, count=1)
        return self.propose(new_id, forked, author, message or f"fork of {source}", "fork", now=now)

    def propose(
        self,
        name: str,
        content: str,
        author: str,
        message: str,
        origin: str,
        *,
        based_on: int | None = None,
        now: float | None = None,
    ) -> PushResult:
        """Store `content` as the next version of `name`; change management decides what happens next."""
        now = self.clock() if now is None else now
        author = self._check_author(author)
        message = (message or "").strip()
        if not message:
            raise LifecycleError("a message is required: say what the change does and why (-m)")
        redacted, _ = self.store.get_redactor().redact_value(message)
        message = redacted if isinstance(redacted, str) else message
        if origin not in ORIGINS:
            raise LifecycleError(f"unknown origin {origin!r}")
        doc, _ = parse_policy_text(content, store_key(name, 0))
        if doc.policy != name:
            raise LifecycleError(f"the content declares policy {doc.policy!r}, not {name!r}")
        h = content_hash(content)
        refused: LifecycleError | None = None
        with audited(self.store) as tx:
            versions = self._versions(tx, name)
            latest = versions[-1] if versions else None
            if latest is not None and latest.content_hash == h and latest.state in ("active", "proposed"):
                return PushResult(name, "unchanged", latest.version, latest.approval_id)
            active = self._active(tx)
            self._check_extends({store_key(name, 0): doc}, set(active) | {name})
            n = latest.version + 1 if latest is not None else 1
            build_engine(replace(_texts(active), {store_key(name, n): content}))
            base = active.get(name)
            diff = diff_policies(base.doc() if base else None, doc, base.label if base else "(none)", f"v{n}")
            action = edit_action(name, n, h, author, origin, message, doc, diff, first=latest is None)
            gov = governance_engine(_texts(active))
            decision = gov.decide(action) if gov is not None else None
            if gov is not None:
                gov.close()
            event = {"policy": name, "version": n, "content_hash": h, "origin": origin, "based_on": based_on,
                     "message": message, "may_loosen": diff.may_loosen, "loosening": diff.loosening,
                     "rules_added": diff.ids("added"), "rules_removed": diff.ids("removed"), "rules_changed": diff.ids("changed")}
            if decision is not None:
                event["change_decision"] = {"decision": decision.decision.label, "reason": decision.reason,
                                            "rules": [f"{m.policy}/{m.rule}" for m in decision.rules]}
            if decision is not None and decision.decision >= Effect.DENY:
                tx.event("policy.refused", event, actor=author)
                refused = LifecycleError(f"change management refuses this change: {decision.reason}")
            else:
                approval_id = None
                roles: list[str] = []
                if decision is not None and decision.decision == Effect.REQUIRE_APPROVAL:
                    req = self._request_approval(tx, name, n, h, action, decision, now)
                    approval_id, roles = req.id, req.approver_roles
                    event["approval_id"] = approval_id
                tx.execute(
                    f"INSERT INTO bastion_policy_versions ({_COLUMNS}) VALUES ({', '.join('?' for _ in range(13))})",
                    (name, n, content, h, author, ms(now), message, origin, based_on, "proposed", approval_id, ms(now), author),
                )
                tx.event("policy.proposed", event, actor=author)
                state = "proposed"
                if approval_id is None:
                    self._activate(tx, name, n, by=author, now=now)
                    state = "active"
                result = PushResult(name, state, n, approval_id, diff, decision.to_dict() if decision else None, roles)
        if refused is not None:
            raise refused
        return result

    def _request_approval(self, tx: AuditedTx, name: str, version: int, h: str, action: dict[str, Any], decision: Any, now: float) -> Any:
        approval = decision.approval or {}
        return self.approvals.create(
            tx,
            kind=KIND_POLICY_CHANGE,
            action=action,
            now=now,
            timeout_seconds=approval.get("timeout_seconds", 7 * 86400.0),
            on_timeout=Effect.parse(approval.get("on_timeout", "deny")),
            quorum=int(approval.get("quorum", 1)),
            approver_roles=list(decision.approver_roles),
            approvers=list(approval.get("approvers", [])),
            owner_may_approve=bool(approval.get("owner_may_approve", True)),
            requested_by=action["agent"]["id"],
            rules=[m.to_dict() for m in decision.rules],
            reason=decision.reason,
            decision_id=decision.decision_id,
            subject={"policy": name, "version": version, "content_hash": h},
        )

    def _check_author(self, author: str) -> str:
        if not isinstance(author, str) or not author.strip():
            raise LifecycleError("say who makes the change (--as AUTHOR)")
        people = self.approvals.people
        if len(people):
            person = people.get(author)
            if person is None:
                raise LifecycleError(f"{author!r} is not in the configuration's people section")
            return person.id
        return author.strip()

    @staticmethod
    def _check_extends(docs: dict[str, Policy], known: set[str]) -> None:
        problems = []
        for key, doc in docs.items():
            for i, ref in enumerate(doc.extends):
                if not ref.startswith(BUILTIN_PREFIX) and ref not in known:
                    problems.append(Problem(key, None, None, f"extends[{i}]", f"in the policy store a policy extends built-ins or stored policies by id; {ref!r} is neither"))
        if problems:
            raise PolicyError(problems)

    # ------------------------------------------------------------------ deciding a proposal

    def approve(self, name: str, version: int, approver: str, reason: str, *, now: float | None = None) -> PolicyVersion:
        """Approve a proposed version (as someone other than its author); activates it at quorum."""
        v = self._pending(name, version)
        self.approvals.approve(v.approval_id, approver, reason, now=now)
        return self.version(name, version)

    def reject(self, name: str, version: int, approver: str, reason: str, *, now: float | None = None) -> PolicyVersion:
        v = self._pending(name, version)
        self.approvals.deny(v.approval_id, approver, reason, now=now)
        return self.version(name, version)

    def withdraw(self, name: str, version: int, actor: str, reason: str | None = None, *, now: float | None = None) -> PolicyVersion:
        v = self._pending(name, version)
        self.approvals.cancel(v.approval_id, actor, reason or "withdrawn", now=now)
        return self.version(name, version)

    def _pending(self, name: str, version: int) -> PolicyVersion:
        v = self.version(name, version)
        if v.state != "proposed" or not v.approval_id:
            raise LifecycleError(f"{name} v{version} is {v.state}, not waiting for approval")
        return v

    def _activate(self, tx: AuditedTx, name: str, version: int, *, by: str, now: float, approval: Any = None, approvers: list[str] | None = None) -> None:
        """Make `version` the active one (inside the caller's transaction), audited."""
        v = self._version(tx, name, version)
        if v.state != "proposed":
            raise LifecycleError(f"{name} v{version} is {v.state}; only a proposed version can be activated")
        active = self._active(tx)
        current = active.get(name)
        if current is not None and current.version > version:
            raise LifecycleError(f"{name} v{current.version} is active and newer than v{version}: reject this one, or revert")
        build_engine(replace(_texts(active), {v.key: v.content}))  # still valid with what is active now
        if current is not None:
            self._set_state(tx, current, "superseded", by, now)
        self._set_state(tx, v, "active", by, now)
        tx.event("policy.activated", {
            "policy": name, "version": version, "content_hash": v.content_hash, "author": v.author,
            "previous": current.version if current else None, "approval_id": approval.id if approval else None,
            "approvers": approvers or [], "origin": v.origin,
        }, actor=by)
        for older in self._versions(tx, name):
            if older.state == "proposed" and older.version < version:
                self._set_state(tx, older, "superseded", by, now)
                tx.event("policy.superseded", {"policy": name, "version": older.version, "by_version": version}, actor=by)
                if older.approval_id:
                    self.approvals.cancel(older.approval_id, by, f"superseded by v{version}", now=now, tx=tx)

    def _close(self, tx: AuditedTx, name: str, version: int, state: str, *, by: str | None, reason: str, now: float, approval_id: str) -> None:
        v = self._version(tx, name, version)
        if v.state != "proposed":
            return  # already superseded (its request was cancelled for that reason)
        self._set_state(tx, v, state, by, now)
        tx.event(f"policy.{state}", {"policy": name, "version": version, "approval_id": approval_id, "reason": reason}, actor=by)

    def _set_state(self, tx: AuditedTx, v: PolicyVersion, state: str, by: str | None, now: float) -> None:
        tx.execute(
            "UPDATE bastion_policy_versions SET state = ?, state_ms = ?, state_by = ? WHERE name = ? AND version = ?",
            (state, ms(now), by, v.name, v.version),
        )

    # ------------------------------------------------------------------ shadow mode

    def start_shadow(self, name: str, version: int, actor: str, *, now: float | None = None) -> None:
        """Run `version` beside the active policies, recording where it would decide differently."""
        now = self.clock() if now is None else now
        with audited(self.store) as tx:
            v = self._version(tx, name, version)
            if v.state == "active":
                raise LifecycleError(f"{name} v{version} is the active version: nothing to compare it with")
            if tx.execute("SELECT 1 FROM bastion_policy_shadows WHERE name = ? AND version = ?", (name, version)):
                return
            tx.execute("INSERT INTO bastion_policy_shadows (name, version, started_ms, started_by) VALUES (?, ?, ?, ?)", (name, version, ms(now), actor))
            tx.event("policy.shadow_started", {"policy": name, "version": version, "content_hash": v.content_hash}, actor=actor)

    def stop_shadow(self, name: str, version: int, actor: str) -> bool:
        with audited(self.store) as tx:
            if not tx.execute("SELECT 1 FROM bastion_policy_shadows WHERE name = ? AND version = ?", (name, version)):
                return False
            tx.execute("DELETE FROM bastion_policy_shadows WHERE name = ? AND version = ?", (name, version))
            tx.event("policy.shadow_stopped", {"policy": name, "version": version}, actor=actor)
        return True

    def shadows(self) -> list[PolicyVersion]:
        with reading(self.store) as r:
            rows = r.execute("SELECT name, version FROM bastion_policy_shadows ORDER BY name, version")
            return [self._version(r, n, int(v)) for n, v in rows]

    def shadow_stages(self, **kwargs: Any) -> list[Any]:
        """One ShadowStage per version in shadow mode: the active set with that version in its place."""
        from bastion.lifecycle.shadow import ShadowStage

        active = _texts(self.active())
        stages = []
        for v in self.shadows():
            stages.append(ShadowStage(replace(active, {v.key: v.content}), self.store, policy=v.name, version=v.version, **kwargs))
        return stages

    # ------------------------------------------------------------------ export

    def export(self, directory: str | Path) -> list[Path]:
        """Write the active versions as YAML files (for git: policy-as-code both ways)."""
        out_dir = Path(directory)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name, v in self.active().items():
            path = out_dir / (re.sub(r"[^A-Za-z0-9_.-]", "-", name) + ".yaml")
            path.write_text(v.content, encoding="utf-8")
            written.append(path)
        return written


def _texts(active: dict[str, PolicyVersion]) -> Texts:
    return {v.key: v.content for v in active.values()}


def _yaml_scalar(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:/-]*", text) and not text.endswith(":") else f'"{text}"'
