"""Whole Avro blocks out of a segment caught at any moment of its writing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from handrail.producers.spool import Spool
from handrail.producers.spool.errors import CorruptSegmentError
from handrail.producers.spool.segments import MAX_BLOCK, MAX_HEADER, decode, frames, parse_header
from handrail.schemas import registry
from tests.support import containers as avro
from tests.support.samples import event_record


def segment_bytes(tmp_path: Path, blocks: list[list[int]]) -> bytes:
    """A real spool segment, one block per ``append``: the sequences given."""
    spool = Spool(tmp_path, uuid.uuid4().hex, fsync=False, segment_max_events=1_000)
    for block in blocks:
        spool.append([event_record(sequence=s) for s in block])
    spool.close()
    (path,) = tmp_path.glob("*/seg-*.avro")
    return path.read_bytes()


def read_all(data: bytes) -> list[int]:
    header = parse_header(data)
    if header is None:
        return []
    body = data[header.size :]
    blocks, corrupt = frames(body, 0, header.sync, 10**6, MAX_BLOCK)
    assert not corrupt
    return [r["sequence"] for block in blocks for r in decode(header, body, block, MAX_BLOCK)]


def test_the_header_names_the_writer_schema_version(tmp_path: Path) -> None:
    header = parse_header(segment_bytes(tmp_path, [[1]]))
    assert header is not None
    assert (header.codec, header.schema_version) == ("null", registry().current.version)


def test_at_every_cut_only_whole_blocks_are_read(tmp_path: Path) -> None:
    data = segment_bytes(tmp_path, [[1, 2, 3], [4], [5, 6]])
    header = parse_header(data)
    assert header is not None
    ends = [header.size]
    for n in range(len(data) + 1):
        got = read_all(data[:n])
        assert got in ([], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4, 5, 6]), n
        if got and len(got) != len(read_all(data[: n - 1])):
            ends.append(n)
    assert read_all(data) == [1, 2, 3, 4, 5, 6]
    assert len(ends) == 4  # the header, then each block exactly when its sync marker lands


def test_the_limit_stops_after_whole_blocks(tmp_path: Path) -> None:
    data = segment_bytes(tmp_path, [[1, 2, 3], [4], [5, 6]])
    header = parse_header(data)
    assert header is not None
    blocks, _ = frames(data[header.size :], 0, header.sync, 4, MAX_BLOCK)
    assert [b.count for b in blocks] == [3, 1]


def test_a_sync_marker_out_of_place_is_corrupt_after_the_good_blocks(tmp_path: Path) -> None:
    data = bytearray(segment_bytes(tmp_path, [[1, 2], [3]]))
    header = parse_header(bytes(data))
    assert header is not None
    data[-1] ^= 0xFF  # the last block's sync marker
    blocks, corrupt = frames(bytes(data[header.size :]), 0, header.sync, 100, MAX_BLOCK)
    assert corrupt
    assert [b.count for b in blocks] == [2]


def test_a_file_that_is_no_avro_container_is_refused() -> None:
    with pytest.raises(CorruptSegmentError, match="not an Avro container"):
        parse_header(b"PK\x03\x04zip")
    assert parse_header(b"Ob") is None  # could still become one


def hostile_header(meta: dict[bytes, bytes]) -> bytes:
    body = b"".join(avro.long(len(k)) + k + avro.long(len(v)) + v for k, v in meta.items())
    return avro.MAGIC + avro.long(len(meta)) + body + avro.long(0) + avro.SYNC


SCHEMA = json.dumps(registry().current.schema).encode()


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({b"\xff\xfe": b"x", b"avro.schema": SCHEMA}, None),  # a key that is not UTF-8
        ({b"avro.schema": b"[" * 100_000}, "unreadable writer schema"),  # RecursionError
        ({b"avro.schema": b'{"type": 7}'}, "unreadable writer schema"),
        ({b"avro.schema": SCHEMA, b"avro.codec": b"snappy"}, "unsupported codec"),
        ({b"avro.codec": b"null"}, "no writer schema"),
    ],
)
def test_a_hostile_header_is_refused_with_its_reason(
    meta: dict[bytes, bytes], reason: str | None
) -> None:
    data = hostile_header(meta)
    if reason is None:  # harmless: the key is read with replacement characters
        assert parse_header(data) is not None
        return
    with pytest.raises(CorruptSegmentError, match=reason):
        parse_header(data)


def test_a_header_that_never_ends_is_refused_past_the_bound() -> None:
    endless = avro.MAGIC + avro.long(1) + avro.long(11) + b"avro.schema" + avro.long(1 << 40)
    endless += b" " * MAX_HEADER
    with pytest.raises(CorruptSegmentError, match="a header longer than"):
        parse_header(endless)
