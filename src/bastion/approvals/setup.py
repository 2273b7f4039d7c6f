"""Building the approval machinery from the configuration (`people`, `notifications`, `server`)."""

from __future__ import annotations

import time
from typing import Any, Callable

from bastion.approvals.notify import Notifier, targets_from_config
from bastion.approvals.people import People
from bastion.approvals.service import ApprovalService
from bastion.approvals.stage import ApprovalStage


def link_base(cfg: Any) -> str:
    """Where links in notifications point: the configured server."""
    server = (cfg.get("server") if cfg is not None else None) or {}
    host = server.get("host", "127.0.0.1") if isinstance(server, dict) else "127.0.0.1"
    port = server.get("port", 8700) if isinstance(server, dict) else 8700
    base = server.get("public_url") if isinstance(server, dict) else None
    return str(base) if base else f"http://{host}:{port}"


def service_from_config(store: Any, cfg: Any = None, *, clock: Callable[[], float] = time.time, notify: bool = True) -> ApprovalService:
    """An ApprovalService on `store` with the configuration's people and notification targets."""
    people = People.from_config(cfg.get("people") if cfg is not None else None)
    notifier = None
    targets = targets_from_config(cfg.get("notifications") if cfg is not None else None)
    if targets and notify:
        notifier = Notifier(store, targets, link_base=link_base(cfg), clock=clock)
    return ApprovalService(store, people, notifier=notifier, clock=clock)


def approval_stage(store: Any, cfg: Any = None, **kwargs: Any) -> ApprovalStage:
    """The engine stage for `store`, configured from `cfg` (a bastion.config.Config)."""
    return ApprovalStage(service_from_config(store, cfg, **kwargs))


def stage_for_check(store: Any, cfg: Any) -> ApprovalStage:
    """What `bastion check --record` adds to its engine: require_approval decisions create
    durable requests and carry their `approval_id`. Close it after the run: closing
    delivers the notifications still due (for at most a few seconds; any left are retried
    by `bastion approvals notify` or by the next process with notifications configured)."""
    return _FlushingStage(service_from_config(store, cfg))


class _FlushingStage(ApprovalStage):
    def close(self) -> None:
        notifier = self.service.notifier
        if notifier is not None:
            try:
                notifier.flush(timeout=5.0)
            finally:
                notifier.close()
