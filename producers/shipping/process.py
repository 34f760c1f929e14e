"""The shipper process (``producer.shipper = "process"``).

    python -m handrail.producers.shipping.process   (started by a recorder, never by hand)

It reads the settings, then packed events, from stdin (``link.py``) and runs the
usual shipper (``shipper.py``) on them, reporting the shipper's stats on stdout whenever
they change. It stops on ``CLOSE`` (within the recorder's close timeout), or when stdin
ends because the agent's process is gone (after up to ``ORPHANED_S`` of delivering);
what it could not deliver by then stays in the spool. It runs in a session of its own and
ignores SIGINT, so a Ctrl-C meant for the agent does not cut it short.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import signal
import sys
import threading
from typing import IO

from handrail.producers.packing import unpack
from handrail.producers.shipping.link import (
    CLOSE,
    CLOSED,
    CONFIG,
    EVENTS,
    REPORT,
    pack_stats,
    read_frame,
    write_frame,
)
from handrail.producers.shipping.shipper import Shipper

REPORT_S = 0.005
"""How often the stats are looked at (and sent when they changed)."""
ORPHANED_S = 300.0
"""How long it keeps delivering after the agent's process died (then the rest stays in
the spool, for the agent's next run)."""


def _report(shipper: Shipper, out: IO[bytes], stop: threading.Event) -> None:
    last = None
    with contextlib.suppress(OSError):  # else the agent's process is gone: nobody listens
        while not stop.wait(REPORT_S):
            stats = shipper.stats()
            if stats != last:
                write_frame(out, REPORT, pack_stats(stats))
                last = stats


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    src, out = sys.stdin.buffer, sys.stdout.buffer
    frame = read_frame(src)
    if frame is None or frame[0] != CONFIG:
        print("handrail shipper process: no settings on stdin", file=sys.stderr)
        return 2
    settings, session = pickle.loads(frame[1])
    logging.basicConfig(
        level=logging.WARNING, format="handrail-shipper[%(process)d] %(levelname)s %(message)s"
    )
    shipper = Shipper.from_settings(settings, session)
    stop = threading.Event()
    reporter = threading.Thread(target=_report, args=(shipper, out, stop), daemon=True)
    reporter.start()
    timeout = ORPHANED_S  # unless the recorder closes: then its close timeout
    while (frame := read_frame(src)) is not None:
        kind, body = frame
        if kind == EVENTS:
            with shipper.lock:
                for packed in unpack(body):
                    shipper.put(packed)
        elif kind == CLOSE:
            timeout = unpack(body)
            break
    stop.set()
    reporter.join()
    done = shipper.close(timeout)
    with contextlib.suppress(OSError):
        write_frame(out, CLOSED, pack_stats(shipper.stats(), done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
