"""Who runs the SQL box's queries (``console/pages.py`` ``SqlSlots``): one per person
whatever their sessions, at most ``SQL_SLOTS`` at once, a slot back when its query ends."""

from __future__ import annotations

import pytest
from aiohttp import web

from handrail.console.data import SQL_SLOTS
from handrail.console.pages import SqlSlots


def test_one_query_per_person_and_a_bounded_number_at_once() -> None:
    slots = SqlSlots()
    alice = slots.take("alice")
    with pytest.raises(web.HTTPTooManyRequests):
        slots.take("alice")
    taken = [slots.take(f"person-{n}") for n in range(SQL_SLOTS - 1)]
    with pytest.raises(web.HTTPServiceUnavailable):
        slots.take("carol")
    slots.give_back(alice)
    assert slots.take("carol") == alice
    assert len({alice, *taken}) == SQL_SLOTS
