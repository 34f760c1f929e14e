"""The wire format: every event type round-trips; bad input gets its specific error."""

from __future__ import annotations

import io
import json
import uuid

import avro.io
import avro.schema
import pytest

from handrail.schemas import (
    BadHeaderError,
    CorruptBodyError,
    Event,
    TruncatedBodyError,
    UnknownFingerprintError,
    decode,
    encode,
    from_record,
    registry,
    to_record,
)
from handrail.schemas.models import AgentRef
from tests.support.samples import NOW, sample_payloads


def make_event(payload: object, sequence: int = 1) -> Event:
    return Event(
        event_id=uuid.uuid4(),
        time=NOW,
        workflow_id="wf-1",
        causation_id=None,
        agent=AgentRef(name="summarizer", version="1.0", owner="team-data"),
        session_id="s1",
        sequence=sequence,
        labels={"env": "test"},
        payload=payload,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("tag", "payload"), sorted(sample_payloads().items()))
def test_every_event_type_round_trips(tag: str, payload: object) -> None:
    event = make_event(payload)
    message = encode(to_record(event))
    assert message[:2] == b"\xc3\x01"
    assert message[2:10] == registry().current.fingerprint
    version, record = decode(message)
    assert version is registry().current
    back = from_record(record)
    assert back == event
    assert back.payload.type == tag


def reference_decode(message: bytes) -> dict[str, object]:
    """Decode with the Apache ``avro`` package, knowing only the released .avsc files."""
    assert message[:2] == b"\xc3\x01"
    for version in registry().versions:
        schema = avro.schema.parse(json.dumps(version.schema))
        # avro-python's canonical form keeps logicalType wrappers, against the spec's
        # [STRIP]/[PRIMITIVES] rules; fingerprint the spec's canonical form with its CRC.
        canonical = avro.schema.parse(json.dumps(_strip_logical(version.schema)))
        if canonical.fingerprint("CRC-64-AVRO") == message[2:10]:
            reader = avro.io.DatumReader(schema)
            return reader.read(avro.io.BinaryDecoder(io.BytesIO(message[10:])))  # type: ignore[no-any-return]
    raise AssertionError("no released schema has this fingerprint")


def _strip_logical(node: object) -> object:
    if isinstance(node, list):
        return [_strip_logical(n) for n in node]
    if isinstance(node, dict):
        if "logicalType" in node:
            return node["type"]
        return {k: _strip_logical(v) for k, v in node.items()}
    return node


def test_reference_avro_implementation_decodes_our_bytes() -> None:
    for tag, payload in sample_payloads().items():
        event = make_event(payload)
        decoded = reference_decode(encode(to_record(event)))
        assert decoded["event_id"] == str(event.event_id)
        assert decoded["workflow_id"] == "wf-1"
        fields = decoded["payload"]
        assert isinstance(fields, dict)
        expected = payload.model_dump(mode="json", exclude={"type"})  # type: ignore[attr-defined]
        for key, value in expected.items():
            got = fields[key]
            if hasattr(got, "isoformat"):  # the reference reader returns datetimes
                got = got.isoformat().replace("+00:00", "Z")
            assert got == (value.replace("+00:00", "Z") if hasattr(got, "upper") else value), (
                tag,
                key,
            )


def valid_message() -> bytes:
    return encode(to_record(make_event(sample_payloads()["decision_made"])))


@pytest.mark.parametrize(
    "message", [b"", b"\xc3", b"\x00\x01" + bytes(8) + b"x", b"\xc3\x02" + bytes(8), b'{"json": 1}']
)
def test_bad_header(message: bytes) -> None:
    with pytest.raises(BadHeaderError):
        decode(message)


def test_unknown_fingerprint() -> None:
    message = valid_message()
    with pytest.raises(UnknownFingerprintError) as err:
        decode(message[:2] + b"\x01" * 8 + message[10:])
    assert err.value.fingerprint == b"\x01" * 8


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_body(cut: int) -> None:
    message = valid_message()
    with pytest.raises(TruncatedBodyError):
        decode(message[:-cut])


def test_header_only_is_truncated() -> None:
    with pytest.raises(TruncatedBodyError):
        decode(valid_message()[:10])


def test_trailing_bytes_are_corrupt() -> None:
    with pytest.raises(CorruptBodyError, match="trailing"):
        decode(valid_message() + b"\x00")


def test_garbage_body_is_corrupt_or_truncated() -> None:
    message = valid_message()
    garbage = message[:10] + bytes((b * 7 + 3) % 256 for b in message[10:])
    with pytest.raises((CorruptBodyError, TruncatedBodyError)):
        decode(garbage)
