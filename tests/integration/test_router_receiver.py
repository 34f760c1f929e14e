"""The test HTTP receiver itself (``tests.support.receiver``), which other suites reuse."""

from __future__ import annotations

import httpx
import pytest

from tests.support.receiver import Receiver


def test_records_requests_and_scripts_answers() -> None:
    with Receiver() as rx, httpx.Client() as client:
        rx.fail_next("/a", 2, 503, headers={"Retry-After": "1"})
        answers = [client.post(rx.url("/a?x=1"), json={"n": n}) for n in range(3)]
        client.post(rx.url("/b"), content=b"not json", headers={"X-Test": "yes"})

        assert [r.status_code for r in answers] == [503, 503, 200]
        assert answers[0].headers["retry-after"] == "1"
        assert answers[2].json() == {"status": "success"}
        seen = rx.wait_for("/a", 3)
        assert [r.json for r in seen] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert seen[0].query == "x=1"
        assert seen[0].method == "POST"
        assert seen[0].time <= seen[1].time <= seen[2].time
        [other] = rx.requests("/b")
        assert (other.json, other.body, other.header("x-test")) == (None, b"not json", "yes")
        assert len(rx.requests()) == 4


def test_wait_for_times_out_with_the_count() -> None:
    with Receiver() as rx, pytest.raises(TimeoutError, match="/x: 0 of 1"):
        rx.wait_for("/x", 1, timeout=0.1)


def test_stall_makes_a_client_time_out() -> None:
    with Receiver() as rx, httpx.Client(timeout=0.1) as client:
        rx.stall_next("/slow", 1, 0.5)
        with pytest.raises(httpx.ReadTimeout):
            client.post(rx.url("/slow"), json={})
        assert client.post(rx.url("/slow"), json={}).status_code == 200


def test_clear_and_a_fresh_port_each_time() -> None:
    with Receiver() as one, Receiver() as two:
        assert one.port != two.port
        one.fail_next("/a", 1, 500)
        httpx.post(one.url("/b"), json={})
        one.clear()
        assert one.requests() == []
        assert httpx.post(one.url("/a"), json={}).status_code == 200
