"""The pipe protocol between a recorder and its shipper process (pure, no process)."""

from __future__ import annotations

import io

from handrail.producers.shipping import ShipperStats
from handrail.producers.shipping.link import (
    EVENTS,
    REPORT,
    pack,
    pack_stats,
    read_frame,
    unpack,
    unpack_stats,
    write_frame,
)


def test_frames_round_trip_in_order() -> None:
    payload = {"attempt": 2, "checks": [{"passed": True}]}
    record = {"event_id": "e1", "time": 1_700_000_000_000_000, "labels": {"env": "prod"},
              "payload": ("handrail.Retry", payload)}  # fmt: skip
    pipe = io.BytesIO()
    write_frame(pipe, EVENTS, pack([pack(record), pack(record)]))
    write_frame(pipe, REPORT, b"")
    pipe.seek(0)
    kind, body = read_frame(pipe) or (None, b"")
    assert kind == EVENTS
    assert [unpack(p) for p in unpack(body)] == [record, record]
    assert read_frame(pipe) == (REPORT, b"")
    assert read_frame(pipe) is None


def test_a_frame_cut_short_reads_as_the_end_of_the_pipe() -> None:
    pipe = io.BytesIO()
    write_frame(pipe, EVENTS, b"0123456789")
    for cut in (2, 7, 14):  # inside the header, inside the body
        assert read_frame(io.BytesIO(pipe.getvalue()[:cut])) is None


def test_stats_travel_with_what_follows_them() -> None:
    stats = ShipperStats(10, 7, 3, 10, 1, 0, "degraded")
    assert unpack_stats(pack_stats(stats, True)) == (stats, (True,))
    assert unpack_stats(pack_stats(stats)) == (stats, ())
