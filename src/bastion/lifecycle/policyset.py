"""A policy set as texts: {key: YAML}. The one currency of push, replay and shadow mode.

Keys are real file paths for policies read from disk (so `extends: ./base.yaml` resolves
as it always does) and `store:NAME@vN` for versions from the policy store. Replacing
a policy in a set is by policy id: a candidate `team-payments` replaces whichever text
in the baseline declares `policy: team-payments`.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Iterable, Mapping

from bastion.errors import PolicyError, Problem
from bastion.policy.document import Policy
from bastion.policy.loader import BUILTIN_PREFIX, builtin_names, builtin_path, expand_sources, parse_policy_text

Texts = dict[str, str]


def content_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def store_key(name: str, version: int) -> str:
    return f"store:{name}@v{version}"


def read_sources(sources: Iterable[str | os.PathLike[str]]) -> Texts:
    """The texts of files, directories (their policy files) and `builtin:NAME` sources."""
    out: Texts = {}
    for path in expand_sources(sources):
        try:
            out[str(path)] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError([Problem(str(path), None, None, None, f"cannot read: {exc}")]) from None
    return out


def builtin_text(name: str) -> str:
    bare = name.removeprefix(BUILTIN_PREFIX)
    path = builtin_path(bare)
    if not path.is_file():
        raise PolicyError([Problem(name, None, None, None, f"unknown built-in policy {bare!r}; available: {', '.join(builtin_names())}")])
    return path.read_text(encoding="utf-8")


def parse_all(texts: Mapping[str, str]) -> dict[str, Policy]:
    """key -> parsed document; every problem of every text reported together."""
    docs: dict[str, Policy] = {}
    problems: list[Problem] = []
    for key, text in texts.items():
        try:
            docs[key], _ = parse_policy_text(text, key)
        except PolicyError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PolicyError(problems)
    return docs


def ids(texts: Mapping[str, str]) -> dict[str, str]:
    """policy id -> key."""
    return {doc.policy: key for key, doc in parse_all(texts).items()}


def replace(baseline: Mapping[str, str], candidate: Mapping[str, str]) -> Texts:
    """The baseline with every policy the candidate declares replaced (or added)."""
    replaced = set(ids(candidate))
    out = {k: t for k, (t, doc) in _with_docs(baseline).items() if doc.policy not in replaced}
    out.update(candidate)
    return out


def _with_docs(texts: Mapping[str, str]) -> dict[str, tuple[str, Policy]]:
    docs = parse_all(texts)
    return {k: (texts[k], docs[k]) for k in texts}


def build_engine(texts: Mapping[str, str], **kwargs: Any) -> Any:
    """An Engine over a set of texts (compiled, examples checked)."""
    from bastion.engine import Engine

    if not texts:
        raise PolicyError([Problem("(policies)", None, None, None, "no policy given")])
    return Engine.from_texts(dict(texts), **kwargs)
