"""Real Kafka -> sink -> real ClickHouse engine (chdb): exactly once, quarantine, tampering."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from handrail.ledger.rows import COLUMNS
from handrail.ledger.sink import Sink
from handrail.ledger.verify import verify
from handrail.producers import Recorder
from handrail.schemas import decode, encode
from handrail.settings import AgentIdentity, KafkaSettings, LedgerSettings
from tests.integration.test_kafka_delivery import emit_mixed
from tests.support.kafka_io import Message, kafka_settings, read_topic
from tests.support.samples import event_record

pytestmark = pytest.mark.kafka


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[tuple[Any, LedgerSettings]]:
    settings = LedgerSettings(
        dsn=f"chdb://{tmp_path / 'ledger'}", checkpoint_dir=tmp_path / "checkpoints",
        batch_max_events=700, batch_max_seconds=0.2,
    )  # fmt: skip
    client = connect(settings.dsn)
    migrate(client)
    yield client, settings
    client.close()


def fill(bootstrap: str, topic: str, tmp_path: Path, n: int) -> list[str]:
    settings = kafka_settings(bootstrap, topic, tmp_path / "spool")
    with Recorder(settings, AgentIdentity(name="worker", owner="team-a")) as rec:
        ids = emit_mixed(rec, n, workflows=5, seed=3)
        assert rec.close(60)
    return ids


def sink_once(client: Any, bootstrap: str, topic: str, ledger: LedgerSettings) -> Any:
    kafka = KafkaSettings(bootstrap_servers=bootstrap, events_topic=topic)
    return Sink(client, kafka, ledger).run(idle_exit_s=3)


def ids_in(client: Any) -> list[str]:
    return [str(r[0]) for r in client.query("SELECT event_id FROM events").result_rows]


def test_exactly_once_with_quarantine_and_restart(
    kafka_bootstrap: str, topic: str, tmp_path: Path, ledger: tuple[Any, LedgerSettings]
) -> None:
    client, settings = ledger
    ids = fill(kafka_bootstrap, topic, tmp_path, 3000)
    bad = {
        b"": "BadHeaderError",
        b"not avro at all": "BadHeaderError",
        b"\xc3\x01" + b"\x07" * 8 + b"body": "UnknownFingerprintError",
        b"\xc3\x01" + bytes(9): "UnknownFingerprintError",
        **fast_path_bad(),  # each one passes for a message of the current schema at first
    }
    good = [encode(event_record("retry")) for _ in range(3)]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for raw in [*bad, *good]:  # the bad among good ones, in one partition
        producer.send(topic, value=raw, key=b"bad")
    producer.flush()
    producer.close()

    stats = sink_once(client, kafka_bootstrap, topic, settings)
    good_ids = [str(decode(m)[1]["event_id"]) for m in good]
    assert stats.rows == len(ids) + len(good)
    assert stats.quarantined == len(bad)
    assert sorted(ids_in(client)) == sorted(ids + good_ids)
    quarantined = client.query(
        "SELECT raw_hex, error_type FROM quarantine ORDER BY offset"
    ).result_rows
    assert {bytes.fromhex(r[0]): r[1] for r in quarantined} == bad

    more = fill(kafka_bootstrap, topic, tmp_path, 500)  # a restart resumes where it stopped
    again = sink_once(client, kafka_bootstrap, topic, settings)
    assert again.rows == 500
    assert again.quarantined == 0
    assert sorted(ids_in(client)) == sorted(ids + good_ids + more)
    report = verify(client, Checkpoints(settings.checkpoint_path))
    assert report.ok, report.broken
    assert report.rows == 3503 + len(bad)  # quarantine rows are chained too

    [(partition, offset)] = client.query(  # the sink's quarantine rows are covered
        "SELECT partition, offset FROM quarantine WHERE error_type = 'ValueError' LIMIT 1"
    ).result_rows
    client.command(
        "ALTER TABLE quarantine UPDATE error = 'fine' WHERE offset = {o:UInt64} AND "
        "partition = {p:UInt32} SETTINGS mutations_sync = 1",
        parameters={"o": offset, "p": partition},
    )
    [finding] = verify(client, Checkpoints(settings.checkpoint_path)).broken
    assert (finding.partition, finding.offset) == (partition, offset)
    assert "quarantine row was edited" in finding.what


def fast_path_bad() -> dict[bytes, str]:
    """Messages that start as a current-version event and that ClickHouse refuses; the
    sink then decodes them in Python and quarantines each with its own error type."""
    message = encode(event_record("retry"))
    return {
        message + b"\x00": "CorruptBodyError",  # trailing bytes
        message[:-3]: "TruncatedBodyError",
        encode({**event_record("retry"), "sequence": -1}): "ValueError",
        encode({**event_record("retry"), "event_id": "x" * 36}): "ValueError",
    }


def resend(bootstrap: str, topic: str, copies: list[Message]) -> None:
    """Send copies of messages again, to their own partitions (as the SDK's spool replay
    does after a send it could not prove delivered)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for m in copies:
        producer.send(topic, value=m.value, key=m.key, partition=m.partition)
    producer.flush()
    producer.close()


def test_copies_of_events_go_to_quarantine_also_after_a_restart(
    kafka_bootstrap: str, topic: str, tmp_path: Path, ledger: tuple[Any, LedgerSettings]
) -> None:
    """Every event is in ``events`` once: a copy in the same batch, in a later batch, or
    after the sink restarted (it remembers the ledger's recent ids) goes to quarantine."""
    client, settings = ledger
    ids = fill(kafka_bootstrap, topic, tmp_path, 300)
    first = read_topic(kafka_bootstrap, topic, len(ids))
    resend(kafka_bootstrap, topic, first[:2])  # in the first run
    stats = sink_once(client, kafka_bootstrap, topic, settings)
    assert (stats.rows, stats.quarantined) == (300, 2)

    resend(kafka_bootstrap, topic, first[100:103])  # after a restart
    again = sink_once(client, kafka_bootstrap, topic, settings)
    assert (again.rows, again.quarantined) == (0, 3)

    assert sorted(ids_in(client)) == sorted(ids)
    copies = client.query(
        "SELECT partition, raw_hex, error_type, error FROM quarantine ORDER BY offset"
    ).result_rows
    assert sorted((p, bytes.fromhex(raw)) for p, raw, _, _ in copies) == sorted(
        (m.partition, m.value) for m in first[:2] + first[100:103]
    )
    assert {error_type for _, _, error_type, _ in copies} == {"DuplicateEvent"}
    assert all("in the ledger at offset" in error for *_, error in copies)
    report = verify(client, Checkpoints(settings.checkpoint_path))
    assert report.ok, report.broken


@pytest.mark.parametrize(
    ("tamper", "expect"),
    [
        (
            "ALTER TABLE events UPDATE reason = 'looks fine' "
            "WHERE offset = {o} AND partition = {p} SETTINGS mutations_sync = 1",
            "was edited",
        ),
        (
            "ALTER TABLE events DELETE WHERE offset = {o} AND partition = {p} "
            "SETTINGS mutations_sync = 1",
            "was deleted",
        ),
        (
            f"INSERT INTO events ({', '.join(COLUMNS)}) SELECT "
            + ", ".join("offset + 1000000" if c == "offset" else c for c in COLUMNS)
            + " FROM events WHERE offset = {o} AND partition = {p}",
            "inserted",
        ),
    ],
    ids=["update", "delete", "insert"],
)
def test_tampering_is_detected(  # noqa: PLR0917 - pytest fixtures and parameters
    kafka_bootstrap: str, topic: str, tmp_path: Path, ledger: tuple[Any, LedgerSettings],
    tamper: str, expect: str,
) -> None:  # fmt: skip
    client, settings = ledger
    fill(kafka_bootstrap, topic, tmp_path, 300)
    sink_once(client, kafka_bootstrap, topic, settings)
    assert verify(client, Checkpoints(settings.checkpoint_path)).ok
    partition, offset = client.query(
        "SELECT partition, offset FROM events ORDER BY partition, offset LIMIT 1 OFFSET 40"
    ).result_rows[0]
    client.command(tamper.format(o=offset, p=partition))
    report = verify(client, Checkpoints(settings.checkpoint_path))
    assert not report.ok
    [finding] = [f for f in report.broken if f.check == "chain"]  # (a delete: rollups too)
    assert finding.partition == partition
    assert expect in finding.what
    if expect != "inserted":  # an update or delete is named at the row itself or right after
        assert finding.offset >= offset
