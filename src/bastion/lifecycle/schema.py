"""The policy store's tables, registered as migrations of the component "policies".

`bastion_policy_versions` holds every version of every stored policy: its YAML exactly
as pushed, its content hash, author, time and message. Content is never rewritten
(database triggers refuse it, and refuse deleting a version); what moves is the
version's `state`, each move an audit record:

    proposed ─► active ─► superseded
        └─────► rejected | expired | withdrawn | superseded

`bastion_policy_shadows` lists versions running in shadow mode beside the active ones.
"""

from __future__ import annotations

from bastion.store.schema import register

COMPONENT = "policies"

register(
    COMPONENT,
    1,
    "policy versions and shadow runs",
    """CREATE TABLE bastion_policy_versions (
        name TEXT NOT NULL,
        version {int64} NOT NULL,
        content TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        author TEXT NOT NULL,
        created_ms {int64} NOT NULL,
        message TEXT NOT NULL,
        origin TEXT NOT NULL,
        based_on {int64},
        state TEXT NOT NULL,
        approval_id TEXT,
        state_ms {int64} NOT NULL,
        state_by TEXT,
        PRIMARY KEY (name, version)
    )""",
    "CREATE INDEX bastion_policy_versions_state ON bastion_policy_versions (state, name)",
    {
        "sqlite": "CREATE TRIGGER bastion_policy_versions_immutable BEFORE UPDATE OF "
        "name, version, content, content_hash, author, created_ms, message, origin, based_on "
        "ON bastion_policy_versions BEGIN SELECT RAISE(ABORT, 'policy versions are immutable'); END",
        "postgresql": "CREATE FUNCTION bastion_policy_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'policy versions cannot be deleted'; END IF; "
        "IF NEW.name IS DISTINCT FROM OLD.name OR NEW.version IS DISTINCT FROM OLD.version "
        "OR NEW.content IS DISTINCT FROM OLD.content OR NEW.content_hash IS DISTINCT FROM OLD.content_hash "
        "OR NEW.author IS DISTINCT FROM OLD.author OR NEW.created_ms IS DISTINCT FROM OLD.created_ms "
        "OR NEW.message IS DISTINCT FROM OLD.message OR NEW.origin IS DISTINCT FROM OLD.origin "
        "OR NEW.based_on IS DISTINCT FROM OLD.based_on THEN "
        "RAISE EXCEPTION 'policy versions are immutable'; END IF; RETURN NEW; END $$",
    },
    {
        "sqlite": "CREATE TRIGGER bastion_policy_versions_no_delete BEFORE DELETE ON bastion_policy_versions "
        "BEGIN SELECT RAISE(ABORT, 'policy versions cannot be deleted'); END",
        "postgresql": "CREATE TRIGGER bastion_policy_versions_immutable BEFORE UPDATE OR DELETE ON bastion_policy_versions "
        "FOR EACH ROW EXECUTE FUNCTION bastion_policy_versions_immutable()",
    },
    """CREATE TABLE bastion_policy_shadows (
        name TEXT NOT NULL,
        version {int64} NOT NULL,
        started_ms {int64} NOT NULL,
        started_by TEXT NOT NULL,
        PRIMARY KEY (name, version)
    )""",
)
