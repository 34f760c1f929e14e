"""The one frame codec (``handrail.frames``) of the control log and the journal: frames
come back as written; a torn tail, a corrupted frame or a hostile length is reported as
such, and a scan that reads on past damage finds every whole frame after it."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handrail.frames import Damage, Frame, FrameCodec, Piece, Torn

CODEC = FrameCodec(b"TST1", max_body=1000)
BODIES = [b"first", b"", b"third" * 50]


def pieces(data: bytes, settled: bool) -> list[Piece]:
    return list(CODEC.scan(data, settled=settled))


def bodies(data: bytes, settled: bool = True) -> list[bytes]:
    return [p.body for p in CODEC.scan(data, settled=settled) if isinstance(p, Frame)]


def test_frames_come_back_as_written_with_their_offsets() -> None:
    data = CODEC.encode_all(BODIES)
    found = pieces(data, settled=False)
    assert [p.body for p in found if isinstance(p, Frame)] == BODIES
    assert [(p.start, p.end) for p in found if isinstance(p, Frame)] == [
        (0, 17), (17, 29), (29, len(data))
    ]  # fmt: skip
    assert data[:4] == b"TST1"
    assert struct.unpack(">I", data[4:8]) == (5,)


def test_the_format_on_disk_is_magic_length_crc32c_of_length_and_body() -> None:
    """The control log's frames, byte for byte as written before the codec was shared."""
    from crc32c import crc32c

    crc = crc32c(struct.pack(">I", 4) + b"body")
    assert FrameCodec(b"HRC1").encode(b"body") == b"HRC1" + struct.pack(">II", 4, crc) + b"body"


def test_a_torn_tail_waits_unless_settled_then_is_damage() -> None:
    whole = CODEC.encode_all(BODIES[:2])
    torn = CODEC.encode(b"cut short here")
    for cut in range(1, len(torn)):
        data = whole + torn[:cut]
        assert pieces(data, settled=False)[2:] == [Torn(len(whole))]
        skipped = pieces(data, settled=True)[2:]  # in pieces where a magic may start
        assert all(isinstance(p, Damage) for p in skipped)
        assert (skipped[0].start, skipped[-1].end) == (len(whole), len(data))
        assert bodies(data) == BODIES[:2]


def test_a_corrupted_frame_in_the_middle_is_damage_up_to_the_next_frame() -> None:
    first, second, third = (CODEC.encode(b) for b in BODIES)
    bad = bytearray(second)
    bad[-1] ^= 0x01
    data = first + bytes(bad) + third
    found = pieces(data, settled=True)
    assert found == [
        Frame(BODIES[0], 0, len(first)),
        Damage(len(first), len(first) + len(bad)),
        Frame(BODIES[2], len(first) + len(bad), len(data)),
    ]


def test_an_oversized_length_is_damage_never_a_torn_frame_that_hides_the_rest() -> None:
    hostile = struct.pack(">4sII", b"TST1", 1001, 0)
    data = hostile + CODEC.encode(b"after")
    assert pieces(data, settled=False) == [
        Damage(0, len(hostile)),
        Frame(b"after", len(hostile), len(data)),
    ]
    assert pieces(hostile, settled=False) == [Damage(0, len(hostile))]
    with pytest.raises(ValueError, match="at most 1000"):
        CODEC.encode(b"x" * 1001)


def test_bytes_with_no_magic_are_damage_and_a_start_of_one_at_the_end_is_torn() -> None:
    data = b"garbage" + CODEC.encode(b"x") + b"TS"
    assert pieces(data, settled=False) == [Damage(0, 7), Frame(b"x", 7, 20), Torn(20)]
    assert pieces(data, settled=True)[-1] == Damage(20, 22)


def test_one_kind_of_file_never_reads_the_others_frames() -> None:
    other = FrameCodec(b"OTH1").encode_all(BODIES)
    assert bodies(other) == []
    assert FrameCodec(b"OTH1").opens(other[:4])
    assert not CODEC.opens(other[:4])
    assert CODEC.opens(b"TS")
    assert CODEC.opens(b"")


@given(
    st.lists(st.binary(max_size=40), min_size=1, max_size=6),
    st.lists(st.binary(max_size=30), min_size=1, max_size=7),
)
def test_damage_anywhere_never_hides_a_whole_frame_after_it(
    real: list[bytes], junk: list[bytes]
) -> None:
    data = junk[0] + b"".join(CODEC.encode(b) + j for b, j in zip(real, junk[1:], strict=False))
    data += CODEC.encode_all(real[len(junk) - 1 :])
    found = iter(bodies(data))
    assert all(body in found for body in real)  # in order, maybe among junk's own
