"""A real agent process that runs one guarded action and says what happened.

    python -m tests.support.guarded_agent AGENT ACTION [RESOURCE]

Settings (Kafka or the embedded default, the spool, the control log, the governance
file) come from HANDRAIL_* variables. Prints one JSON line: ``{"ran": bool, "outcome":
..., "approval_id": ..., "time": <unix time when the guard let go>}``.
"""

from __future__ import annotations

import json
import sys
import time

from handrail.producers import ActionBlockedError, Recorder
from handrail.settings import AgentIdentity, Settings


def main() -> int:
    agent, action, *rest = sys.argv[1:]
    resource = rest[0] if rest else None
    with Recorder(Settings(), AgentIdentity(name=agent, owner="team-test")) as rec:
        try:
            with rec.workflow(f"wf-{agent}"), rec.guard(action, resource=resource) as guard:
                result = {"ran": True, "outcome": "ran", "approval_id": guard.approval_id}
        except ActionBlockedError as blocked:
            result = {"ran": False, "outcome": blocked.outcome, "approval_id": blocked.approval_id,
                      "why": blocked.why}  # fmt: skip
        result["time"] = time.time()
        rec.flush(10)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
