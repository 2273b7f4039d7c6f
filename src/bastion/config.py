"""bastion.yaml + environment + flags -> settings, remembering where each value came from.

Precedence, lowest first: built-in default, `bastion.yaml` (in the working directory,
or `--config` / `BASTION_CONFIG`), environment variables, command-line flags.
Unknown keys in the file are errors: a misspelt key must not silently fall back to a
default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bastion.errors import PolicyError, Problem
from bastion.policy.vocabulary import suggest
from bastion.policy.yamlpos import load_documents, position

DEFAULT_FILE = "bastion.yaml"


@dataclass(frozen=True)
class Key:
    default: Any
    env: str | None
    help: str
    kind: type | tuple[type, ...]


#: every configuration key, its default, environment variable and meaning
KEYS: dict[str, Key] = {
    "policies": Key(["builtin:coding-agent"], "BASTION_POLICIES", "policy files, directories or builtin:NAME (env: comma-separated)", list),
    "db": Key(".bastion/bastion.db", "BASTION_DB", "the store: a SQLite path or a postgresql:// URL", str),
    "state": Key("memory", "BASTION_STATE", "session state backend: memory, db, or a redis:// URL", str),
    "audit": Key({"durability": "async"}, None, "audit log settings: durability (sync|async), on_failure (deny|drop_and_alert)", dict),
    "people": Key({}, None, "approvers and their roles: {email: {roles: [...]}}", dict),
    "notifications": Key([], None, "webhooks called on approval requests: [{type: slack|webhook, url: ...}]", list),
    "server": Key({"host": "127.0.0.1", "port": 8700}, None, "HTTP server settings", dict),
    "redaction_key": Key(None, "BASTION_REDACTION_KEY", "key for redaction-marker fingerprints (hex or text)", (str, type(None))),
    "log_level": Key("warning", "BASTION_LOG_LEVEL", "logging level", str),
}


@dataclass
class Setting:
    value: Any
    source: str


@dataclass
class Config:
    settings: dict[str, Setting] = field(default_factory=dict)
    file: str | None = None

    def __getitem__(self, key: str) -> Any:
        return self.settings[key].value

    def get(self, key: str, default: Any = None) -> Any:
        s = self.settings.get(key)
        return default if s is None else s.value

    def source(self, key: str) -> str:
        return self.settings[key].source

    def to_dict(self) -> dict[str, Any]:
        return {k: {"value": s.value, "source": s.source} for k, s in self.settings.items()}


def _env_value(key: str, raw: str) -> Any:
    if KEYS[key].kind is list:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def load_config(path: str | os.PathLike[str] | None = None, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Build the effective configuration. Raises PolicyError (file, line, field) on a bad file."""
    env = os.environ if environ is None else environ
    cfg = Config()
    for key, spec in KEYS.items():
        cfg.settings[key] = Setting(spec.default, "default")

    explicit = path is not None or "BASTION_CONFIG" in env
    file = Path(path) if path is not None else Path(env.get("BASTION_CONFIG", DEFAULT_FILE))
    if file.is_file():
        cfg.file = str(file)
        text = file.read_text(encoding="utf-8")
        docs = load_documents(text, str(file))
        if docs:
            data, positions = docs[0]
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise PolicyError([Problem(str(file), 1, 1, None, "the configuration must be a mapping")])
            problems = []
            for key, value in data.items():
                line, col = position(positions, (key,))
                if key not in KEYS:
                    hint = suggest(str(key), list(KEYS))
                    problems.append(Problem(str(file), line, col, str(key), f"unknown configuration key {key!r}" + (f" (did you mean {hint!r}?)" if hint else "")))
                    continue
                want = KEYS[key].kind
                if key == "policies" and isinstance(value, str):
                    value = [value]
                if not isinstance(value, want):
                    problems.append(Problem(str(file), line, col, str(key), f"expected {_kind_name(want)}, got {type(value).__name__}"))
                    continue
                if key == "policies":  # relative to the file, like every path in it
                    value = [_relative(v, file.parent) for v in value]
                if key == "db" and not str(value).startswith(("postgresql://", "postgres://")):
                    value = _relative(value, file.parent)
                cfg.settings[key] = Setting(value, f"{file}:{line}")
            if problems:
                raise PolicyError(problems)
    elif explicit:
        raise PolicyError([Problem(str(file), None, None, None, "configuration file not found")])

    for key, spec in KEYS.items():
        if spec.env and env.get(spec.env):
            cfg.settings[key] = Setting(_env_value(key, env[spec.env]), f"env {spec.env}")
    for key, value in (flags or {}).items():
        if value is None or value == () or value == []:
            continue
        cfg.settings[key] = Setting(list(value) if isinstance(value, tuple) else value, f"flag --{key.replace('_', '-')}")
    return cfg


def _relative(value: str, base: Path) -> str:
    if value.startswith("builtin:") or "://" in value or os.path.isabs(value):
        return value
    joined = base / value
    try:
        return os.path.relpath(joined)
    except ValueError:  # pragma: no cover
        return str(joined)


def _kind_name(kind: Any) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind if k is not type(None))
    return {list: "a list", dict: "a mapping", str: "a string"}.get(kind, kind.__name__)
