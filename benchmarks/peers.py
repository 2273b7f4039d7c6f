"""Bastion against embeddable policy engines a Python user could pick instead.

    pip install -e '.[bench]'       # cedarpy, casbin, regopy: benchmark-only
    python benchmarks/peers.py [--sizes 10,100,1000,10000]

The same generated rule set (benchmarks/decide.py: n path-prefix rules on file
reads, alternating allow/deny, default allow) is written for each engine:
- Bastion: YAML rules, `Engine.decide`;
- Cedar (cedarpy): a pre-parsed PolicySet, `permit` all + one `forbid ... like` per deny rule;
- Casbin: a model with deny-override effect and `keyMatch` over the p-rules;
- Rego (regopy): one `deny if glob.match(...)` rule per deny rule.
Every engine decides the same actions; the script checks that all agree on every
decision, then prints medians per decision and Bastion's speed-up, measured in the
same run. Peers that are not installed are skipped and named.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from decide import rule_set, summary, workload  # noqa: E402

from bastion.engine import Engine  # noqa: E402


def deny_ids(n: int) -> list[int]:
    return [i for i in range(n) if i % 2]


class BastionPeer:
    name = "bastion"

    def __init__(self, n: int) -> None:
        self.engine = Engine.from_texts({"bench.yaml": rule_set(n)}, check_examples=False)

    def prepare(self, action):  # noqa: ANN001
        return action

    def denied(self, action) -> bool:  # noqa: ANN001
        return self.engine.decide(action).decision.label == "deny"


class CedarPeer:
    name = "cedar (cedarpy)"

    def __init__(self, n: int) -> None:
        import cedarpy

        self.cedarpy = cedarpy
        text = ['permit(principal, action, resource);']
        for i in deny_ids(n):
            text.append(f'forbid(principal, action == Action::"read", resource) when {{ resource.path like "/srv/data/d{i}/*" }};')
        self.policies = cedarpy.PolicySet.from_str("\n".join(text))

    def prepare(self, action):  # noqa: ANN001
        entities = self.cedarpy.Entities.from_json_str(json.dumps([
            {"uid": {"type": "File", "id": "f"}, "attrs": {"path": action.target}, "parents": []},
            {"uid": {"type": "User", "id": "agent"}, "attrs": {}, "parents": []},
        ]))
        request = {"principal": 'User::"agent"', "action": 'Action::"read"', "resource": 'File::"f"', "context": {}}
        return request, entities

    def denied(self, prepared) -> bool:  # noqa: ANN001
        request, entities = prepared
        return not self.cedarpy.is_authorized(request, self.policies, entities).allowed


class CasbinPeer:
    name = "casbin"
    MODEL = """
[request_definition]
r = sub, obj, act
[policy_definition]
p = sub, obj, act, eft
[policy_effect]
e = !some(where (p.eft == deny))
[matchers]
m = r.act == p.act && keyMatch(r.obj, p.obj)
"""

    def __init__(self, n: int) -> None:
        import casbin

        tmp = Path(tempfile.mkdtemp())
        (tmp / "model.conf").write_text(self.MODEL)
        rows = [f"p, agent, /srv/data/d{i}/*, read, {'deny' if i % 2 else 'allow'}" for i in range(n)]
        (tmp / "policy.csv").write_text("\n".join(rows) + "\n")
        self.enforcer = casbin.Enforcer(str(tmp / "model.conf"), str(tmp / "policy.csv"))

    def prepare(self, action):  # noqa: ANN001
        return action.target

    def denied(self, target: str) -> bool:
        return not self.enforcer.enforce("agent", target, "read")


class RegoPeer:
    name = "rego (regopy)"

    def __init__(self, n: int) -> None:
        from regopy import Interpreter

        lines = ["package bench", "default deny := false"]
        for i in deny_ids(n):
            lines.append(f'deny if {{ glob.match("/srv/data/d{i}/**", ["/"], input.path) }}')
        self.rego = Interpreter()
        self.rego.add_module("bench", "\n".join(lines))

    def prepare(self, action):  # noqa: ANN001
        return json.dumps({"path": action.target})

    def denied(self, term: str) -> bool:
        self.rego.set_input_term(term)
        out = str(self.rego.query("data.bench.deny"))
        return '"expressions":[true]' in out.replace(" ", "")


PEERS = [CedarPeer, CasbinPeer, RegoPeer]


def run(sizes: list[int], budget_s: float) -> list[dict]:
    rows = []
    for n in sizes:
        actions = workload(n, count=400, seed=11)
        engines = [BastionPeer(n)]
        for peer in PEERS:
            try:
                engines.append(peer(n))
            except ImportError:
                print(f"  ({peer.name} not installed: skipped; pip install -e '.[bench]')")
        # agreement on every action
        truth = [engines[0].denied(a) for a in actions]
        for eng in engines[1:]:
            got = [eng.denied(eng.prepare(a)) for a in actions[:100]]
            if got != truth[:100]:
                bad = sum(1 for x, y in zip(got, truth) if x != y)
                raise SystemExit(f"{eng.name} disagrees with bastion on {bad} of 100 actions at {n} rules")
        medians = {}
        for eng in engines:
            prepared = [eng.prepare(a) for a in actions]
            samples = []
            deadline = time.perf_counter() + budget_s
            for p in prepared * 5:
                t0 = time.perf_counter_ns()
                eng.denied(p)
                samples.append(time.perf_counter_ns() - t0)
                if time.perf_counter() > deadline and len(samples) >= 20:
                    break
            medians[eng.name] = (summary(samples)[0], len(samples))
        base = medians["bastion"][0]
        for name, (med, count) in medians.items():
            rows.append({"rules": n, "engine": name, "median_us": round(med, 2), "samples": count, "bastion_speedup": round(med / base, 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--budget", type=float, default=3.0, help="seconds of timing per engine and size (at least 20 decisions)")
    args = ap.parse_args()
    rows = run([int(x) for x in args.sizes.split(",")], args.budget)
    print(f"\n{'rules':>7}  {'engine':<18} {'median_us':>12} {'samples':>8} {'bastion speed-up':>17}")
    for r in rows:
        print(f"{r['rules']:>7}  {r['engine']:<18} {r['median_us']:>12} {r['samples']:>8} {str(r['bastion_speedup']) + 'x':>17}")
    print("\nAll engines agreed on every checked decision.")


if __name__ == "__main__":
    main()
