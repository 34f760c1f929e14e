"""Spend: one call over its cap (a point alert that halts the agent and clears after
``cap_clear_s``), and drift of the spend rate against the agent's learned baseline."""

from __future__ import annotations

import pytest

from handrail.config.thresholds import DetectorRules
from handrail.processors.detectors import State
from handrail.processors.detectors.spend import SpendDrift
from handrail.processors.findings import Finding
from tests.support.observations import T0, obs, rules

FAST = {"bucket_s": 10, "short_window_s": 30, "long_window_s": 60, "warmup_buckets": 6}
DRIFT = "spend-drift:analyst:*"


def spend(
    detector: SpendDrift, state: State, usd: object, now: float, *, skew: float = 0.0,
    **fields: object,
) -> list[Finding]:  # fmt: skip
    """One spend seen at processor time ``now``, stamped ``now + skew`` by its producer."""
    event = obs("spend", at=now + skew, usd=usd, **fields)
    return detector.observe(state, event, now)[1]


# -- the per-call cap --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usd", "action", "expected"),
    [
        pytest.param(5.0, "summarize", [], id="at-cap"),
        pytest.param(5.01, "summarize", ["spend-cap:analyst:summarize"], id="over-cap"),
        pytest.param(40.0, None, ["spend-cap:analyst:*"], id="over-cap-no-action"),
    ],
)
def test_cap(usd: float, action: str | None, expected: list[str]) -> None:
    found = spend(SpendDrift(DetectorRules()), {}, usd, T0, action=action, event_id="big")
    assert [f.dedup_key for f in found] == expected
    for cap in found:
        assert (cap.severity, cap.halt, cap.operation, cap.evidence) == (
            "critical", "agent", action, ("big",),
        )  # fmt: skip
        assert f"spent ${usd:.2f} on one openai/gpt-x call" in cap.summary
        assert "(cap $5.00)" in cap.summary


def test_cap_alerts_once_and_clears_after_quiet() -> None:
    detector, state = SpendDrift(DetectorRules()), {}
    first = spend(detector, state, 9.0, T0, action="summarize")
    again = spend(detector, state, 9.0, T0 + 100, action="summarize")
    assert (len(first), again) == (1, [])
    assert detector.tick(state, T0 + 100 + 899)[1] == []  # the last breach restarts the clock
    (cleared,) = detector.tick(state, T0 + 100 + 900)[1]
    assert (cleared.dedup_key, cleared.resolved, cleared.halt) == (
        "spend-cap:analyst:summarize", True, None,
    )  # fmt: skip
    assert detector.tick(state, T0 + 2000)[1] == []


@pytest.mark.parametrize(
    ("agent", "expected"),
    [pytest.param("analyst-eu", 0, id="glob-matches"), pytest.param("writer", 1, id="no-match")],
)
def test_cap_overridden_by_agent_glob(agent: str, expected: int) -> None:
    overrides = DetectorRules.model_validate(
        {"overrides": [{"agent": "analyst*", "set": {"spend": {"request_cap_usd": 20.0}}}]}
    )
    assert len(spend(SpendDrift(overrides), {}, 10.0, T0, agent=agent)) == expected


def test_no_cap() -> None:
    detector = SpendDrift(rules(spend={"request_cap_usd": None}))
    assert spend(detector, {}, 1e6, T0) == []


# -- drift -------------------------------------------------------------------------------


def buckets(
    detector: SpendDrift, state: State, amounts: list[float], *, start: int = 0,
    skew: float = 0.0, **fields: object,
) -> list[tuple[int, Finding]]:  # fmt: skip
    """One spend a bucket (10 s), from bucket ``start``, each followed by a tick 5 s later
    (ticks close buckets)."""
    found: list[tuple[int, Finding]] = []
    for b, usd in enumerate(amounts, start):
        now = T0 + b * 10 + 1
        step = spend(detector, state, usd, now, skew=skew, event_id=f"b{b}", **fields)
        found += [(b, f) for f in step]
        found += [(b, f) for f in detector.tick(state, now + 5)[1]]
    return found


RISE = [1.0] * 12 + [3.0] * 10  # 3x from bucket 12 on
SOON = range(13, 18)  # both windows need a few buckets of the new rate


def keys(found: list[tuple[int, Finding]]) -> list[tuple[str, bool]]:
    return [(f.dedup_key, f.resolved) for _, f in found]


@pytest.mark.parametrize(
    ("factor", "expected"),
    [
        pytest.param(1.0, [], id="steady"),
        pytest.param(1.9, [], id="below-drift-factor"),
        pytest.param(3.0, [(DRIFT, False)], id="3x-alerts-once"),
    ],
)
def test_drift_after_warmup(factor: float, expected: list[tuple[str, bool]]) -> None:
    found = buckets(SpendDrift(rules(spend=FAST)), {}, [1.0] * 12 + [factor] * 30)
    assert keys(found) == expected
    assert all(b in SOON for b, _ in found)


def test_drift_finding() -> None:
    ((b, drift),) = buckets(SpendDrift(rules(spend=FAST)), {}, RISE)
    assert (drift.severity, drift.halt, drift.operation, drift.resolved) == (
        "warning", None, None, False,
    )  # fmt: skip
    assert "runs at $1,080.00/h, 3.0x its baseline of $360" in drift.summary
    assert drift.evidence == tuple(f"b{n}" for n in range(b - 3, b + 1))  # the last 30 s


def test_no_drift_during_warmup() -> None:
    detector = SpendDrift(rules(spend={**FAST, "warmup_buckets": 50}))
    assert buckets(detector, {}, [1.0] * 12 + [3.0] * 30) == []


def test_drift_per_action_too() -> None:
    found = buckets(SpendDrift(rules(spend=FAST)), {}, RISE, action="summarize")
    assert sorted((f.dedup_key, f.operation) for _, f in found) == [
        (DRIFT, None), ("spend-drift:analyst:summarize", "summarize"),
    ]  # fmt: skip


def test_drift_resolves_when_the_short_window_falls_back() -> None:
    detector, state = SpendDrift(rules(spend=FAST)), {}
    buckets(detector, state, RISE)
    found = buckets(detector, state, [1.0] * 10, start=22)
    assert keys(found) == [(DRIFT, True)]
    assert found[0][0] in range(23, 27)
    assert "back at $" in found[0][1].summary


def test_drift_resolves_on_tick_when_spend_stops() -> None:
    detector, state = SpendDrift(rules(spend=FAST)), {}
    buckets(detector, state, RISE)
    assert [(f.dedup_key, f.resolved) for f in detector.tick(state, T0 + 600)[1]] == [(DRIFT, True)]


@pytest.mark.parametrize("skew", [-7200.0, 7200.0], ids=["behind", "ahead"])
def test_no_false_drift_under_clock_skew(skew: float) -> None:
    detector = SpendDrift(rules(spend=FAST))
    assert buckets(detector, {}, [1.0] * 60, skew=skew) == []


def test_drift_detected_with_producer_clock_ahead() -> None:
    found = buckets(SpendDrift(rules(spend=FAST)), {}, RISE, skew=7200)
    assert keys(found) == [(DRIFT, False)]
    assert found[0][0] in SOON


def test_drift_detected_with_producer_clock_behind() -> None:
    found = buckets(SpendDrift(rules(spend=FAST)), {}, RISE, skew=-7200)
    assert keys(found) == [(DRIFT, False)]


def test_no_false_drift_when_a_backlog_is_read_one_partition_after_another() -> None:
    """A steady $3 a bucket, spread over three partitions ($1 each) and read late, one
    partition after the other: ticks (the time up to which every partition has been read)
    come only once the last partition is being read. A bucket closed by the first
    partition's events alone would hold a third of its spend, and the full rate would
    then look like 3x the baseline."""
    detector, state, found = SpendDrift(rules(spend=FAST)), {}, []
    late = T0 + 2_000  # the worker reads the backlog this much later
    for partition in range(3):
        for b in range(40):
            at = T0 + b * 10 + 1 + partition
            event = obs("spend", at=at, usd=1.0, event_id=f"p{partition}-b{b}")
            found += detector.observe(state, event, late)[1]
            if partition == 2:  # the last partition is being read: ticks have a clock
                found += detector.tick(state, at)[1]
    for caught_up in range(1, 40):  # then live: the worker's clock
        event = obs("spend", at=late + 10 * caught_up, usd=3.0, event_id=f"live-{caught_up}")
        found += detector.observe(state, event, late + 10 * caught_up)[1]
        found += detector.tick(state, late + 10 * caught_up + 5)[1]
    assert found == []
    # $3 a 10 s bucket, then a little less after the idle stretch before the live part
    assert state["series"]["*"]["baseline"] == pytest.approx(0.3, rel=0.05)


# -- spends that cannot be added up ------------------------------------------------------

UNREADABLE = "spend-unreadable:analyst"
NOT_AMOUNTS = [
    pytest.param(float("nan"), "nan", id="nan"),
    pytest.param(float("inf"), "inf", id="inf"),
    pytest.param(float("-inf"), "-inf", id="-inf"),
    pytest.param(-0.01, "-0.01", id="negative"),
    pytest.param(2e9, "2000000000.0", id="over-a-billion"),
    pytest.param("nan", "nan", id="nan-as-carried-between-workers"),
    pytest.param(None, "None", id="null-from-an-older-worker"),
]


@pytest.mark.parametrize(("usd", "shown"), NOT_AMOUNTS)
def test_an_unreadable_spend_alerts_names_the_event_and_halts_under_a_cap(
    usd: object, shown: str
) -> None:
    state: State = {}
    (found,) = spend(SpendDrift(DetectorRules()), state, usd, T0, event_id="odd")
    assert (found.dedup_key, found.severity, found.halt, found.evidence, found.operation) == (
        UNREADABLE, "critical", "agent", ("odd",), None,
    )  # fmt: skip
    assert f"usd={shown} on one openai/gpt-x call (event odd)" in found.summary
    assert "counts as $0 toward spend drift, and as over the per-call cap of $5.00" in found.summary
    assert "series" not in state  # nothing added up


@pytest.mark.parametrize(("usd", "shown"), NOT_AMOUNTS[:4])
def test_without_a_cap_an_unreadable_spend_is_a_warning(usd: float, shown: str) -> None:
    detector = SpendDrift(rules(spend={"request_cap_usd": None}))
    (found,) = spend(detector, {}, usd, T0, action="summarize")
    assert (found.dedup_key, found.severity, found.halt) == (UNREADABLE, "warning", None)
    assert f"usd={shown} on one openai/gpt-x call for summarize" in found.summary
    assert found.summary.endswith("toward spend drift")


def test_unreadable_spends_alert_once_and_clear_after_quiet() -> None:
    detector, state = SpendDrift(DetectorRules()), {}
    first = spend(detector, state, float("nan"), T0)
    again = spend(detector, state, float("inf"), T0 + 100, action="other")
    assert (len(first), again) == (1, [])
    assert detector.tick(state, T0 + 100 + 899)[1] == []
    (cleared,) = detector.tick(state, T0 + 100 + 900)[1]
    assert (cleared.dedup_key, cleared.resolved, cleared.halt) == (UNREADABLE, True, None)
    assert cleared.summary == "no unreadable spend for 15m"
    assert len(spend(detector, state, -1.0, T0 + 2000)) == 1  # a new one alerts again


@pytest.mark.parametrize("usd", [float("nan"), float("inf"), float("-inf"), -50.0])
def test_unreadable_spends_change_neither_baseline_nor_drift(usd: float) -> None:
    """Interleaved with the readable spends (an odd one each bucket), they count as $0: a
    negative one cannot hide a rise, a NaN or an infinity cannot poison the baseline."""
    plain, mixed = SpendDrift(rules(spend=FAST)), SpendDrift(rules(spend=FAST))
    plain_state: State = {}
    mixed_state: State = {}
    expected = buckets(plain, plain_state, RISE)
    found = []
    for b, amount in enumerate(RISE):
        now = T0 + b * 10 + 1
        found += spend(mixed, mixed_state, usd, now - 0.5, event_id=f"odd{b}")
        found += [f for f in spend(mixed, mixed_state, amount, now, event_id=f"b{b}")]
        found += mixed.tick(mixed_state, now + 5)[1]
    assert [f.dedup_key for f in found] == [UNREADABLE, DRIFT]
    assert found[1] == expected[0][1]  # the same drift, in the same words
    assert mixed_state["series"] == plain_state["series"]


def test_state_an_older_version_saved_with_nulls_and_negatives_is_mended() -> None:
    """Earlier versions added any amount up, and JSON turned a NaN or an infinity into
    null: such buckets count as $0 and such a baseline is learned again; nothing raises."""
    detector, state = SpendDrift(rules(spend=FAST)), {}
    buckets(detector, state, [1.0] * 12)
    s = state["series"]["*"]
    current = s["current"]
    s["buckets"].update({str(current - 1): None, str(current - 2): -4.0, str(current): None})
    s["baseline"] = None
    assert detector.tick(state, T0 + 11 * 10 + 7)[1] == []  # an earlier version: TypeError
    assert None not in s["buckets"].values()
    assert all(usd >= 0 for usd in s["buckets"].values())
    assert (s["baseline"], s["samples"]) == (0.0, 0)
    found = buckets(detector, state, [1.0] * 8 + [3.0] * 10, start=13)
    assert keys(found) == [(DRIFT, False)]  # learned again, and watching
    assert 0 < s["baseline"] <= 0.1


def test_an_observe_right_after_restoring_nulls_does_not_raise() -> None:
    detector, state = SpendDrift(rules(spend=FAST)), {}
    buckets(detector, state, [1.0] * 3)
    s = state["series"]["*"]
    b = s["current"]
    s["buckets"].update({str(b - 1): None, str(b): None, str(b + 1): None})
    assert spend(detector, state, 1.0, (b + 1) * 10 + 1) == []
    assert s["buckets"] == {str(b - 2): 1.0, str(b + 1): 1.0}
