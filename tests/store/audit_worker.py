"""A process that writes decisions to an audit store (driven by test_reliability.py).

    python audit_worker.py URL sync|async COUNT TAG [events]

In sync mode it prints each decision id once `record()` has returned (acknowledged);
in async mode it prints "done" after close() drained the queue.
"""

from __future__ import annotations

import sys

from bastion.model import Action, Decision, Effect, Layer, RuleMatch, Severity, now
from bastion.store import AuditWriter, open_store


class PassThrough:
    """No secrets in this workload; the redactor's own tests live with the redactor."""

    def redact_action(self, action):  # type: ignore[no-untyped-def]
        return action, []

    def redact_value(self, value):  # type: ignore[no-untyped-def]
        return value, []


def main() -> None:
    url, mode, count, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    events = len(sys.argv) > 5 and sys.argv[5] == "events"
    store = open_store(url)
    store.redactor = PassThrough()
    writer = AuditWriter(store, mode, sync_timeout=60.0)  # type: ignore[arg-type]
    for i in range(count):
        action = Action(capability="shell.exec", target=f"echo {tag} {i}", agent={"id": tag}, session={"id": f"{tag}-s"})
        decision = Decision(
            decision_id=f"{tag}-{i}",
            action_id=action.id,
            decision=Effect.DENY if i % 2 else Effect.ALLOW,
            reason="worker",
            policy_ids=["p"],
            rules=[RuleMatch("p", f"r{i % 3}", Layer.SYSTEM, Effect.DENY, "p.yaml:1")],
            severity=Severity.HIGH,
            risk_score=50,
            timestamp=now(),
        )
        writer.record(decision, action)
        if mode == "sync":
            print(decision.decision_id, flush=True)
        if events and i % 25 == 0:
            store.append_event("policy.change", {"from": tag, "i": i})
    writer.close()
    store.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
