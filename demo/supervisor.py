"""The person on duty in the demo: approves what the agents ask for, a moment after they
ask, the way `handrail approvals approve` would (a signed, recorded decision: who and why)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from handrail.control.decisions import on_approval, payload
from handrail.control.follower import read_control
from handrail.demo.scenario import approver_key
from handrail.governance import load
from handrail.governance.authority import Authority
from handrail.governance.signing import load_private_key, sign
from handrail.producers import Recorder
from handrail.producers.decisions import IDENTITY
from handrail.settings import AgentIdentity, Settings

APPROVER = "alice"


class Supervisor:
    def __init__(self, settings: Settings, progress: Callable[[str], None]) -> None:
        self._settings = settings.model_copy(deep=True)
        file = self._settings.governance.file
        self._authority = Authority(load(file) if file is not None else None)
        self._key = load_private_key(approver_key(settings))
        self._settings.governance.file = None  # a person, not an agent under rules
        self._say = progress
        self.approved = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-supervisor", daemon=True)

    def __enter__(self) -> Supervisor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        identity = AgentIdentity(name=IDENTITY, owner=APPROVER)
        with Recorder(self._settings, identity) as rec:
            while not self._stop.wait(0.2):
                state = read_control(self._settings, self._authority)
                for request in state.pending():
                    decision = on_approval(self._authority, state, request.approval_id,
                                           signer=APPROVER, reason="checked against the ticket",
                                           grant=True)  # fmt: skip
                    signed = payload(decision, sign(decision, self._key))
                    rec.record(signed, workflow_id=request.workflow_id,
                               caused_by=request.event_id)  # fmt: skip
                    self.approved += 1
                    if request.cost_usd is not None and request.cost_usd > 5:
                        self._say(f"{APPROVER} approved {request.agent}'s {request.action} "
                                  f"costing ${request.cost_usd:.2f}")  # fmt: skip
