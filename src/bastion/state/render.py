"""Session state in `bastion explain` text: what earlier actions, counts and windows did.

`render_state(decision_dict)` returns the lines to print (without markup); the CLI
prints them under "Session state". The JSON output already carries `decision.state`
and `decision.plan`.
"""

from __future__ import annotations

from typing import Any


def _human(seconds: float) -> str:
    from bastion.state.conditions import human_duration

    return human_duration(seconds)


def render_state(d: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    st = d.get("state") or {}
    if st.get("status") == "terminated":
        lines.append(f"session {st.get('session') or '(agent)'} is terminated: ended at {st.get('terminated_at')} (session {st.get('terminated_session')})")
        by = st.get("terminated_by") or {}
        if by.get("rules"):
            lines.append(f"  by {', '.join(by['rules'])}" + (f" (decision {by['decision_id']})" if by.get("decision_id") else ""))
        if by.get("actor"):
            lines.append(f"  by {by['actor']}")
        would = st.get("rules_would_say")
        if would:
            lines.append(f"  the rules alone would say {would['decision']}: {would['reason']}")
    elif st.get("session"):
        where = f"session {st['session']}, depth {st.get('depth', 0)}"
        if st.get("parent_session"):
            where += f", parent {st['parent_session']}"
        lines.append(where)
    for h in st.get("history", []):
        extra = f" ({h['count']} matching, {h['condition']})" if "count" in h else ""
        lines.append(f"earlier: at {h['at']} this session did {h['did']}{extra}  [{h['rule']}]")
    for b in st.get("budgets", []):
        lines.append(f"budget: {b['per']} {b['meter']} {b['used']:g} > {b['limit']:g}  [{b['rule']}]")
    for r in st.get("rate_limits", []):
        state = f"exceeded, retry in {r['retry_after']:g}s" if r.get("exceeded") else "within"
        lines.append(f"rate limit: {r['count']} of {r['max']} per {_human(r['per_seconds'])} for {r['key']}: {state}  [{r['rule']}]")
    for e in st.get("escalation", []):
        th = ", ".join(f"{k} at {v}" for k, v in e["thresholds"].items())
        reached = f"; reached {', '.join(e['reached'])}" if e.get("reached") else ""
        lines.append(f"escalation: {e['count']} {e['kind']} within {e['window']} ({th}){reached}  [{e['policy']}]")
    parent = st.get("parent")
    if parent and parent.get("decision"):
        lines.append(f"as its parent session {parent['session']}: {parent['decision']} ({parent['reason']})")
    spawn = st.get("spawn")
    if spawn:
        lines.append(f"spawn of {spawn['child']} at depth {spawn['depth']}" + (f" (max {spawn['max_depth']})" if "max_depth" in spawn else ""))
        for c in spawn.get("capabilities", []):
            if "error" in c:
                lines.append(f"  {c['requested']!r}: {c['error']}")
            else:
                lines.append(f"  {c['capability']}: {c['decision']} ({c['reason']})")
    plan = d.get("plan")
    if plan:
        lines.append(f"plan: {plan['count']} steps, {plan['writes']} writes")
        for s in plan["steps"]:
            what = f"{s.get('capability', '?')} {s.get('target') or ''}".strip()
            lines.append(f"  {s['step']}. {what}: {s['decision']} ({s['reason']})")
    if "retry_after" in d:
        lines.append(f"retry after {d['retry_after']:g}s")
    return lines
