"""The policy lifecycle: a versioned policy store with diff, revert, change approval, replay and shadow mode.

    from bastion.lifecycle import PolicyStore
    ps = PolicyStore(store, people)
    result = ps.push(["./policies"], author="dana@example.com", message="tighten egress")
    ps.diff("team-payments", 3, 4)
    ps.approve("team-payments", 4, "sam@example.com", "reviewed the replay")   # second owner
    engine = ps.engine()                                                       # the active versions

See docs/policy-lifecycle.md.
"""

from __future__ import annotations

from bastion import _lazy

_LAZY = {
    "PolicyStore": "bastion.lifecycle.versions",
    "PolicyVersion": "bastion.lifecycle.versions",
    "PushResult": "bastion.lifecycle.versions",
    "LifecycleError": "bastion.lifecycle.versions",
    "PolicyDiff": "bastion.lifecycle.diff",
    "diff_policies": "bastion.lifecycle.diff",
    "ReplayReport": "bastion.lifecycle.replay",
    "replay": "bastion.lifecycle.replay",
    "ShadowStage": "bastion.lifecycle.shadow",
}

__all__ = sorted(_LAZY)


__getattr__ = _lazy.lazy_exports(__name__, _LAZY, globals())
