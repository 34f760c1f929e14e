"""One tool call of an async framework under ``Recorder.guard``: the guard's wait for a
person's approval blocks, so it runs on a thread, never on the framework's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from handrail.producers import Recorder

T = TypeVar("T")


async def guarded(
    recorder: Recorder,
    action: str,
    call: Callable[[], Awaitable[T]],
    *,
    resource: str | None = None,
    cost_usd: float | None = None,
) -> T:
    """Run ``call`` if decision rights let ``action`` run now; raise
    ``ActionBlockedError`` (and never call it) if they do not."""
    guard = recorder.guard(action, resource=resource, cost_usd=cost_usd)
    await asyncio.to_thread(guard.__enter__)
    try:
        result = await call()
    except BaseException as exc:
        guard.__exit__(type(exc), exc, exc.__traceback__)
        raise
    guard.__exit__(None, None, None)
    return result


Describe = Callable[[str, dict[str, Any]], tuple[str, str | None, float | None]]
"""A tool call (its name and arguments) as the action, resource and cost the rules see."""


def by_name(name: str, arguments: dict[str, Any]) -> tuple[str, str | None, float | None]:
    """The default: the tool's name is the action; no resource, no cost."""
    return name, None, None
