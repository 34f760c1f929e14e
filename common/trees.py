"""Walking a forest given as roots and a children function (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def preorder(starts: Iterable[T], children: Callable[[T], Iterable[T]]) -> list[T]:
    """Every node reachable from ``starts``, each once (by identity) and before its
    children, the starts' trees in their order. No recursion: a chain may be thousands
    long; a cycle ends where it comes back."""
    out: list[T] = []
    seen: set[int] = set()
    stack = list(starts)[::-1]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        out.append(node)
        stack.extend(list(children(node))[::-1])
    return out
