"""An agent process with ``producer.shipper = "process"``, for the shipper process tests.

    python -m tests.support.process_shipper_agent BOOTSTRAP TOPIC SPOOL_DIR COUNT IDS_FILE

Records COUNT events flat out (writing their ids to IDS_FILE), waits 0.2 s (its link
thread writes the queue to the pipe every 2 ms), prints ``RECORDED`` and its shipper
process's pid, and sleeps until killed. It never flushes: what its shipper process does
after the agent dies is what the test looks at.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from handrail.producers import Recorder
from handrail.settings import (
    AgentIdentity,
    KafkaSettings,
    ProducerSettings,
    Settings,
    SpoolSettings,
)


def main() -> int:
    bootstrap, topic, spool, count, ids_file = sys.argv[1:6]
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, events_topic=topic),
        spool=SpoolSettings(dir=Path(spool)),
        producer=ProducerSettings(shipper="process"),
    )
    rec = Recorder(settings, AgentIdentity(name="doomed-agent", owner="team-test"))
    with rec.workflow():
        ids = [rec.decision("db.write", "step").event_id for _ in range(int(count))]
    Path(ids_file).write_text("\n".join(ids) + "\n")
    time.sleep(0.2)
    print("RECORDED", rec.stats().accepted, flush=True)
    time.sleep(3600)
    return 1


if __name__ == "__main__":
    sys.exit(main())
