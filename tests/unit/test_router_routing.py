"""Routing: which channels an alert goes to, by owner and minimum severity."""

from __future__ import annotations

import pytest

from handrail.processors.router import Route
from handrail.processors.router.routing import select_channels
from handrail.schemas.models import Severity

ROUTES = [
    Route(owner="team-data", min_severity="critical", channels=["pd-data", "slack-data"]),
    Route(owner="team-data", min_severity="warning", channels=["slack-data"]),
    Route(owner="team-pay", min_severity="info", channels=["slack-pay"], stop=True),
    Route(owner="*", min_severity="critical", channels=["pd-all"]),
    Route(owner="*", min_severity="warning", channels=["webhook"]),
]
DEFAULT = ["terminal"]


@pytest.mark.parametrize(
    ("owner", "severity", "expected"),
    [
        # every matching route adds its channels, in order, without repeats
        ("team-data", "critical", ["pd-data", "slack-data", "pd-all", "webhook"]),
        ("team-data", "warning", ["slack-data", "webhook"]),
        # nothing matches: the default route
        ("team-data", "info", ["terminal"]),
        ("nobody", "info", ["terminal"]),
        # '*' matches any owner
        ("nobody", "critical", ["pd-all", "webhook"]),
        ("nobody", "warning", ["webhook"]),
        # a matching route with stop ends the walk
        ("team-pay", "critical", ["slack-pay"]),
        ("team-pay", "info", ["slack-pay"]),
    ],
)
def test_select_channels(owner: str, severity: Severity, expected: list[str]) -> None:
    assert select_channels(ROUTES, DEFAULT, owner, severity) == expected


@pytest.mark.parametrize(
    ("min_severity", "severity", "matched"),
    [
        ("info", "info", True),
        ("info", "critical", True),
        ("warning", "info", False),
        ("warning", "warning", True),
        ("critical", "warning", False),
        ("critical", "critical", True),
    ],
)
def test_min_severity(min_severity: Severity, severity: Severity, matched: bool) -> None:
    routes = [Route(owner="*", min_severity=min_severity, channels=["x"])]
    assert select_channels(routes, ["d"], "o", severity) == (["x"] if matched else ["d"])


def test_owner_is_matched_exactly() -> None:
    routes = [Route(owner="team", channels=["x"])]
    assert select_channels(routes, ["d"], "team-data", "critical") == ["d"]


def test_a_route_with_no_channels_still_counts_as_a_match() -> None:
    routes = [Route(owner="quiet", channels=[])]
    assert select_channels(routes, ["d"], "quiet", "critical") == []


def test_no_routes_at_all() -> None:
    assert select_channels([], ["a", "a", "b"], "o", "info") == ["a", "b"]
