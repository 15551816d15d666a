"""YAML read with line numbers, so every catalogue error can say ``file:line``."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["LineDict", "LineList", "YamlLocError", "load_with_lines"]


class YamlLocError(ValueError):
    """Invalid YAML; the message starts with ``file:line:``."""


class LineDict(dict[str, Any]):
    """A mapping that remembers the line of itself and of each key (1-based)."""

    line: int
    lines: dict[str, int]


class LineList(list[Any]):
    """A sequence that remembers the line of itself and of each item (1-based)."""

    line: int = 0
    lines: list[int]

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.lines = []


def _convert(node: Node, source: str, ctor: SafeConstructor) -> Any:
    if isinstance(node, MappingNode):
        out = LineDict()
        out.line, out.lines = node.start_mark.line + 1, {}
        for k, v in node.value:
            key = _convert(k, source, ctor)
            if not isinstance(key, str):
                raise YamlLocError(f"{source}:{k.start_mark.line + 1}: keys must be text")
            if key in out:
                raise YamlLocError(f"{source}:{k.start_mark.line + 1}: duplicate key {key!r}")
            out[key] = _convert(v, source, ctor)
            out.lines[key] = k.start_mark.line + 1
        return out
    if isinstance(node, SequenceNode):
        seq = LineList(_convert(v, source, ctor) for v in node.value)
        seq.line, seq.lines = node.start_mark.line + 1, [v.start_mark.line + 1 for v in node.value]
        return seq
    assert isinstance(node, ScalarNode)
    return ctor.construct_object(node)


def load_with_lines(text: str, source: str) -> Any:
    """Parse one YAML document into plain values with :class:`LineDict` / :class:`LineList`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark is not None else "?"
        raise YamlLocError(f"{source}:{line}: invalid YAML: {exc}") from None
    if root is None:
        raise YamlLocError(f"{source}:1: empty document")
    return _convert(root, source, SafeConstructor())
