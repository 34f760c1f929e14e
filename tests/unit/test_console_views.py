"""What the console draws (``console/views.py``, pure): one lane per agent in order of
appearance, events in time order, a handoff spanning from its sender's lane to its
receiver's, the path to the focused event marked; spend as polylines inside the chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handrail.console.views import (
    CHART_H,
    CHART_W,
    NONE,
    ago,
    as_time,
    chart,
    lanes,
    money,
    when,
)

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _event(n: int, agent: str, kind: str = "decision_made", **extra: object) -> dict:
    return {"event_id": f"e{n}", "time": (T0 + timedelta(seconds=n)).isoformat(),
            "agent": agent, "type": kind, **extra}  # fmt: skip


def test_lanes_follow_time_and_handoffs_span_from_sender_to_receiver() -> None:
    tree = {
        "events": [  # causal order, not time order
            _event(3, "summarizer", "handoff_accepted"),
            _event(1, "intake", "handoff_offered", handoff={"from": "intake", "to": "summarizer"}),
            _event(4, "analyst", "handoff_offered", handoff={"from": "analyst", "to": "intake"}),
            _event(2, "intake"),
        ],
        "path": ["e1", "e3"],
    }
    picture = lanes(tree)
    assert picture["agents"] == ["intake", "summarizer", "analyst"]
    assert [r["event"]["event_id"] for r in picture["rows"]] == ["e1", "e2", "e3", "e4"]
    offer, own, accepted, back = picture["rows"]
    assert (offer["lane"], offer["from"], offer["to"], offer["rightward"]) == (0, 0, 1, True)
    assert (own["from"], own["to"]) == (0, 0)
    assert (accepted["lane"], accepted["from"], accepted["to"]) == (1, 1, 1)
    assert (back["lane"], back["from"], back["to"], back["rightward"]) == (2, 0, 2, False)
    assert [r["on_path"] for r in picture["rows"]] == [True, False, True, False]
    assert picture["focused"]
    assert not lanes({"events": tree["events"], "path": []})["focused"]


def test_the_chart_keeps_every_point_inside_and_the_highest_at_the_top() -> None:
    series = [
        {"agent": "a", "t": T0, "usd": 1.0},
        {"agent": "a", "t": (T0 + timedelta(seconds=10)).isoformat(), "usd": 4.0},  # as text
        {"agent": "b", "t": T0 + timedelta(seconds=5), "usd": 0.0},
    ]
    drawn = chart(series, 5)
    assert [line["agent"] for line in drawn["lines"]] == ["a", "b"]
    points = [tuple(map(float, p.split(","))) for line in drawn["lines"]
              for p in line["points"].split()]  # fmt: skip
    assert all(0 <= x <= CHART_W and 0 <= y <= CHART_H for x, y in points)
    assert min(y for _, y in points) == drawn["pad"]  # $4 at the top
    assert chart([], 1)["lines"] == []


def test_numbers_and_times_for_people() -> None:
    assert (money(None), money(0), money(7.8), money(0.004)) == (NONE, "$0.00", "$7.80",
                                                                   "$0.0040")  # fmt: skip
    now = T0 + timedelta(seconds=3725)
    assert (ago(T0, now), ago(now, T0), ago(None)) == ("1h02m", "1h02m", NONE)
    assert ago(T0.isoformat(), T0 + timedelta(seconds=65)) == "1m05s"
    assert when("2026-12-07 12:00:00") == "2026-12-07 12:00:00 UTC"
    assert when("not a time") == "not a time"
    assert as_time("2026-12-07T12:00:00+01:00") == datetime(2026, 12, 7, 11, tzinfo=UTC)
    assert as_time("2026-12-07 12:00:00").tzinfo is UTC  # naive: the ledger's UTC
