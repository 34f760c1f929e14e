"""``handrail run`` with Kafka supervises its children: a failed one is restarted with
backoff, a stop stops them all (real processes, stand-in commands)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from handrail.embedded import supervise as module
from handrail.embedded.supervise import Child, restart_delay, supervise


def test_restart_delay_backs_off_and_resets_after_a_steady_run() -> None:
    assert [restart_delay(n, ran_for=1.0) for n in (1, 2, 3, 7, 20)] == [0.5, 1.0, 2.0, 30.0, 30.0]
    assert restart_delay(5, ran_for=module.STEADY_S) == 0.0


def test_a_failing_child_is_restarted_and_a_stop_stops_every_child(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    fail = f"open({str(starts)!r}, 'a').write('x'); raise SystemExit(3)"
    flaky = Child("flaky", [sys.executable, "-c", fail])
    steady = Child("steady", [sys.executable, "-c", "import time; time.sleep(60)"])
    stop = threading.Event()
    thread = threading.Thread(target=supervise, args=([flaky, steady], stop, 0.05))
    thread.start()
    deadline = time.monotonic() + 20
    while (not starts.exists() or len(starts.read_text()) < 3) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(40)
    assert len(starts.read_text()) >= 3  # restarted after 0.5 s, then 1 s
    assert steady.process is not None
    assert steady.process.returncode is not None
    assert not thread.is_alive()
