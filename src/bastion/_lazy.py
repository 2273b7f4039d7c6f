"""Names a package re-exports but imports only on first use (PEP 562), so that importing the
package, or one of its submodules, stays cheap."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(package: str, names: Mapping[str, str], namespace: dict[str, Any] | None = None) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `name` from the module `names[name]` on first use.

    With `namespace` (the package's `globals()`) the value is kept there, so later look-ups
    skip `__getattr__`; without it every look-up asks the submodule again (for a package
    whose names share a submodule's name, where the import system rebinds that name).
    """

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        if namespace is not None:
            namespace[name] = value
        return value

    return __getattr__
