"""Which state backend a command-line run uses (bastion check, explain, sessions).

In order: `--state`; the `state` setting of bastion.yaml or `BASTION_STATE` when set;
the store (`db`) when one was named (`--db`, `BASTION_DB` or bastion.yaml), so that
`bastion check --db ...` keeps session state between runs; otherwise memory (state
lasts for the run: the lines of one JSON Lines stream).
"""

from __future__ import annotations

from typing import Any


def cli_state(cfg: Any, *, state: str | None = None, db: str | None = None) -> str:
    """The state spec for a run, from the configuration (bastion.config.Config) and flags."""
    if state:
        spec = state
    elif cfg.source("state") != "default":
        spec = cfg["state"]
    elif db or cfg.source("db") != "default":
        spec = "db"
    else:
        spec = "memory"
    if str(spec).strip().lower() == "db":
        return db or cfg["db"]
    return str(spec)


def persistent_state(cfg: Any, *, state: str | None = None, db: str | None = None) -> str:
    """Like cli_state, but an operator command never means "memory": it means the store."""
    spec = cli_state(cfg, state=state, db=db)
    return db or cfg["db"] if spec.strip().lower() == "memory" else spec
