"""YAML loading that remembers where every value was written.

Policy errors must name file, line and column. PyYAML's composer gives each node a
start mark; we build plain Python data from the node tree and keep a map from the
value's path (('rules', 3, 'effect')) to its (line, column), 1-based.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bastion.errors import PolicyError, Problem

Path = tuple[Any, ...]
Positions = dict[Path, tuple[int, int]]

try:  # the C loader is several times faster where libyaml is available
    _Loader: type = yaml.CSafeLoader  # type: ignore[attr-defined]
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


class _Builder:
    def __init__(self, loader: Any, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.positions: Positions = {}

    def build(self, node: Node, path: Path) -> Any:
        self.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, MappingNode):
            self.loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    raise self._error(key_node, path, "mapping keys must be plain scalars")
                if key in out:
                    raise self._error(key_node, path + (key,), f"duplicate key {key!r}")
                out[key] = self.build(value_node, path + (key,))
            return out
        if isinstance(node, SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self.loader.construct_object(node, deep=True)

    def _error(self, node: Node, path: Path, message: str) -> PolicyError:
        from bastion.errors import format_loc

        return PolicyError(
            [Problem(self.filename, node.start_mark.line + 1, node.start_mark.column + 1, format_loc(path) or None, message)]
        )


def load_documents(text: str, filename: str) -> list[tuple[Any, Positions]]:
    """Parse every YAML document in `text`; raise PolicyError with the position of a syntax error."""
    loader = _Loader(text)
    docs: list[tuple[Any, Positions]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover
                break
            builder = _Builder(loader, filename)
            docs.append((builder.build(node, ()), builder.positions))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        message = exc.problem or str(exc)
        if exc.context:
            message = f"{exc.context}: {message}"
        raise PolicyError([Problem(filename, line, col, None, f"YAML syntax error: {message}")]) from None
    except yaml.YAMLError as exc:
        raise PolicyError([Problem(filename, None, None, None, f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    return docs


def position(positions: Positions, path: Path) -> tuple[int | None, int | None]:
    """The position of `path`, or of its nearest ancestor that has one."""
    path = tuple(path)
    while path:
        if path in positions:
            return positions[path]
        path = path[:-1]
    return positions.get((), (None, None))
