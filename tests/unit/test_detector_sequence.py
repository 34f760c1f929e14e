"""Sequence gaps: a hole in a session's numbering that stays open ``gap_grace_s`` (30 s) on
the processor's clock is a gap; the missing events arriving late resolve it."""

from __future__ import annotations

import pytest

from handrail.config.thresholds import DetectorRules
from handrail.processors.detectors import State
from handrail.processors.detectors.sequence import SequenceGaps, duplicate
from handrail.processors.findings import Finding
from tests.support.observations import T0, obs


def seen(
    detector: SequenceGaps, state: State, seqs: list[int], now: float = T0, skew: float = 0.0
) -> list[Finding]:
    """Events ``seqs`` of session s-1, seen at ``now``, stamped ``now + skew``."""
    found: list[Finding] = []
    for seq in seqs:
        event = obs("heartbeat", seq=seq, at=now + skew, event_id=f"e{seq}")
        found += detector.observe(state, event, now)[1]
    return found


GAP = "sequence-gap:analyst:s-1:"


def gaps(found: list[Finding]) -> list[tuple[str, bool]]:
    return [(f.dedup_key, f.resolved) for f in found]


@pytest.mark.parametrize(
    ("seqs", "expected"),
    [
        pytest.param([1, 2, 3], [], id="in-order"),
        pytest.param([1, 3, 2], [], id="out-of-order-within-grace"),
        pytest.param([3, 2, 1], [], id="reversed"),
        pytest.param([1, 2, 4], [f"{GAP}3"], id="one-missing"),
        pytest.param([1, 5], [f"{GAP}2"], id="three-missing"),
        pytest.param([1, 3, 5], [f"{GAP}2", f"{GAP}4"], id="two-holes"),
    ],
)
def test_gap_after_grace(seqs: list[int], expected: list[str]) -> None:
    detector, state = SequenceGaps(DetectorRules()), {}
    assert seen(detector, state, seqs) == []
    assert detector.tick(state, T0 + 29)[1] == []
    assert [f.dedup_key for f in detector.tick(state, T0 + 30)[1]] == expected
    assert detector.tick(state, T0 + 600)[1] == []  # once


def test_gap_finding() -> None:
    detector, state = SequenceGaps(DetectorRules()), {}
    seen(detector, state, [1, 2, 6])
    (gap,) = detector.tick(state, T0 + 30)[1]
    assert (gap.detector, gap.severity, gap.agent, gap.evidence, gap.halt) == (
        "sequence", "critical", "analyst", ("e6",), None,
    )  # fmt: skip
    assert gap.summary == "3 event(s) of analyst are missing: session s-1 jumps from 2 to 6"


def test_gap_resolves_when_the_missing_events_arrive_late() -> None:
    detector, state = SequenceGaps(DetectorRules()), {}
    seen(detector, state, [1, 2, 5])
    detector.tick(state, T0 + 30)
    assert seen(detector, state, [4], T0 + 40) == []  # one of two
    found = seen(detector, state, [3], T0 + 50)
    assert gaps(found) == [("sequence-gap:analyst:s-1:3", True)]
    assert "3..4 of session s-1 arrived late" in found[0].summary
    assert seen(detector, state, [3], T0 + 60) == []


def test_sessions_are_numbered_apart() -> None:
    detector, state = SequenceGaps(DetectorRules()), {}
    for session in ("s-1", "s-2"):
        for seq in (1, 2):
            detector.observe(state, obs("spend", session=session, seq=seq), T0)
    assert detector.tick(state, T0 + 600)[1] == []


@pytest.mark.parametrize("skew", [-3 * 3600.0, 3 * 3600.0], ids=["behind", "ahead"])
def test_grace_uses_the_processor_clock(skew: float) -> None:
    detector, state = SequenceGaps(DetectorRules()), {}
    seen(detector, state, [1, 3], skew=skew)
    assert detector.tick(state, T0 + 29)[1] == []
    assert seen(detector, state, [2], T0 + 29, skew=skew) == []
    assert detector.tick(state, T0 + 600)[1] == []


def test_grace_overridden_by_agent() -> None:
    overrides = DetectorRules.model_validate(
        {"overrides": [{"agent": "analyst", "set": {"silence": {"gap_grace_s": 300}}}]}
    )
    detector, state = SequenceGaps(overrides), {}
    seen(detector, state, [1, 3])
    assert detector.tick(state, T0 + 299)[1] == []
    assert len(detector.tick(state, T0 + 300)[1]) == 1


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        pytest.param(1, True, id="settled"),
        pytest.param(5, True, id="ahead"),
        pytest.param(4, False, id="ahead-not-seen"),
        pytest.param(3, False, id="lost-not-seen"),
        pytest.param(2, True, id="lost-filled"),
    ],
)
def test_duplicate(seq: int, expected: bool) -> None:
    detector, state = SequenceGaps(DetectorRules()), {}
    seen(detector, state, [1])  # settled
    seen(detector, state, [5])
    detector.tick(state, T0 + 30)  # 2..4 declared lost
    seen(detector, state, [2], T0 + 31)
    seen(detector, state, [6, 8], T0 + 32)  # 7 not seen yet
    assert duplicate(state, obs("heartbeat", seq=seq)) is expected


def test_unknown_session_is_no_duplicate() -> None:
    assert duplicate({}, obs("heartbeat", seq=1)) is False


def test_every_hole_gets_its_own_grace() -> None:
    detector, state = SequenceGaps(DetectorRules()), {}
    seen(detector, state, [1, 3], T0)  # hole at 2
    seen(detector, state, [5, 2], T0 + 25)  # a new hole at 4; then 2 fills the first
    assert detector.tick(state, T0 + 30)[1] == []  # 4 was awaited for 5 s only
    assert seen(detector, state, [4], T0 + 35) == []


def test_idle_session_resuming_is_no_gap() -> None:
    detector, state = SequenceGaps(DetectorRules()), {}
    seen(detector, state, [1, 2, 3])
    detector.tick(state, T0 + 90_000)
    seen(detector, state, [4], T0 + 90_001)
    assert detector.tick(state, T0 + 90_100)[1] == []
