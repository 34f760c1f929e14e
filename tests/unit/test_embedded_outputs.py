"""The pipeline's own events: numbered after what the ledger has, queued for the router and
the control log, forgotten once written; deliveries recorded as events of their own."""

from __future__ import annotations

import orjson

from handrail.embedded.ledger_rows import MAX_ERROR, spool_rows
from handrail.embedded.outputs import Outputs, Tracked
from handrail.processors.findings import Finding
from handrail.processors.publisher import FindingEvents
from handrail.processors.router import DeliveryEvents
from handrail.producers.spool.cursor import RAW_MAX, Item
from handrail.schemas import decode, encode, event_type, registry
from handrail.schemas.models import AlertDelivered
from tests.support.samples import event_record

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
