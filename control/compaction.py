"""What of the control log still counts (pure, no I/O): the embedded control channel is
one append-only file that every agent reads from its start, so ``ControlLog`` rewrites it
with only these entries once it grows past ``spool.control_log_max_bytes``.

Compaction cannot check a signature (it runs in whichever process appends, which need not
hold the governance file), so it never lets one entry stand in for another whose
signature a reader may find good and this one's not:

* every halt and every resume is kept, in its place: a halt stays in force until a
  permitted person lifts it, however long that takes, and no entry (a forged resume dated
  in 2299, say) can push it out. They are few: one per incident and one per lift. (The
  halts topic does the same on Kafka: ``control_topics``.)
* an approval's request and every decision on it, while it is pending or its latest
  decision is less than a day old (``control.FORGET``): a forged first decision never
  hides the real one after it;
* the first answer to a handoff, when less than a day old;
* an entry that does not decode (it is logged by every reader; it is not ours to drop).

"A day old" counts back from the wall clock, or from the newest entry's time if that is
earlier (a log read long after it was written): never from a time later than now, so an
entry that claims a time in the future (2299, unsigned) cannot push out a decision or an
answer that a waiting agent has not read yet.

Reading the kept entries gives the same halts, the same pending approvals and the same
recent decisions and answers as reading the whole log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from handrail.control.state import FORGET
from handrail.schemas import DecodeError, decode, event_type
from handrail.schemas.vocabulary import DECISIONS


def compact(entries: list[bytes], now: datetime | None = None) -> list[bytes]:
    """The entries that still count at ``now`` (None: the wall clock), in their order."""
    records: list[tuple[int, dict[str, Any]]] = []
    keep: set[int] = set()
    for index, value in enumerate(entries):
        try:
            records.append((index, decode(value)[1]))
        except DecodeError:
            keep.add(index)
    if records:
        newest = max(record["time"] for _, record in records)
        cutoff = min(now or datetime.now(UTC), newest) - FORGET
        keep |= _halts(records) | _approvals(records, cutoff) | _answers(records, cutoff)
    return [value for index, value in enumerate(entries) if index in keep]


def _halts(records: list[tuple[int, dict[str, Any]]]) -> set[int]:
    return {index for index, record in records if event_type(record) in ("halt", "resume")}


def _approvals(records: list[tuple[int, dict[str, Any]]], cutoff: datetime) -> set[int]:
    requests: dict[str, int] = {}
    decisions: dict[str, list[int]] = {}
    latest: dict[str, datetime] = {}
    for index, record in records:
        kind = event_type(record)
        approval_id = record["payload"][1].get("approval_id")
        if kind == "approval_requested":
            requests.setdefault(approval_id, index)
        elif kind in DECISIONS and approval_id in requests:
            decisions.setdefault(approval_id, []).append(index)
            latest[approval_id] = max(latest.get(approval_id, record["time"]), record["time"])
    keep = set()
    for approval_id, index in requests.items():
        decided = latest.get(approval_id)
        if decided is None or decided > cutoff:
            keep |= {index, *decisions.get(approval_id, ())}
    return keep


def _answers(records: list[tuple[int, dict[str, Any]]], cutoff: datetime) -> set[int]:
    first: dict[str, tuple[int, datetime]] = {}
    for index, record in records:
        if event_type(record) in ("handoff_accepted", "handoff_rejected"):
            first.setdefault(record["payload"][1]["handoff_id"], (index, record["time"]))
    return {index for index, time in first.values() if time > cutoff}
