"""Plans: `plan.submit` with `args.steps` (a list of actions).

Every step is evaluated as an action of the plan's agent and session (a step cannot
speak for anyone else), without side effects on state: nothing is counted or recorded,
but within the plan earlier steps count for later ones (rate limits, and `session.did`
marks an allowed step would leave). The plan's decision is the most restrictive of
its own rules and its steps; each step's decision is listed under `plan.steps`.
Policy-level constraints add to that:

    plans: {max_steps: 20, max_writes: 3, on_exceed: require_approval}

A step is a *write* when it, or an action analysis derives from it, has a capability
in `writes` (default: WRITE_CAPABILITIES below), or is SQL that is not read-only, or is
marked destructive by analysis. A plan may not contain plans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bastion.errors import ActionError
from bastion.model import Action, Decision, Effect
from bastion.state.decisions import cap_glob, redacted, tighten
from bastion.state.settings import StateSettings

if TYPE_CHECKING:  # pragma: no cover
    from bastion.state.stage import StateStage

WRITE_CAPABILITIES = (
    "filesystem.write", "filesystem.delete", "filesystem.move", "filesystem.chmod",
    "env.write", "secrets.write", "policy.edit", "agent.config", "data.export",
    "infrastructure.change", "system.change", "package.*", "clipboard.write",
    "git.push", "git.commit", "git.reset", "git.clean", "git.rebase", "git.merge", "git.tag",
    "git.restore", "git.stash", "git.update-ref", "git.filter-branch", "git.gc", "git.config", "git.remote",
)  # fmt: skip

MAX_STEPS_EVALUATED = 1000


def is_write(subjects: list[Any], globs: tuple[str, ...] | list[str]) -> bool:
    for s in subjects:
        if any(cap_glob(g, s.capability) for g in globs):
            return True
        facts = s.facts
        if facts.get("read_only") is False or facts.get("destructive") is True:
            return True
    return False


def step_action(raw: Any, plan: Action) -> Action:
    if not isinstance(raw, dict):
        raise ActionError("a step is an action object")
    data = dict(raw)
    data.pop("id", None)
    data["agent"] = plan.agent.model_dump(mode="json")
    data["session"] = plan.session.model_dump(mode="json")
    if "environment" not in data and plan.environment is not None:
        data["environment"] = plan.environment
    return Action.from_dict(data)


def check_plan(stage: "StateStage", engine: Any, decision: Decision, action: Action, now: float, settings: StateSettings) -> None:
    steps = action.args.get("steps")
    if not isinstance(steps, list):
        tighten(decision, action, Effect.DENY, "plan.submit needs args.steps: a list of actions")
        return
    if stage.in_plan():
        tighten(decision, action, Effect.DENY, "a plan step cannot itself be a plan")
        return
    if len(steps) > MAX_STEPS_EVALUATED:
        tighten(decision, action, Effect.DENY, f"the plan has {len(steps)} steps; at most {MAX_STEPS_EVALUATED} are evaluated")
        return
    globs_by_policy = [(pid, tuple(p.writes) if p.writes is not None else WRITE_CAPABILITIES) for pid, p in settings.plans]
    listed: list[dict[str, Any]] = []
    writes: dict[str, int] = {pid: 0 for pid, _ in globs_by_policy}
    default_writes = 0
    worst: tuple[Effect, int, str, str] | None = None
    with stage.plan_simulation():
        for i, raw in enumerate(steps):
            try:
                step = step_action(raw, action)
            except ActionError as exc:
                listed.append({"step": i + 1, "decision": Effect.DENY.label, "reason": f"invalid step: {exc}"})
                if worst is None or Effect.DENY > worst[0]:
                    worst = (Effect.DENY, i, "an invalid step", f"invalid step: {exc}")
                continue
            exp = stage.explain(engine, step, now)
            d = exp.decision
            subjects = [t.subject for t in exp.subjects]
            write = is_write(subjects, WRITE_CAPABILITIES)
            default_writes += write
            for pid, globs in globs_by_policy:
                writes[pid] += is_write(subjects, globs)
            what = redacted(engine, f"{step.capability} {step.target}" if step.target else step.capability, 120)
            item: dict[str, Any] = {"step": i + 1, "capability": step.capability, "target": redacted(engine, step.target, 200) if step.target else None,
                                    "decision": d.decision.label, "reason": d.reason, "rules": [f"{r.policy}/{r.rule}" for r in d.rules], "write": write}
            if "retry_after" in d.extra:
                item["retry_after"] = d.extra["retry_after"]
            listed.append(item)
            if d.decision <= Effect.REDACT:
                stage.simulate_marks(engine, settings, step, now)
            if worst is None or d.decision > worst[0]:
                worst = (d.decision, i, what, d.reason)
    note: dict[str, Any] = {"steps": listed, "count": len(steps), "writes": default_writes}
    if worst is not None:
        effect, i, what, reason = worst
        note["decision"] = effect.label
        tighten(decision, action, effect, f"step {i + 1} of the plan ({what}): {reason}")
    for pid, p in settings.plans:
        if p.max_steps is not None and len(steps) > p.max_steps:
            tighten(decision, action, p.on_exceed, f"the plan has {len(steps)} steps, more than {p.max_steps} (plans of {pid})")
        if p.max_writes is not None and writes[pid] > p.max_writes:
            tighten(decision, action, p.on_exceed, f"the plan has {writes[pid]} write steps, more than {p.max_writes} (plans of {pid})")
    decision.extra["plan"] = note
