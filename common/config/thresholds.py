"""Detector thresholds: sensible defaults, overridden per agent, action or handoff edge.

Overrides apply in order, each where its globs match, so put general ones first::

    [[processors.rules.overrides]]
    agent = "analyst"
    set = { spend = { request_cap_usd = 20.0 } }

    [[processors.rules.overrides]]
    edge = "summarizer->db-writer"
    set = { handoff = { critical = true, deadline_s = 60 } }
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryRules(_Rules):
    max_retries: int = Field(5, ge=1, description="Retries of one operation within the window.")
    window_s: float = Field(600.0, gt=0, description="Retry window; quiet this long = cleared.")
    agent_max_retries: int = Field(30, ge=1, description="Retries of all an agent's operations.")


class SpendRules(_Rules):
    request_cap_usd: float | None = Field(5.0, gt=0, description="Most one paid call may cost.")
    drift_factor: float = Field(2.0, gt=1, description="Spend rate over baseline that alerts.")
    bucket_s: float = Field(60.0, gt=0, description="Spend is summed in buckets this long.")
    short_window_s: float = Field(300.0, gt=0, description="Fast burn-rate window.")
    long_window_s: float = Field(3600.0, gt=0, description="Slow burn-rate window.")
    warmup_buckets: int = Field(60, ge=1, description="Buckets learned before drift can alert.")
    baseline_half_life_s: float = Field(86_400.0, gt=0, description="Baseline memory.")
    cap_clear_s: float = Field(900.0, gt=0, description="A cap alert clears after this quiet.")


class HandoffRules(_Rules):
    reject_rate: float = Field(0.2, gt=0, le=1, description="Rejected share that alerts.")
    min_answers: int = Field(5, ge=1, description="Answers needed before the rate counts.")
    window_s: float = Field(900.0, gt=0, description="Rejection-rate window.")
    critical: bool = Field(False, description="Every rejection on the edge alerts at once.")
    deadline_s: float = Field(300.0, gt=0, description="Unanswered this long = stalled.")


class RightsRules(_Rules):
    require_verdict: tuple[str, ...] = Field(
        ("db.*.write", "db.*.delete"), description="Actions that need a verdict first (globs)."
    )
    grace_s: float = Field(5.0, ge=0, description="Wait for late verdicts or approvals.")


class SilenceRules(_Rules):
    heartbeat_interval_s: float = Field(60.0, gt=0, description="When heartbeats don't say.")
    missed_heartbeats: float = Field(3.0, gt=0, description="Missed intervals = silent.")
    gap_grace_s: float = Field(30.0, ge=0, description="Wait for late events before a gap.")
    session_ttl_s: float = Field(86_400.0, gt=0, description="Forget idle sessions after.")


class BurstRules(_Rules):
    window_s: float = Field(60.0, gt=0, description="Burst window.")
    max_errors: int = Field(10, ge=1, description="Failed actions within the window.")
    max_escalations: int = Field(5, ge=1, description="Escalations within the window.")


class Rules(_Rules):
    retry: RetryRules = RetryRules()
    spend: SpendRules = SpendRules()
    handoff: HandoffRules = HandoffRules()
    rights: RightsRules = RightsRules()
    silence: SilenceRules = SilenceRules()
    bursts: BurstRules = BurstRules()


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        inner = merged.get(key)
        merged[key] = _merge(inner, value) if isinstance(inner, dict) else value
    return merged


class Override(BaseModel):
    """Changes to the rules where all of ``agent``, ``action`` and ``edge`` match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent: str = Field("*", description="Agent name glob (for handoffs: the receiver).")
    action: str = Field("*", description="Action glob (spend and retry rules).")
    edge: str = Field("*", description="Handoff edge glob, 'sender->receiver'.")
    set: dict[str, dict[str, Any]] = Field(description="Rule fields to change, by section.")

    @model_validator(mode="after")
    def _valid(self) -> Override:
        Rules.model_validate(_merge(Rules().model_dump(), self.set))  # names what is wrong
        return self

    def matches(self, agent: str, action: str, edge: str) -> bool:
        return (
            fnmatchcase(agent, self.agent)
            and fnmatchcase(action, self.action)
            and fnmatchcase(edge, self.edge)
        )


class DetectorRules(BaseModel):
    """Defaults and overrides; ``for_`` resolves (and caches) the rules that apply."""

    model_config = ConfigDict(frozen=True)

    defaults: Rules = Field(default_factory=Rules, description="Rules where nothing overrides.")
    overrides: tuple[Override, ...] = Field((), description="Applied in order where they match.")

    _cache: dict[tuple[str, str, str], Rules] = PrivateAttr(default_factory=dict)

    def for_(self, agent: str = "", action: str = "", edge: str = "") -> Rules:
        key = (agent, action, edge)
        rules = self._cache.get(key)
        if rules is None:
            matching = [o for o in self.overrides if o.matches(agent, action, edge)]
            if not matching:
                rules = self.defaults
            else:
                data = self.defaults.model_dump()
                for override in matching:
                    data = _merge(data, override.set)
                rules = Rules.model_validate(data)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = rules
        return rules
