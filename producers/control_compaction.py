"""What of the control log still counts (pure, no I/O): the embedded control channel is
one append-only file that every agent reads from its start, so ``ControlLog`` rewrites it
with only these entries once it grows past ``spool.control_log_max_bytes``.

An entry is kept when a reader's ``ControlState`` could still need it:

* per halt target, the entry that decides it (the latest by event time; on a tie, the
  later one), halt or resume alike, so a late, older halt cannot win afterwards;
* every approval still pending, and one decided less than a day before the newest entry
  (``control.FORGET``): its request and its first decision;
* the first answer to a handoff, when less than a day old;
* an entry that does not decode (it is logged by every reader; it is not ours to drop).

Reading the kept entries gives the same halts, the same pending approvals and the same
recent decisions and answers as reading the whole log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handrail.producers.control import DECISIONS, FORGET, Target, halt_target
from handrail.schemas import DecodeError, decode, event_type


def compact(entries: list[bytes]) -> list[bytes]:
    """The entries that still count, in their order."""
    records: list[tuple[int, dict[str, Any]]] = []
    keep: set[int] = set()
    for index, value in enumerate(entries):
        try:
            records.append((index, decode(value)[1]))
        except DecodeError:
            keep.add(index)
    if records:
        cutoff = max(record["time"] for _, record in records) - FORGET
        keep |= _halts(records) | _approvals(records, cutoff) | _answers(records, cutoff)
    return [value for index, value in enumerate(entries) if index in keep]


def _halts(records: list[tuple[int, dict[str, Any]]]) -> set[int]:
    latest: dict[Target, tuple[datetime, int]] = {}
    for index, record in records:
        if event_type(record) in ("halt", "resume"):
            target = halt_target(record["payload"][1])
            current = latest.get(target)
            if current is None or record["time"] >= current[0]:
                latest[target] = (record["time"], index)
    return {index for _, index in latest.values()}


def _approvals(records: list[tuple[int, dict[str, Any]]], cutoff: datetime) -> set[int]:
    requests: dict[str, int] = {}
    decisions: dict[str, tuple[int, datetime]] = {}
    for index, record in records:
        kind = event_type(record)
        approval_id = record["payload"][1].get("approval_id")
        if kind == "approval_requested":
            requests.setdefault(approval_id, index)
        elif kind in DECISIONS and approval_id in requests:
            decisions.setdefault(approval_id, (index, record["time"]))
    keep = set()
    for approval_id, index in requests.items():
        decided = decisions.get(approval_id)
        if decided is None:
            keep.add(index)
        elif decided[1] > cutoff:
            keep |= {index, decided[0]}
    return keep


def _answers(records: list[tuple[int, dict[str, Any]]], cutoff: datetime) -> set[int]:
    first: dict[str, tuple[int, datetime]] = {}
    for index, record in records:
        if event_type(record) in ("handoff_accepted", "handoff_rejected"):
            first.setdefault(record["payload"][1]["handoff_id"], (index, record["time"]))
    return {index for index, time in first.values() if time > cutoff}
