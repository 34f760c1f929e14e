"""A real agent process for outage tests.

    python -m tests.support.agent_process BOOTSTRAP TOPIC SPOOL_DIR COUNT IDS_FILE [--wait-online]

Records COUNT events, appending each event id to IDS_FILE; then flushes (every event
delivered or spooled) and prints ``FLUSHED``. With ``--wait-online`` it then waits until
the spool is replayed and exits 0; without, it sleeps until killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from handrail.producers import Recorder
from handrail.settings import AgentIdentity
from tests.support.kafka_io import kafka_settings


def main() -> int:
    bootstrap, topic, spool, count, ids_file = sys.argv[1:6]
    settings = kafka_settings(
        bootstrap, topic, Path(spool), send_timeout_s=1.0, retry_backoff_max_s=0.5
    )
    rec = Recorder(settings, AgentIdentity(name="outage-agent", owner="team-test"))
    with Path(ids_file).open("a") as out, rec.workflow():
        for i in range(int(count)):
            out.write(rec.retry("api.call", "op-1", i + 1, "502").event_id + "\n")
    assert rec.flush(60), "flush timed out"
    print("FLUSHED", flush=True)
    if "--wait-online" not in sys.argv:
        time.sleep(3600)
        return 1
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stats = rec.stats()
        if stats.state == "online" and stats.delivered >= stats.accepted:
            break
        time.sleep(0.2)
    rec.close(30)
    print("ONLINE", rec.stats(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
