"""The agent-side buffer: bounded, no lost wake-up, room freed as the collector takes."""

from __future__ import annotations

import threading
import time

from handrail.producers.shipping.buffer import IDLE_S, EventBuffer


def collector(
    buffer: EventBuffer[int], seen: list[tuple[int, float]], stop: threading.Event
) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            buffer.begin_pass()
            taken = buffer.take()
            seen.extend((event, time.monotonic()) for event in taken)
            buffer.rest(bool(taken))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_put_wakes_a_dozing_collector_at_once() -> None:
    buffer: EventBuffer[int] = EventBuffer(100, 1.0)
    seen: list[tuple[int, float]] = []
    stop = threading.Event()
    thread = collector(buffer, seen, stop)
    try:
        for i in range(50):
            time.sleep(0.003)  # the collector goes idle and dozes between puts
            put_at = time.monotonic()
            buffer.put(i)
            deadline = put_at + IDLE_S / 2
            while len(seen) <= i and time.monotonic() < deadline:
                time.sleep(0.0002)
            assert len(seen) == i + 1, f"event {i} waited out a doze: a lost wake-up"
            assert seen[i][1] - put_at < IDLE_S / 2
    finally:
        stop.set()
        buffer.wake()
        thread.join(2)
    assert [event for event, _ in seen] == list(range(50))


def test_a_full_buffer_waits_max_block_then_goes_on_and_counts() -> None:
    buffer: EventBuffer[int] = EventBuffer(4, 0.05)
    for i in range(4):
        buffer.put(i)
    start = time.monotonic()
    buffer.put(4)
    waited = time.monotonic() - start
    assert 0.04 <= waited < 1.0
    assert buffer.overflowed == 1
    assert buffer.take() == [0, 1, 2, 3, 4]  # nothing dropped


def test_taking_frees_room_for_a_waiting_put() -> None:
    buffer: EventBuffer[int] = EventBuffer(4, 5.0)
    for i in range(4):
        buffer.put(i)
    done = threading.Event()

    def put() -> None:
        buffer.put(4)
        done.set()

    waiter = threading.Thread(target=put, daemon=True)
    waiter.start()
    assert not done.wait(0.1)  # full: the put waits
    assert buffer.take(2) == [0, 1]  # below the low-water mark: room
    assert done.wait(1.0), "the waiting put was not let go"
    assert buffer.overflowed == 0
    assert buffer.take() == [2, 3, 4]
