"""Compacting the embedded control log: what still counts is kept, readers and writers
follow the log into its new file, and nothing that counts is lost to concurrent writers."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from pathlib import Path
from typing import Any

from handrail.control.compaction import compact
from handrail.control.follower import LogSource, read_control
from handrail.control.log import ControlLog
from handrail.control.state import ControlState
from handrail.schemas import decode, encode
from handrail.settings import Settings, SpoolSettings
from tests.support.samples import NOW, event_record
from tests.support.signers import authority, decision_fields, halt_fields, resume_fields

DAY = 24 * 3600


def at(seconds: float, kind: str, agent: str = "writer", **fields: Any) -> bytes:
    record = event_record(kind, agent=agent, **fields)
    record["time"] = NOW + timedelta(seconds=seconds)
    return encode(record)


def halt(seconds: float, kind: str, agent: str, operation: str | None = None,
         lifts: bytes | None = None) -> bytes:  # fmt: skip
    """A halt signed by the processors, or a resume by alice of the halt ``lifts``."""
    if kind == "halt":
        return at(seconds, kind, "handrail-processors", **halt_fields(agent, operation))
    assert lifts is not None
    halt_id = str(decode(lifts)[1]["event_id"])
    return at(seconds, kind, "handrail-cli", **resume_fields(agent, operation, halt_id))


ASKED: dict[str, dict[str, Any]] = {}
"""The requests made, by approval id: what a decision on one signs."""


def request(seconds: float, approval_id: str) -> bytes:
    value = at(seconds, "approval_requested", approval_id=approval_id,
               action="db.customers.write", reason="needs a human")  # fmt: skip
    ASKED[approval_id] = decode(value)[1]
    return value


def decided(seconds: float, approval_id: str, kind: str = "approval_granted",
            signer: str = "alice") -> bytes:  # fmt: skip
    """``signer``'s signed decision (alice may decide; mallory may not)."""
    fields = decision_fields(kind, ASKED[approval_id], signer)  # type: ignore[arg-type]
    return at(seconds, kind, "handrail-cli", **fields)


def answer(seconds: float, handoff_id: str, kind: str = "handoff_accepted") -> bytes:
    return at(seconds, kind, "reviewer", handoff_id=handoff_id, from_agent="writer")


def state(entries: list[bytes]) -> ControlState:
    control = ControlState(authority=authority())
    for value in entries:
        control.apply(decode(value)[1])
    return control


PAYER_HALTED = halt(0, "halt", "payer")
LOG = {
    "payer halted": PAYER_HALTED,
    "payer resumed": halt(10, "resume", "payer", lifts=PAYER_HALTED),
    "payer halted late, with an older time": halt(3, "halt", "payer"),
    "op halted": halt(5, "halt", "payer", "op-1"),
    "old request": request(0, "ap-old"),
    "old grant": decided(5, "ap-old"),
    "pending request": request(1, "ap-pending"),
    "recent request": request(2 * DAY - 60, "ap-recent"),
    "recent denial": decided(2 * DAY - 30, "ap-recent", "approval_denied"),
    "second decision": decided(2 * DAY - 20, "ap-recent"),
    "old answer": answer(0, "h-old"),
    "old answer's recent repeat": answer(2 * DAY - 5, "h-old", "handoff_rejected"),
    "recent answer": answer(2 * DAY - 10, "h-new"),
    "recent repeat": answer(2 * DAY, "h-new", "handoff_rejected"),
    "not an event": b"\x00junk",
}
KEPT = [
    "payer halted", "payer resumed", "payer halted late, with an older time", "op halted",
    "pending request", "recent request", "recent denial", "second decision", "recent answer",
    "not an event",
]  # fmt: skip


def test_compaction_keeps_exactly_what_a_reader_still_needs() -> None:
    entries = list(LOG.values())
    kept = compact(entries)
    assert [name for name, value in LOG.items() if value in kept] == KEPT
    valid = [v for v in entries if v != LOG["not an event"]]
    full, compacted = state(valid), state([v for v in kept if v != LOG["not an event"]])
    for target in (("payer", None), ("payer", "op-1"), ("payer", "op-2")):
        assert full.halt(*target) == compacted.halt(*target)
    assert compacted.halt("payer", "op-1") is not None
    assert [a.approval_id for a in compacted.pending()] == ["ap-pending"]
    assert compacted.approvals["ap-recent"] == full.approvals["ap-recent"]
    assert compacted.answers["h-new"] == full.answers["h-new"]
    assert "h-old" not in compacted.answers
    assert "ap-old" not in compacted.approvals


def settings(tmp_path: Path, max_bytes: int) -> Settings:
    return Settings(
        spool=SpoolSettings(control_log=tmp_path / "control.log", control_log_max_bytes=max_bytes)
    )


def test_an_append_past_the_limit_compacts_and_a_tailing_reader_follows(tmp_path: Path) -> None:
    s = settings(tmp_path, 4000)
    log, unlimited = ControlLog.of(s.spool), ControlLog(s.spool.control_log)
    source = LogSource(s, poll_ms=1)
    log.append([request(0, "ap-pending")])
    assert [decode(v)[1]["payload"][1]["approval_id"] for v, _ in source.poll()] == ["ap-pending"]
    for n in range(20):  # settled approvals, more than a day old by the end: they go
        unlimited.append([request(n, f"ap-{n}"), decided(n + 1, f"ap-{n}")])
    assert log.path.stat().st_size > 4000
    assert len(source.poll()) == 40
    log.append([halt(2 * DAY, "halt", "payer")])  # past the limit: compacted
    assert log.path.stat().st_size < 1000
    assert {decode(v)[1]["payload"][0] for v in log.read()[0]} == {
        "handrail.ApprovalRequested", "handrail.Halt"}  # fmt: skip
    log.append([request(2 * DAY, "ap-late")])  # lands in the new file
    seen = [decode(v)[1]["payload"][1] for v, _ in source.poll()]  # the new file, from its start
    assert [p.get("approval_id") or p.get("target_agent") for p in seen] == [
        "ap-pending", "payer", "ap-late"]  # fmt: skip
    control = read_control(s, authority())
    assert [a.approval_id for a in control.pending()] == ["ap-pending", "ap-late"]
    assert control.halt("payer") is not None


def _append_requests(path: Path, writer: int, n: int) -> None:
    log = ControlLog(path, max_bytes=3000)
    for i in range(n):
        log.append([request(i, f"ap-{writer}-{i}")])


def test_concurrent_writers_lose_nothing_that_counts_across_compactions(tmp_path: Path) -> None:
    """Pending approvals always count: four processes append 100 each to a log that is
    compacted over and over (past the limit from the 20th on); each one is there once."""
    path = tmp_path / "control.log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_requests, args=(path, w, 100)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    ids = [decode(v)[1]["payload"][1]["approval_id"] for v in ControlLog(path).read()[0]]
    assert sorted(ids) == sorted(f"ap-{w}-{i}" for w in range(4) for i in range(100))
    assert not (tmp_path / "control.log.compacting").exists()


def test_a_forged_resume_dated_in_the_future_never_pushes_a_halt_out() -> None:
    """Compaction cannot check signatures: it keeps every halt and resume, so a forged
    resume (unsigned, dated 2299) cannot make it drop the halt it claims to lift."""
    real = halt(0, "halt", "payer")
    forged = at(100 * 365 * DAY, "resume", "mallory", scope="agent", target_agent="payer",
                operation_id=None, reason="nothing to see", by="alice")  # fmt: skip
    filler = [request(n, f"ap-{n}") for n in range(3)]
    kept = compact([real, forged, *filler])
    assert real in kept
    control = state([v for v in kept])
    assert control.halt("payer") is not None
    assert [f.kind for f in control.forged] == ["resume"]


def test_a_forged_first_decision_never_hides_the_real_one_after_it() -> None:
    ask = request(0, "ap-1")
    forged = decided(1, "ap-1", signer="mallory")  # a key, and no right to decide
    real = decided(2, "ap-1", "approval_denied")
    assert compact([ask, forged, real]) == [ask, forged, real]
    assert state([ask, forged, real]).approvals["ap-1"].state == "denied"
