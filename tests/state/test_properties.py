"""Properties of the sliding windows (against a reference model) and thread safety."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.engine import Engine
from bastion.model import Effect
from bastion.state.memory import MemoryState
from bastion.state.records import WindowCheck

from .conftest import act


class Reference:
    """The documented semantics, written the obvious way: hits in (now - window, now]."""

    def __init__(self) -> None:
        self.hits: dict[str, list[float]] = {}

    def hit(self, checks: list[WindowCheck], now: float, commit: bool) -> tuple[bool, list[int]]:
        counts = [sum(1 for t in self.hits.get(c.key, []) if now - c.window < t <= now) for c in checks]
        ok = all(n < c.limit for n, c in zip(counts, checks))
        if ok and commit:
            for c in checks:
                self.hits.setdefault(c.key, []).append(now)
        return ok, counts


steps = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=30, allow_nan=False),  # time step (may be 0: same instant)
        st.sampled_from(["a", "b", "ab"]),
        st.booleans(),  # commit
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(steps=steps, limit_a=st.integers(1, 5), limit_b=st.integers(1, 5), window=st.sampled_from([1.0, 10.0, 25.0]))
def test_memory_window_matches_the_reference(steps, limit_a, limit_b, window):
    m, ref = MemoryState(), Reference()
    checks = {"a": [WindowCheck("a", limit_a, window)], "b": [WindowCheck("b", limit_b, window * 2)]}
    checks["ab"] = checks["a"] + checks["b"]
    now = 1000.0
    for dt, which, commit in steps:
        now += dt
        got = m.hit(checks[which], now, commit)
        want_ok, want_counts = ref.hit(checks[which], now, commit)
        assert (got.admitted, got.counts) == (want_ok, want_counts)
        for c, n, retry in zip(checks[which], got.counts, got.retry_at):
            assert (retry is None) == (n < c.limit)
            if retry is not None:
                assert now < retry <= now + c.window


@settings(max_examples=25, deadline=None)
@given(steps=steps, limit=st.integers(1, 4))
def test_sqlite_window_matches_the_reference(tmp_path_factory, steps, limit):
    from bastion.state import open_state

    b = open_state(str(tmp_path_factory.mktemp("w") / "s.db"))
    ref = Reference()
    chk = [WindowCheck("k", limit, 10.0)]
    now = 1000.0
    try:
        for dt, _, commit in steps:
            now += round(dt, 3)
            got = b.hit(chk, now, commit)
            assert (got.admitted, got.counts) == ref.hit(chk, now, commit)
    finally:
        b.close()


def test_threads_share_a_limit_exactly(clock):
    e = Engine.from_texts(
        {"p.yaml": "policy: p\ndefaults: allow\nrules:\n  - {id: t, match: {capability: tool.call}, rate_limit: {max: 250, per: 1m, key: agent}, effect: allow}\n"},
        clock=clock,
    )
    allowed = []
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        n = 0
        for j in range(100):
            n += e.decide(act("tool.call", "x", session=f"s-{i}-{j}", agent="shared")).decision is Effect.ALLOW
        allowed.append(n)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 250


@pytest.mark.parametrize("spec", ["10m", "1h", 90, "1.5h"])
def test_escalation_windows_accept_durations(spec):
    e = Engine.from_texts({"p.yaml": f"policy: p\ndefaults: allow\nescalation: {{window: {spec}, denials: {{terminate: 2}}}}\n"})
    assert e.policies.loaded[0].doc.escalation.window > 0
