"""The pipeline's own events: numbered after what the ledger has, queued for the router and
the control log, forgotten once written; deliveries recorded as events of their own."""

from __future__ import annotations

from pathlib import Path

import orjson

from handrail.embedded.ledger_rows import MAX_ERROR, spool_rows
from handrail.embedded.outputs import Outputs, Tracked
from handrail.processors.findings import Finding
from handrail.processors.publisher import FindingEvents
from handrail.processors.router import DeliveryEvents
from handrail.producers import Recorder
from handrail.producers.spool.cursor import RAW_MAX, Item
from handrail.schemas import decode, encode, event_type, registry
from handrail.schemas.models import AlertDelivered
from handrail.settings import AgentIdentity, Settings, SpoolSettings
from tests.support import normal_workload
from tests.support.samples import event_record
from tests.support.spool_items import read_spool

STORM = Finding(
    "retry_storm", "retry-storm:payer:op-1", "4 retries", "payer", "team-pay", "wf-1",
    "critical", "op-1", ("e1",), halt="operation",
)  # fmt: skip


def outputs(after: int | None, own: dict | None = None) -> Outputs:
    return Outputs(Tracked(own or {}), Tracked({}), Tracked({}), after)


def test_findings_become_rows_an_outbox_entry_and_a_halt_numbered_after_the_ledger() -> None:
    out = outputs(after=41)
    assert out.publish(FindingEvents("handrail-processors", {}), [STORM]) == (1, 1)
    assert sorted(out.own) == ["42", "43"]
    assert list(out.outbox) == ["42"]
    assert list(out.control) == ["43"]
    kinds = [event_type(decode(value)[1]) for _, _, value in out.messages(after=41)]
    assert kinds == ["alert_raised", "halt"]
    assert [m[0] for m in out.messages(after=42)] == [43]
    out.written(42)
    assert list(out.own) == ["43"]
    assert out.own.take_changed() == {"42", "43"}


def test_numbering_goes_on_after_events_the_journal_still_holds() -> None:
    out = outputs(after=None, own={"7": ["", ""]})
    assert out.add(b"k", b"v") == 8


def test_a_delivery_is_an_alert_delivered_event_caused_by_the_alert() -> None:
    out = outputs(after=None)
    recorder = DeliveryEvents("handrail-processors-router", out.add)
    payload = AlertDelivered(dedup_key="k", channel="terminal", target="t", ok=True, attempt=1)
    event_id = recorder.record(payload, caused_by="alert-1", workflow_id="wf-1")
    ((offset, key, value),) = out.messages(after=None)
    record = decode(value)[1]
    assert (offset, key, str(record["event_id"])) == (0, b"wf-1", event_id)
    assert (record["causation_id"], record["agent"]["name"]) == (
        "alert-1", "handrail-processors-router",
    )  # fmt: skip


def test_spool_rows_keep_undecodable_bytes_in_quarantine() -> None:
    good = Item(5, event_record(sequence=3), 2)
    torn = Item(9, None, raw=b"\x01\x02", error="CorruptSegmentError: a torn tail")
    (t1, row), (t2, bad) = spool_rows("spool:x", [good, torn])
    assert (t1, row["offset"], row["raw"], row["schema_version"]) == (
        "ingest", 5, encode(good.record or {}), registry().current.version,
    )  # fmt: skip
    assert (t2, bad["offset"], bad["raw_hex"], bad["error_type"]) == (
        "quarantine", 9, "0102", "CorruptSegmentError",
    )  # fmt: skip


def test_a_record_that_does_not_encode_is_quarantined_within_bounds() -> None:
    """Its JSON was kept whole (a 16 MiB block makes one that big), and its error too."""
    record = event_record(sequence=1)
    record["agent"] = "x" * 300_000  # decoded by a hostile writer schema, not an event
    ((table, row),) = spool_rows("spool:x", [Item(7, record, 2)])
    assert table == "quarantine"
    assert len(row["raw_hex"]) == 2 * RAW_MAX
    assert f"of {len(orjson.dumps(record))} bytes kept" in row["error"]
    assert len(row["error"]) <= MAX_ERROR + 100


def test_spool_rows_carry_the_bytes_the_block_held_which_encoding_again_would_give(
    tmp_path: Path,
) -> None:
    """Rows of a spool written with the current schema take each record's own bytes from
    its block instead of encoding it again: the same bytes."""
    settings = Settings(spool=SpoolSettings(dir=tmp_path / "spool",
                                            control_log=tmp_path / "control.log"))  # fmt: skip
    recorders = {a: Recorder(settings, AgentIdentity(name=a, owner="o"))
                 for a in normal_workload.AGENTS}  # fmt: skip
    normal_workload.run(recorders, 1_000)
    with recorders[normal_workload.AGENTS[0]].workflow("wf-odd"):
        for usd in (0.0, 5e-324, 0.1, 999_999_999.99):  # what the SDK lets through
            recorders[normal_workload.AGENTS[0]].spend(usd, "openai", "gpt", input_tokens=1)
    for rec in recorders.values():
        rec.close(10)
    items = [i for batch in read_spool(tmp_path / "spool").values() for i in batch]
    assert len(items) > 1_000
    assert all(i.message and i.record is not None for i in items)
    assert [i.message for i in items] == [encode(i.record or {}) for i in items]
    rows = spool_rows("spool:x", items)
    assert [row["raw"] for _, row in rows] == [i.message for i in items]
