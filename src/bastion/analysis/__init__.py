"""The analysis stage: what an action really does.

`Analyzer().analyze(action)` returns the action itself as the first `Subject`
(with facts describing it) followed by one `Subject` per derived action (`cat .env`
-> `filesystem.read .env`). The engine decides every subject against the same
policy; the most restrictive decision wins. Results are cached (bounded LRU keyed
on the capability, target and the arguments that matter), so facts are immutable.

Modules: shell (parsing), words (unquoting), wrappers (sudo/env/xargs...), flags
(option normalisation), verbs (sub-command classification), programs/ (what each
program does), derive (orchestration), sql, paths, urls.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from bastion.analysis.frozen import EMPTY, FrozenDict, freeze
from bastion.model import Action, Subject

__all__ = ["Analyzer", "DERIVED_CAPABILITIES", "FrozenDict"]

#: capabilities analysis derives (beyond the contract's vocabulary); git.* adds one per sub-command
DERIVED_CAPABILITIES = (
    "filesystem.read", "filesystem.write", "filesystem.delete", "filesystem.move", "filesystem.chmod",
    "network.request", "network.connect", "network.listen", "process.spawn", "process.signal",
    "database.query", "database.command", "infrastructure.change", "secrets.read", "secrets.write",
    "system.change", "automation.run", "package.install", "package.remove", "package.publish", "env.read",
    "clipboard.read", "clipboard.write", "git.push", "git.reset", "git.clean", "git.checkout", "git.restore",
    "git.branch", "git.stash", "git.commit", "git.rebase", "git.merge", "git.tag", "git.status", "git.log",
    "git.diff", "git.pull", "git.fetch", "git.clone", "git.add", "git.reflog", "git.gc", "git.filter-branch",
    "git.switch", "git.worktree", "git.config", "git.remote", "git.update-ref", "git.show",
)  # fmt: skip

_FS_PREFIX = "filesystem."
MAX_KEY_ENV = 64


def _body_size(body: Any) -> int | None:
    if body is None:
        return None
    if isinstance(body, (str, bytes)):
        return len(body)
    try:
        return len(json.dumps(body, default=str))
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class Analyzer:
    """Turns an action into subjects. Thread-safe; one instance per engine."""

    def __init__(self, cache_size: int = 4096) -> None:
        self.cache_size = cache_size
        self._compute_cached = lru_cache(maxsize=cache_size)(self._compute)
        try:
            from bastion.policy.vocabulary import register_capabilities

            register_capabilities(*DERIVED_CAPABILITIES)
        except ImportError:  # pragma: no cover - the policy package is optional for analysis alone
            pass

    # ------------------------------------------------------------------ public

    def analyze(self, action: Action) -> tuple[Subject, ...]:
        """The action as the first subject, then each derived action. Never raises."""
        try:
            key = self.key(action)
        except Exception:  # a malformed args value must not crash a decision
            key = ("error",)
        if key is None:
            return (Subject(action, facts=EMPTY),)
        try:
            target, facts, derived = self._compute_cached(key)
        except Exception:  # any analyser bug fails closed: opaque, never allow-by-crash
            target, facts, derived = action.target, freeze({"opaque": True, "analysis_error": True, "opaque_reasons": ["analysis failed"]}), ()
        first = Subject(action, action.capability, target, action.args, facts, None)
        if not derived:
            return (first,)
        return (first, *(Subject(action, d.capability, d.target, d.args, d.facts, d.origin) for d in derived))

    def cache_info(self) -> Any:
        return self._compute_cached.cache_info()

    def clear_cache(self) -> None:
        self._compute_cached.cache_clear()

    # ------------------------------------------------------------------ keys

    @staticmethod
    def key(action: Action) -> tuple[Any, ...] | None:
        """The cache key: only what the analysis reads. None for capabilities not analysed."""
        cap = action.capability
        args = action.args
        if not args:  # the common case, and the cheapest key
            if cap.startswith(_FS_PREFIX):
                return (cap, action.target, None, None, None)
            if cap == "network.connect":
                return ("network.connect", action.target)
        cwd = _str_or_none(args.get("cwd"))
        if cap == "shell.exec":
            env = args.get("env")
            env_key: tuple[tuple[str, str], ...] = ()
            if isinstance(env, dict) and env:
                env_key = tuple(sorted((str(k), str(v)) for k, v in list(env.items())[:MAX_KEY_ENV] if isinstance(k, str)))
            return ("shell.exec", action.target, cwd, env_key)
        if cap == "process.spawn":
            argv = args.get("argv")
            argv_key = tuple(str(a) for a in argv) if isinstance(argv, (list, tuple)) else None
            return ("process.spawn", action.target, argv_key, cwd)
        if cap == "database.query":
            return ("database.query", action.target, _str_or_none(args.get("dialect")))
        if cap.startswith(_FS_PREFIX):
            dest = _str_or_none(args.get("destination"))
            mode = args.get("mode")
            return (cap, action.target, cwd, dest, str(mode) if mode is not None else None)
        if cap == "network.request":
            method = _str_or_none(args.get("method"))
            return ("network.request", action.target, method.upper() if method else None, _body_size(args.get("body")))
        if cap == "network.connect":
            return ("network.connect", action.target)
        return None

    # ------------------------------------------------------------------ analysis

    @staticmethod
    def _compute(key: tuple[Any, ...]) -> tuple[str | None, FrozenDict, tuple[Any, ...]]:
        """(target of the first subject, its facts, derived actions) for a key."""
        from bastion.analysis import derive

        kind = key[0]
        if kind == "error":
            return None, freeze({"opaque": True, "analysis_error": True, "opaque_reasons": ["malformed arguments"]}), ()
        if kind == "shell.exec":
            _, text, cwd, env = key
            if not isinstance(text, str) or not text.strip():
                return text, freeze({"opaque": False, "empty": True, "programs": [], "command_count": 0}), ()
            facts, derived = derive.analyze_shell(text, cwd, dict(env) if env else None)
            return text, freeze(facts), tuple(derived)
        if kind == "process.spawn":
            _, program, argv, cwd = key
            facts, derived = derive.analyze_argv(program, list(argv) if argv is not None else None, cwd)
            return program, freeze(facts), tuple(derived)
        if kind == "database.query":
            from bastion.analysis.sql import analyze_sql

            _, text, dialect = key
            return text, freeze(analyze_sql(text or "", dialect)), ()
        if kind.startswith(_FS_PREFIX):
            from bastion.analysis.paths import normalize, path_facts

            cap, target, cwd, dest, mode = key
            if not isinstance(target, str) or not target:
                return target, freeze({"opaque": True, "opaque_reasons": ["no path"]}), ()
            facts = path_facts(target, cwd, project=cwd)
            if dest:
                facts["destination"] = normalize(dest, cwd)
                facts["destination_facts"] = path_facts(dest, cwd)
            if mode is not None and cap == "filesystem.chmod":
                from bastion.analysis.programs.files import _mode_facts

                facts.update(_mode_facts(str(mode)))
            return facts["path"], freeze(facts), ()
        if kind == "network.request":
            from bastion.analysis.urls import canonical_url, url_facts

            _, target, method, size = key
            facts = url_facts(target or "", method=method or "GET", body_size=size)
            facts.setdefault("method", (method or "GET").upper())
            facts["upload"] = bool(size)
            return (canonical_url(target) if target else None) or target, freeze(facts), ()
        if kind == "network.connect":
            from bastion.analysis.urls import host_facts, split_host_port

            _, target = key
            host, port = split_host_port(target or "")
            facts = host_facts(host) if host else {"opaque": True}
            if port is not None:
                facts["port"] = port
            return target, freeze(facts), ()
        return None, EMPTY, ()  # pragma: no cover
