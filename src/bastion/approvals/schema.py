"""The approvals tables, registered as migrations of the component "approvals".

Requests are written once (`body` is the immutable request as JSON, secrets redacted);
what changes over a request's life is its `status` and resolution, its votes, the
grants an approval creates, and the delivery state of its notifications. Times are
epoch milliseconds. Webhook URLs are never stored (a Slack URL is a credential): a
notification row names its target by a fingerprint resolved against the
configuration at delivery time.
"""

from __future__ import annotations

from bastion.store.schema import register

COMPONENT = "approvals"

register(
    COMPONENT,
    1,
    "approval requests, votes, grants and notification outbox",
    """CREATE TABLE bastion_approvals (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        digest TEXT NOT NULL,
        status TEXT NOT NULL,
        created_ms {int64} NOT NULL,
        expires_ms {int64} NOT NULL,
        resolved_ms {int64},
        resolved_by TEXT,
        resolution TEXT,
        agent TEXT,
        session TEXT,
        owner TEXT,
        on_timeout TEXT NOT NULL,
        quorum {int64} NOT NULL,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX bastion_approvals_digest ON bastion_approvals (digest, status)",
    "CREATE INDEX bastion_approvals_status ON bastion_approvals (status, expires_ms)",
    """CREATE TABLE bastion_approval_votes (
        approval_id TEXT NOT NULL,
        approver TEXT NOT NULL,
        n {int64} NOT NULL,
        vote TEXT NOT NULL,
        reason TEXT NOT NULL,
        scope TEXT NOT NULL,
        until_ms {int64},
        ts_ms {int64} NOT NULL,
        PRIMARY KEY (approval_id, approver)
    )""",
    # A grant is what an approval (or a timeout fallback) lets through: `effect` for
    # actions with `digest`, `uses_left` more times (NULL: any number) until `until_ms`.
    """CREATE TABLE bastion_approval_grants (
        id TEXT PRIMARY KEY,
        approval_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        effect TEXT NOT NULL,
        scope TEXT NOT NULL,
        uses_left {int64},
        until_ms {int64},
        created_ms {int64} NOT NULL,
        used {int64} NOT NULL
    )""",
    "CREATE INDEX bastion_approval_grants_digest ON bastion_approval_grants (digest)",
    """CREATE TABLE bastion_approval_notifications (
        id TEXT PRIMARY KEY,
        approval_id TEXT NOT NULL,
        target TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts {int64} NOT NULL,
        next_ms {int64} NOT NULL,
        last_error TEXT,
        updated_ms {int64} NOT NULL
    )""",
    "CREATE INDEX bastion_approval_notifications_due ON bastion_approval_notifications (status, next_ms)",
)
