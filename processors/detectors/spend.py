"""Spend: a single paid call above its cap (with a halt of the agent), and spend drift.

Drift compares an agent's spend rate, and each of its actions', with its own learned
baseline, burn-rate style: it alerts when both the short and the long window run above
``drift_factor`` times the baseline, and clears when the short window is back under
halfway between the two (hysteresis). Rates count closed buckets only.
The baseline is the mean of the first ``warmup_buckets`` buckets, then an exponentially
weighted mean that stops learning while an alert is open.

A bucket closes on ``tick``, whose clock is the time up to which every events partition
has been read (``processors/watermark.py``), never on an event's own time: a worker
catching up on a backlog reads partitions unevenly, and a bucket closed when one
partition's events passed it would be folded into the baseline without the spend the
other partitions still hold for it (a baseline too low, then a false drift).

A spend whose ``usd`` is not a number from 0 to ``MAX_USD`` (NaN, ±inf, negative, missing)
cannot be added up: it counts as $0 toward drift (it can neither poison the baseline nor,
being negative, hide other spend) and raises ``spend-unreadable:<agent>``, naming the event
and its value, since such a cost is suspect in itself. Where a per-call cap applies, the
cost cannot be shown to be under it, so it counts as over: critical, and the agent is
halted; where none applies, a warning. It clears like a cap alert, after ``cap_clear_s``
without another. State saved by earlier versions, which added any amount up, may hold
``null`` (a NaN or an infinity, through JSON) or negative sums: they count as $0, and a
baseline made of them is learned again.
"""

from __future__ import annotations

import math
from typing import Any

from handrail.config.thresholds import DetectorRules, SpendRules
from handrail.humanize import duration
from handrail.humanize import usd as dollars
from handrail.processors.detectors.base import EVIDENCE, State, Step, ids, window_add
from handrail.processors.detectors.numbers import amount
from handrail.processors.findings import Finding
from handrail.processors.observation import Observation

_MAX_FOLD = 1000  # buckets folded one by one; older idle buckets decay in closed form
MAX_USD = 1e9
"""The most one call can cost and still be added up: no call costs a billion dollars, and
the bound keeps every sum and rate finite."""
UNREADABLE = "spend-unreadable"


class SpendDrift:
    name = "spend"

    def __init__(self, rules: DetectorRules) -> None:
        self._rules = rules

    def observe(self, state: State, obs: Observation, now: float) -> Step:
        if obs.kind != "spend":
            return state, []
        action = obs.payload.get("action")
        state["who"], state["workflow"] = [obs.agent, obs.owner], obs.workflow_id
        state["clock"] = now - obs.time  # how far the producer's clock is behind ours
        cap = self._rules.for_(obs.agent, action or "").spend.request_cap_usd
        usd = amount(obs.payload.get("usd"), MAX_USD)
        if usd is None:
            return state, self._unreadable(state, obs, cap, now)
        findings: list[Finding] = []
        if cap is not None and usd > cap:
            key = f"spend-cap:{obs.agent}:{action or '*'}"
            caps = state.setdefault("caps", {})
            if key not in caps:
                findings.append(Finding(
                    self.name, key,
                    f"{obs.agent} spent {dollars(usd)} on one {obs.payload['provider']}/"
                    f"{obs.payload['model']} call{f' for {action}' if action else ''} "
                    f"(cap {dollars(cap)})",
                    obs.agent, obs.owner, obs.workflow_id, "critical", action, (obs.event_id,),
                    halt="agent",
                ))  # fmt: skip
            caps[key] = {"last": now, "workflow": obs.workflow_id, "action": action}
        series = state.setdefault("series", {})
        for scope in ("*", action) if action else ("*",):
            rules = self._rules.for_(obs.agent, "" if scope == "*" else scope).spend
            s = series.setdefault(scope, _new_series())
            _mend(s)
            bucket = math.floor(obs.time / rules.bucket_s)
            s["buckets"][str(bucket)] = s["buckets"].get(str(bucket), 0.0) + usd
            window_add(s["ids"], obs.time, obs.event_id, rules.short_window_s)
            del s["ids"][:-EVIDENCE]  # the latest spends are the evidence
            if s["folded"] is None:  # the series starts here; ticks close its buckets
                s["current"], s["folded"] = bucket, bucket - 1
            findings.extend(
                self._check(s, obs.agent, obs.owner, scope, workflow=obs.workflow_id, rules=rules)
            )
        return state, findings

    def _unreadable(
        self, state: State, obs: Observation, cap: float | None, now: float
    ) -> list[Finding]:
        """A spend that cannot be added up: $0 toward drift, one alert while they go on."""
        key = f"{UNREADABLE}:{obs.agent}"
        caps = state.setdefault("caps", {})
        known = key in caps
        caps[key] = {"last": now, "workflow": obs.workflow_id, "action": None}
        if known:
            return []
        p, action = obs.payload, obs.payload.get("action")
        over = "" if cap is None else f", and as over the per-call cap of {dollars(cap)}"
        return [Finding(
            self.name, key,
            f"{obs.agent} recorded a spend that cannot be added up: usd={p.get('usd')} "
            f"on one {p.get('provider')}/{p.get('model')} call"
            f"{f' for {action}' if action else ''} (event {obs.event_id}); it counts as $0 "
            f"toward spend drift{over}",
            obs.agent, obs.owner, obs.workflow_id, "warning" if cap is None else "critical",
            None, (obs.event_id,), halt=None if cap is None else "agent",
        )]  # fmt: skip

    def tick(self, state: State, now: float) -> Step:
        if "who" not in state:
            return state, []
        agent, owner = state["who"]
        findings = []
        for key, cap in list(state.get("caps", {}).items()):
            clear = self._rules.for_(agent, cap["action"] or "").spend.cap_clear_s
            if now - cap["last"] >= clear:
                del state["caps"][key]
                what = "unreadable spend" if key.startswith(UNREADABLE) else "call over the cap"
                findings.append(Finding(
                    self.name, key, f"no {what} for {duration(clear)}", agent, owner,
                    cap["workflow"], "critical", cap["action"], resolved=True,
                ))  # fmt: skip
        for scope, s in state.get("series", {}).items():
            rules = self._rules.for_(agent, "" if scope == "*" else scope).spend
            producer_now = now - state.get("clock", 0.0)
            _mend(s)
            _advance(s, max(s["current"], math.floor(producer_now / rules.bucket_s)), rules)
            findings.extend(
                self._check(s, agent, owner, scope, workflow=state["workflow"], rules=rules)
            )
        return state, findings

    def _check(
        self, s: dict[str, Any], agent: str, owner: str, scope: str, *, workflow: str,
        rules: SpendRules,
    ) -> list[Finding]:  # fmt: skip
        short = _rate(s, rules.short_window_s, rules)
        limit = rules.drift_factor * s["baseline"]
        what = f"{agent}'s spend" + ("" if scope == "*" else f" on {scope}")
        key = f"spend-drift:{agent}:{scope}"
        if not s["open"]:
            learned = s["samples"] >= rules.warmup_buckets and s["baseline"] > 0
            if learned and short > limit and _rate(s, rules.long_window_s, rules) > limit:
                s["open"] = True
                return [Finding(
                    self.name, key,
                    f"{what} runs at {dollars(short * 3600)}/h, {short / s['baseline']:.1f}x "
                    f"its baseline of {dollars(s['baseline'] * 3600)}/h",
                    agent, owner, workflow, "warning", None if scope == "*" else scope,
                    ids(s["ids"]),
                )]  # fmt: skip
        elif short <= s["baseline"] * (1 + rules.drift_factor) / 2:  # hysteresis: halfway
            s["open"] = False
            return [Finding(
                self.name, key, f"{what} is back at {dollars(short * 3600)}/h", agent, owner,
                workflow, resolved=True,
            )]  # fmt: skip
        return []


def _new_series() -> dict[str, Any]:
    return {"buckets": {}, "current": -1, "folded": None, "baseline": 0.0, "samples": 0,
            "open": False, "ids": []}  # fmt: skip


def _mend(s: dict[str, Any]) -> None:
    """Mend a series saved by an earlier version, which added any amount up: a bucket
    holding ``null`` (a NaN or an infinity, through JSON) or a negative sum counts as $0,
    and a baseline made of such amounts is learned again."""
    buckets = s["buckets"]
    for b in [b for b, usd in buckets.items() if usd is None or not usd >= 0]:
        del buckets[b]
    if amount(s["baseline"]) is None:
        s["baseline"], s["samples"] = 0.0, 0


def _rate(s: dict[str, Any], window_s: float, rules: SpendRules) -> float:
    """USD per second over the last ``window_s``: whole closed buckets only, so the rate
    does not dip each time a new bucket starts."""
    n = max(1, round(window_s / rules.bucket_s))
    first, current = s["current"] - n, s["current"]
    total = sum(usd for b, usd in s["buckets"].items() if first <= int(b) < current)
    return float(total) / (n * rules.bucket_s)


def _advance(s: dict[str, Any], current: int, rules: SpendRules) -> None:
    """Move to bucket ``current``: fold every closed bucket into the baseline."""
    s["current"] = current
    closed = current - 1 - s["folded"]
    if closed <= 0:
        return
    alpha = 1 - 0.5 ** (rules.bucket_s / rules.baseline_half_life_s)
    if closed > _MAX_FOLD and not s["open"]:  # a long idle stretch: zeros, in closed form
        s["baseline"] *= (1 - alpha) ** (closed - _MAX_FOLD)
        s["samples"] += closed - _MAX_FOLD
    for b in range(max(s["folded"] + 1, current - _MAX_FOLD), current):
        x = s["buckets"].get(str(b), 0.0) / rules.bucket_s
        if s["samples"] < rules.warmup_buckets:
            s["baseline"] += (x - s["baseline"]) / (s["samples"] + 1)
        elif not s["open"]:
            s["baseline"] += alpha * (x - s["baseline"])
        s["samples"] += 1
    s["folded"] = current - 1
    keep = current - 1 - max(1, round(rules.long_window_s / rules.bucket_s))
    s["buckets"] = {b: usd for b, usd in s["buckets"].items() if int(b) > keep}
