"""Control entries as records of a given time, and the control state a list of them makes
under the signers' governance file (``tests.support.signers``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handrail.control.state import ControlState
from tests.support.samples import event_record
from tests.support.signers import authority


def at(when: datetime, kind: str, agent: str, **fields: Any) -> dict[str, Any]:
    record = event_record(kind, agent=agent, **fields)
    record["time"] = when
    return record


def state(*records: dict[str, Any], agent: str | None = None) -> ControlState:
    control = ControlState(agent, authority())
    for record in records:
        control.apply(record)
    return control
