"""An agent process with ``producer.shipper = "process"``, for the shipper process tests.

    python -m tests.support.process_shipper_agent BOOTSTRAP TOPIC SPOOL_DIR COUNT IDS_FILE

Records COUNT events flat out (writing their ids to IDS_FILE), waits until its link thread
has written them all to the pipe, prints ``RECORDED`` with how many Kafka has acknowledged
so far, and sleeps until killed. It never
flushes: what its shipper process does after the agent dies is what the test looks at.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from handrail.producers import Recorder
from handrail.producers.shipping.remote import RemoteShipper
from handrail.settings import AgentIdentity
from tests.support.kafka_io import kafka_settings


def main() -> int:
    bootstrap, topic, spool, count, ids_file = sys.argv[1:6]
    settings = kafka_settings(bootstrap, topic, Path(spool), shipper="process")
    rec = Recorder(settings, AgentIdentity(name="doomed-agent", owner="team-test"))
    with rec.workflow():
        ids = [rec.decision("db.write", "step").event_id for _ in range(int(count))]
    Path(ids_file).write_text("\n".join(ids) + "\n")
    shipper = rec._shipper
    assert isinstance(shipper, RemoteShipper)
    deadline = time.monotonic() + 60
    while shipper.unwritten and time.monotonic() < deadline:
        time.sleep(0.001)
    assert not shipper.unwritten, "the pipe stayed full for 60 s"
    print("RECORDED", rec.stats().delivered, flush=True)
    time.sleep(3600)
    return 1


if __name__ == "__main__":
    sys.exit(main())
