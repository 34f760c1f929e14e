"""Detector rules: defaults, overrides by agent glob, action and handoff edge, applied in
order; an invalid override is rejected with pydantic's error naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from handrail.config.thresholds import DetectorRules, Override


def test_defaults() -> None:
    rules = DetectorRules().for_("analyst", "api.call", "a->b")
    assert (rules.retry.max_retries, rules.retry.window_s, rules.retry.agent_max_retries) == (
        5, 600.0, 30,
    )  # fmt: skip
    assert (rules.spend.request_cap_usd, rules.spend.drift_factor) == (5.0, 2.0)
    assert (rules.handoff.reject_rate, rules.handoff.min_answers, rules.handoff.deadline_s) == (
        0.2, 5, 300.0,
    )  # fmt: skip
    assert rules.rights.require_verdict == ("db.*.write", "db.*.delete")
    assert (rules.rights.grace_s, rules.silence.missed_heartbeats) == (5.0, 3.0)
    assert (rules.bursts.max_errors, rules.bursts.max_escalations) == (10, 5)


OVERRIDES = DetectorRules.model_validate(
    {
        "overrides": [
            {"agent": "analyst*", "set": {"retry": {"max_retries": 2}}},
            {"action": "db.*", "set": {"retry": {"max_retries": 1, "window_s": 60}}},
            {"edge": "summarizer->*", "set": {"handoff": {"critical": True}}},
            {"agent": "analyst-eu", "action": "llm.*", "set": {"spend": {"request_cap_usd": 50}}},
        ]
    }
)


@pytest.mark.parametrize(
    ("agent", "action", "edge", "expected"),
    [
        pytest.param("writer", "api.call", "", (5, 600.0, False, 5.0), id="defaults"),
        pytest.param("analyst-eu", "api.call", "", (2, 600.0, False, 5.0), id="agent-glob"),
        pytest.param("writer", "db.orders.write", "", (1, 60.0, False, 5.0), id="action-glob"),
        pytest.param("analyst", "db.x", "", (1, 60.0, False, 5.0), id="later-wins"),
        pytest.param("analyst", "", "summarizer->analyst", (2, 600.0, True, 5.0), id="edge"),
        pytest.param("writer", "", "planner->writer", (5, 600.0, False, 5.0), id="other-edge"),
        pytest.param("analyst-eu", "llm.chat", "", (2, 600.0, False, 50.0), id="all-must-match"),
        pytest.param("analyst-us", "llm.chat", "", (2, 600.0, False, 5.0), id="one-misses"),
    ],
)
def test_override(
    agent: str, action: str, edge: str, expected: tuple[int, float, bool, float]
) -> None:
    rules = OVERRIDES.for_(agent, action, edge)
    got = (rules.retry.max_retries, rules.retry.window_s, rules.handoff.critical)
    assert (*got, rules.spend.request_cap_usd) == expected
    assert rules.bursts == OVERRIDES.defaults.bursts  # untouched sections keep defaults


def test_resolved_rules_are_cached_and_stable() -> None:
    assert OVERRIDES.for_("analyst", "db.x") is OVERRIDES.for_("analyst", "db.x")
    assert OVERRIDES.for_("writer") is OVERRIDES.defaults


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            {"set": {"retry": {"max_retries": 0}}},
            "retry.max_retries\n  Input should be greater than or equal to 1",
            id="below-minimum",
        ),
        pytest.param(
            {"set": {"handoff": {"reject_rate": 1.5}}},
            "handoff.reject_rate\n  Input should be less than or equal to 1",
            id="above-maximum",
        ),
        pytest.param(
            {"set": {"spend": {"drift_factor": "lots"}}},
            "spend.drift_factor\n  Input should be a valid number",
            id="wrong-type",
        ),
        pytest.param(
            {"set": {"retry": {"max_retires": 3}}},
            "retry.max_retires\n  Extra inputs are not permitted",
            id="misspelt-field",
        ),
        pytest.param(
            {"set": {"retries": {"max_retries": 3}}},
            "retries\n  Extra inputs are not permitted",
            id="unknown-section",
        ),
        pytest.param(
            {"agents": "a*", "set": {}}, "agents\n  Extra inputs are not permitted", id="typo-key"
        ),
        pytest.param({"agent": "a*"}, "set\n  Field required", id="no-set"),
    ],
)
def test_invalid_override_is_rejected(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DetectorRules.model_validate({"overrides": [override]})
    assert message in str(raised.value)


def test_override_is_checked_on_its_own() -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        Override(set={"silence": {"heartbeat_interval_s": 0}})
