"""Program knowledge: what each known program does, as derived actions.

One module per family (files, shells, interpreters, git, network, databases,
infrastructure, system, packages). A handler receives the unwrapped `Invocation`
and an `Emitter` and describes the command's effects; programs without a handler
get the generic one (generic.py), which classifies sub-command verbs.
"""

from __future__ import annotations

from typing import Callable

from bastion.analysis.emit import Emitter
from bastion.analysis.wrappers import Invocation

Handler = Callable[[Invocation, Emitter], None]

#: lower-case program name -> handler
HANDLERS: dict[str, Handler] = {}


def register(*names: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = fn
        return fn

    return deco


# importing the modules fills HANDLERS
from bastion.analysis.programs import (  # noqa: E402,F401
    databases,
    files,
    git,
    infra,
    interpreters,
    network,
    packages,
    shells,
    system,
)
