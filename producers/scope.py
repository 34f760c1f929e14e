"""Where an event belongs: the current workflow and the causal parent, per context.

The scope lives in a ``ContextVar``, so it follows nested calls and asyncio tasks (each
task starts with a copy of its creator's scope). Within a workflow each recorded event
becomes the parent of the next one at the same level; inside ``with recorder.within(e)``
events are children of ``e``, and the level resumes after ``e`` when the block exits.
Threads start with no scope: hand it over with ``contextvars.copy_context().run``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple


class Scope(NamedTuple):
    workflow_id: str
    parent_id: str | None


current: ContextVar[Scope | None] = ContextVar("handrail_scope", default=None)


@contextmanager
def enter(workflow_id: str, parent_id: str | None) -> Iterator[Scope]:
    """Make ``(workflow_id, parent_id)`` the scope of the block; restore the outer one after."""
    scope = Scope(workflow_id, parent_id)
    token = current.set(scope)
    try:
        yield scope
    finally:
        current.reset(token)
