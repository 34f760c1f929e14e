"""YAML as the governance file reads it: PyYAML's safe loader, stricter (pure).

* A key given twice in one mapping is refused naming both lines (YAML says keys are unique;
  PyYAML keeps the last one, so ``mode: enforce`` then ``mode: shadow`` turned enforcement
  off).
* A number that is not finite (``.inf``, ``.nan``, ``1e400``) is refused with its line.
* A node that contains itself, or aliases that expand past ``MAX_NODES`` nodes, are refused.
* Lines are counted as an editor counts them, from the start of the text: PyYAML also
  breaks lines at U+0085, U+2028 and U+2029 (one in a quoted reason moved every later error
  down a line), and its error for a control character has no line at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from handrail.errors import HandrailError

MAX_NODES = 1_000_000
"""Most nodes a file may hold once its aliases are expanded (a "billion laughs" file holds a
few lines and expands past any memory)."""
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"


@dataclass
class StrictYamlError(HandrailError):
    """The text is not YAML the governance file accepts; ``line`` is 1-based, if known (the
    loader turns it into a ``GovernanceError`` naming the file)."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message


def line_at(text: str, index: int) -> int:
    """The 1-based line of a character index, as an editor shows it."""
    return text.count("\n", 0, index) + 1


def load(text: str) -> tuple[Node | None, Any]:
    """The document's node tree (for lines) and its data; ``StrictYamlError`` when it is not
    valid or not strict YAML."""
    try:
        loader = _Loader(text)  # refuses a control character at once
        try:
            root = loader.get_single_node()
            if root is None:
                return None, None
            _check(loader, text, root)
            return root, loader.construct_document(root)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _problem(text, exc) from None
    except RecursionError:
        raise StrictYamlError(None, "not valid YAML: nested too deeply") from None


class _Loader(yaml.SafeLoader):
    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """A scalar its tag cannot read (``!!int abc``) is an error at its line, not a
        ``ValueError`` from nowhere."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ConstructorError(
                None, None, f"cannot read this {node.tag.rpartition(':')[2]}: {exc}"[:160],
                node.start_mark,
            ) from None  # fmt: skip


def _check(loader: _Loader, text: str, root: Node) -> None:
    """Duplicate keys, non-finite numbers, self-containing nodes and the expanded size, in
    one walk that visits each node once (aliases share their node)."""
    sizes: dict[int, int] = {}
    path: set[int] = set()  # nodes begun and not finished: the walk's current path
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = _children(node)
        if finished:
            path.discard(key)
            size = sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if size > MAX_NODES:
                raise StrictYamlError(
                    line_at(text, node.start_mark.index),
                    f"its aliases expand past {MAX_NODES:,} nodes",
                )
            continue
        if key in sizes:
            continue
        if key in path:
            raise StrictYamlError(line_at(text, node.start_mark.index), "a node contains itself")
        path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(children))
        if isinstance(node, MappingNode):
            _unique_keys(loader, text, node)
        elif (
            isinstance(node, ScalarNode)
            and node.tag == _FLOAT
            and not math.isfinite(loader.construct_object(node))
        ):
            raise StrictYamlError(
                line_at(text, node.start_mark.index),
                f"{node.value[:20]} is not a finite number",
            )


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _unique_keys(loader: _Loader, text: str, node: MappingNode) -> None:
    first: dict[Any, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode):
            continue  # a complex key: the constructor refuses it (unhashable)
        key = "<<" if key_node.tag == _MERGE else loader.construct_object(key_node)
        line = line_at(text, key_node.start_mark.index)
        if key in first:
            raise StrictYamlError(
                line,
                f"key {key_node.value[:40]!r} is given twice, on line {first[key]} and on "
                f"line {line}: give it once",
            )
        first[key] = line


def _problem(text: str, exc: yaml.YAMLError) -> StrictYamlError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else line_at(text, mark.index)
        message = exc.problem or "invalid"
        if exc.context:
            where = exc.context_mark
            on = "" if where is None else f" on line {line_at(text, where.index)}"
            message = f"{message} ({exc.context}{on})"
        return StrictYamlError(line, f"not valid YAML: {message}")
    if isinstance(exc, yaml.reader.ReaderError):
        character = exc.character
        shown = f"#x{character:04x}" if isinstance(character, int) else repr(character)
        return StrictYamlError(
            line_at(text, exc.position), f"not valid YAML: character {shown}: {exc.reason}"
        )
    return StrictYamlError(None, f"not valid YAML: {exc}")
