"""Where an event belongs: the current workflow and the causal parent, per context.

The scope lives in a ``ContextVar``, so it follows nested calls and asyncio tasks (each
task starts with a copy of its creator's scope). Within a workflow each recorded event
becomes the parent of the next one at the same level; inside ``with recorder.within(e)``
events are children of ``e``, and the level resumes after ``e`` when the block exits.
Threads start with no scope: hand it over with ``contextvars.copy_context().run``.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import NamedTuple

from handrail.producers.errors import InvalidEventError
from handrail.producers.validation import is_event_id


class Scope(NamedTuple):
    workflow_id: str
    parent_id: str | None


current: ContextVar[Scope | None] = ContextVar("handrail_scope", default=None)


class enter:  # noqa: N801 - used like a function: ``with scope.enter(wf, parent):``
    """Make ``(workflow_id, parent_id)`` the scope of a block; restore the outer one after."""

    __slots__ = ("_scope", "_token")

    def __init__(self, workflow_id: str, parent_id: str | None) -> None:
        # (the workflow id is checked by the first record call in the block, under the
        # recorder's limits; a parent must be an event id)
        if parent_id is not None and not is_event_id(parent_id):
            raise InvalidEventError("invalid scope: the parent is not an event id (a UUID)")
        self._scope = Scope(workflow_id, parent_id)
        self._token: Token[Scope | None] | None = None

    def __enter__(self) -> Scope:
        self._token = current.set(self._scope)
        return self._scope

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            current.reset(self._token)
            self._token = None
