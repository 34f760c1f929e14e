"""Events no Avro encoder takes (a lone surrogate, an int past Avro's long), fed to each
shipper directly, past the SDK's validation (issue 23: the thread shipper delivered 1 of
12 events; the process shipper turned all 12 into one undecodable block). Each is set
aside in the spool's rejected file with its reason; the events after it ship: to the
spool when embedded, to Kafka (a real broker) otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest

from handrail.producers.shipping import EventShipper
from handrail.producers.shipping.remote import RemoteShipper
from handrail.producers.shipping.shipper import Shipper
from handrail.producers.spool import read_all
from handrail.schemas import decode
from handrail.settings import Settings, SpoolSettings
from tests.support.hostile_events import GOOD_OF_TWELVE, SESSION, hostile_twelve
from tests.support.kafka_io import kafka_settings, read_topic


def start(settings: Settings, kind: Literal["thread", "process"]) -> EventShipper:
    if kind == "process":
        return RemoteShipper(settings, SESSION)
    return Shipper.from_settings(settings, SESSION)


def ship_hostile_twelve(settings: Settings, kind: Literal["thread", "process"]) -> None:
    shipper = start(settings, kind)
    try:
        with shipper.lock:
            for event in hostile_twelve():
                shipper.put(event)
        assert shipper.flush(60)
        stats = shipper.stats()
        assert (stats.rejected, stats.durable, stats.lost, stats.restarts) == (2, 12, 0, 0)
    finally:
        assert shipper.close(30)


def set_aside(spool: Path) -> dict[int, str]:
    files = spool.rglob("rejected.jsonl")
    lines = [json.loads(line) for p in files for line in p.read_text().splitlines()]
    return {entry["event"]["sequence"]: entry["reason"] for entry in lines}


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_embedded_the_spool_takes_the_rest(tmp_path: Path, kind: Any) -> None:
    spool = SpoolSettings(dir=tmp_path / "spool", control_log=tmp_path / "control.log")
    ship_hostile_twelve(Settings(spool=spool), kind)
    assert [r["sequence"] for r in read_all(spool.dir)] == GOOD_OF_TWELVE
    assert sorted(set_aside(spool.dir)) == [2, 7]


@pytest.mark.kafka
@pytest.mark.parametrize("kind", ["thread", "process"])
def test_kafka_takes_the_rest(kafka_bootstrap: str, topic: str, tmp_path: Path, kind: Any) -> None:
    settings = kafka_settings(kafka_bootstrap, topic, tmp_path / "spool")
    ship_hostile_twelve(settings, kind)
    messages = read_topic(kafka_bootstrap, topic, expect=10, timeout=60)
    assert sorted(decode(m.value)[1]["sequence"] for m in messages) == GOOD_OF_TWELVE
    reasons = set_aside(tmp_path / "spool")
    assert sorted(reasons) == [2, 7]
    assert all("cannot be encoded" in why for why in reasons.values())
