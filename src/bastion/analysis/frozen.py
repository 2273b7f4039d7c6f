"""Immutable facts: analysis results are cached and shared between decisions.

`FrozenDict` is a real `dict` (so JSON encoding, `isinstance(x, dict)` and the policy
matchers work unchanged) whose mutating methods raise. Lists become tuples.
"""

from __future__ import annotations

from typing import Any, Mapping


class FrozenDict(dict):  # type: ignore[type-arg]
    __slots__ = ()

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("analysis facts are immutable (they are cached and shared)")

    __setitem__ = _readonly  # type: ignore[assignment]
    __delitem__ = _readonly  # type: ignore[assignment]
    clear = _readonly  # type: ignore[assignment]
    pop = _readonly  # type: ignore[assignment]
    popitem = _readonly  # type: ignore[assignment]
    setdefault = _readonly  # type: ignore[assignment]
    update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> "FrozenDict":
        return self

    def __deepcopy__(self, memo: Any) -> "FrozenDict":
        return self


_SCALARS = (str, int, bool, float, type(None))


def freeze(value: Any) -> Any:
    """Recursively turn dicts into FrozenDicts and lists/sets into tuples."""
    t = type(value)
    if t in _SCALARS or t is FrozenDict:
        return value
    if t in (list, tuple, set, frozenset):
        return tuple(v if type(v) in _SCALARS else freeze(v) for v in value)
    if t is dict or isinstance(value, Mapping):
        return FrozenDict({k if type(k) is str else str(k): (v if type(v) in _SCALARS else freeze(v)) for k, v in value.items()})
    return value


def thaw(value: Any) -> Any:
    """Plain, mutable copies (dict, list) of frozen facts, for consumers that need exact JSON
    types (cel-expr-python rejects dict/list subclasses and tuples)."""
    t = type(value)
    if t in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if t in (list, tuple, set, frozenset):
        return [thaw(v) for v in value]
    return value


EMPTY = FrozenDict()
