"""The ledger writer's contract (``handrail.ledger.writer``): what every ClickHouse backend
does with the one writer the Kafka sink and the embedded pipeline share. A backend's test
class subclasses ``LedgerWriterContract`` and provides the ``ledger`` fixture: a migrated,
empty ledger's client and the checkpoints beside it."""

from __future__ import annotations

from typing import Any

import pytest

from handrail.ledger.batches import build
from handrail.ledger.chain import GENESIS, chain
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.inserter import Insert, Inserter
from handrail.ledger.verify import verify
from handrail.ledger.writer import LedgerWriter
from handrail.schemas import encode
from tests.support.samples import event_record

Ledger = tuple[Any, Checkpoints]
A, B = ("agents", 0), ("agents", 1)


def messages(offsets: range) -> list[tuple[int, bytes, bytes]]:
    return [(o, b"k", encode(event_record("retry", sequence=o + 1))) for o in offsets]


def rows_of(client: Any, table: str, stream: tuple[str, int]) -> list[tuple[int, str]]:
    """(offset, row_hash) of a stream's rows in ``table``, in offset order."""
    return [
        (int(offset), str(row_hash))
        for offset, row_hash in client.query(
            f"SELECT offset, row_hash FROM {table} WHERE topic = {{t:String}} "
            "AND partition = {p:UInt32} ORDER BY offset",
            parameters={"t": stream[0], "p": stream[1]},
        ).result_rows
    ]


def write(ledger: Ledger, batches: list[dict[tuple[str, int], range]]) -> LedgerWriter:
    """A writer that resumes every stream named and writes ``batches``; closed."""
    client, checkpoints = ledger
    writer = LedgerWriter(client, checkpoints)
    try:
        for stream in {s for batch in batches for s in batch}:
            writer.resume(stream)
        for batch in batches:
            writer.write({s: build(*s, messages(offsets)) for s, offsets in batch.items()})
    finally:
        writer.close()
    return writer


class LedgerWriterContract:
    @pytest.fixture
    def ledger(self) -> Ledger:
        raise NotImplementedError("a backend's module provides the ledger")

    def test_a_new_stream_starts_at_the_genesis(self, ledger: Ledger) -> None:
        writer = LedgerWriter(*ledger)
        try:
            point = writer.resume(A)
        finally:
            writer.close()
        assert (point.offset, point.head, writer.ingested[A]) == (None, GENESIS, None)

    def test_each_stream_lands_whole_in_offset_order_and_verifies(self, ledger: Ledger) -> None:
        write(ledger, [{A: range(5), B: range(3)}, {A: range(5, 8)}])
        client, checkpoints = ledger
        assert [o for o, _ in rows_of(client, "events", A)] == list(range(8))
        assert [o for o, _ in rows_of(client, "events", B)] == list(range(3))
        report = verify(client, checkpoints)
        assert report.ok, report.broken
        assert (report.chains, report.rows) == (2, 11)

    def test_a_writer_resumes_where_the_ledger_has_each_stream(self, ledger: Ledger) -> None:
        write(ledger, [{A: range(4), B: range(2)}])
        client, checkpoints = ledger
        writer = LedgerWriter(client, checkpoints)
        try:
            a, b = writer.resume(A), writer.resume(B)
            writer.write({A: build(*A, messages(range(4, 6)))})
        finally:
            writer.close()
        assert (a.offset, a.head) == rows_of(client, "events", A)[3]
        assert (b.offset, b.head) == rows_of(client, "events", B)[-1]
        assert writer.ingested[A] == 5
        report = verify(client, checkpoints)
        assert report.ok, report.broken  # the chain goes on across writers

    def test_a_message_the_engine_refuses_goes_to_quarantine_and_the_rest_in(
        self, ledger: Ledger
    ) -> None:
        client, checkpoints = ledger
        bad = encode({**event_record("retry"), "sequence": -1})  # the fast path refuses it
        batch = [*messages(range(2)), (2, b"k", bad), *messages(range(3, 5))]
        writer = LedgerWriter(client, checkpoints)
        try:
            writer.resume(A)
            assert writer.write({A: build(*A, batch)}) == 4
        finally:
            writer.close()
        assert [o for o, _ in rows_of(client, "events", A)] == [0, 1, 3, 4]
        ((offset, raw_hex),) = client.query("SELECT offset, raw_hex FROM quarantine").result_rows
        assert (offset, raw_hex) == (2, bad.hex())
        report = verify(client, checkpoints)
        assert report.ok, report.broken

    def test_an_insert_retried_with_its_token_lands_once(self, ledger: Ledger) -> None:
        client, _ = ledger
        rows = build(*A, messages(range(3)))
        chain((row for _, row in rows), GENESIS)
        insert = Insert.of("ingest", [row for _, row in rows], "agents:0:0-2")
        inserter = Inserter(client, lambda done: None)
        try:
            inserter.submit(insert)
            inserter.submit(insert)  # as after a lost connection: the same token
            inserter.wait()
        finally:
            inserter.close()
        assert client.query("SELECT count() FROM events").result_rows[0][0] == 3
