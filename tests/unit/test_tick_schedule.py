"""Which keys a tick visits: the ones with work pending, and every key in a full pass
after an assignment and every ``full_pass_s``."""

from __future__ import annotations

from handrail.processors.detection import Detection
from handrail.processors.schedule import TickSchedule


def test_the_first_tick_of_a_partition_is_a_full_pass() -> None:
    schedule = TickSchedule(full_pass_s=300)
    assert schedule.keys(0, 1_000.0, lambda: ["agent:a", "workflow:w"]) == ["agent:a", "workflow:w"]


def test_keys_without_pending_work_are_skipped_until_the_next_full_pass() -> None:
    schedule = TickSchedule(full_pass_s=300)
    schedule.keys(0, 1_000.0, lambda: ["agent:a", "workflow:w"])
    schedule.update(0, "workflow:w", pending=False)
    schedule.update(0, "agent:a", pending=True)
    assert schedule.keys(0, 1_001.0, lambda: ["agent:a", "workflow:w"]) == ["agent:a"]
    assert sorted(schedule.keys(0, 1_300.0, lambda: ["agent:a", "workflow:w"])) == [
        "agent:a", "workflow:w",
    ]  # fmt: skip


def test_an_observed_key_with_pending_work_is_visited() -> None:
    schedule = TickSchedule(full_pass_s=300)
    schedule.keys(0, 1_000.0, list)
    schedule.update(0, "workflow:new", pending=True)
    assert schedule.keys(0, 1_001.0, list) == ["workflow:new"]
    assert schedule.keys(1, 1_001.0, lambda: ["agent:b"]) == ["agent:b"]  # its own partition


def test_forget_starts_over_with_full_passes() -> None:
    schedule = TickSchedule(full_pass_s=300)
    schedule.keys(0, 1_000.0, list)
    schedule.forget()
    assert schedule.keys(0, 1_001.0, lambda: ["agent:restored"]) == ["agent:restored"]


def test_what_is_pending() -> None:
    waiting = {"rights": {"executions": [{"due": 1.0}]}}
    assert Detection.pending("agent:a", {})
    assert Detection.pending("workflow:w", waiting)
    assert not Detection.pending("workflow:w", {"rights": {"executions": [], "verdicts": []}})
