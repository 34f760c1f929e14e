"""Which channels an alert goes to: pure matching of owner and severity against routes."""

from __future__ import annotations

from collections.abc import Sequence

from handrail.config.alerts import Route
from handrail.schemas.models import Severity

SEVERITY_RANK: dict[Severity, int] = {"info": 0, "warning": 1, "critical": 2}


def matches(route: Route, owner: str, severity: Severity) -> bool:
    """Whether ``route`` takes an alert of ``owner`` at ``severity``."""
    owner_ok = route.owner in ("*", owner)
    return owner_ok and SEVERITY_RANK[severity] >= SEVERITY_RANK[route.min_severity]


def select_channels(
    routes: Sequence[Route], default: Sequence[str], owner: str, severity: Severity
) -> list[str]:
    """Channel names for an alert, in route order and without repeats.

    Every matching route adds its channels; a matching route with ``stop`` ends the walk.
    No matching route at all means ``default``.
    """
    chosen: list[str] = []
    matched = False
    for route in routes:
        if not matches(route, owner, severity):
            continue
        matched = True
        for name in route.channels:
            if name not in chosen:
                chosen.append(name)
        if route.stop:
            break
    return chosen if matched else list(dict.fromkeys(default))
