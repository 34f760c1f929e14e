"""Decision rights, evaluated (pure): may this agent take this action, on this resource,
at this cost, at this attempt, right now? ``attempt`` counts like the retry event's: 0 (or
None) for the first try, 1 for the first retry, and so on.

Every rule whose globs match is applied; a spend cap, a retry budget or the agent's daily
budget can only make a rule's effect stricter. The strictest effect wins (deny, then
escalate, then needs_approval, then allow); between equals the first declared rule names
the verdict. No matching rule, or an undeclared agent, is a deny that says what to declare.
Matching rules are cached per (agent, action, resource), so a decision costs a few
microseconds whatever the number of rules.

Numbers fail closed: a cost that is not a finite amount from $0 to ``MAX_COST_USD`` (NaN,
infinite, negative, a bool), or an attempt that is not a whole number from 0 to
``MAX_ATTEMPT``, is denied whatever the rules say (rule ``UNTRUSTED``, never shadowed). A
spend so far today that is not a number counts as past the daily budget.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fnmatch import translate
from typing import NamedTuple

from handrail.governance.model import Approval, Governance, Right
from handrail.schemas.models import Effect

RANK: dict[str, int] = {"allow": 0, "needs_approval": 1, "escalate": 2, "deny": 3}
_CACHE_MAX = 10_000
MAX_COST_USD = 1e12
"""The most one request may claim to cost: beyond it a figure is a mistake (or a trick),
not a price, and sums of such figures lose their cents."""
MAX_ATTEMPT = 2**63 - 1
"""The largest attempt the ledger can hold (an Avro ``long``)."""
UNTRUSTED = "untrusted-number"
"""The rule named by the deny of a cost or attempt that cannot be trusted."""


class Verdict(NamedTuple):
    """Immutable (a named tuple: the cheapest immutable value to build on the hot path)."""

    effect: Effect
    rule: str
    """The rule that decided, ``agent:action@resource``; empty when none matched."""
    reason: str
    approval: Approval | None = None
    """How long to wait for a human, and what then (needs_approval only)."""
    shadow: bool = False
    """Decided in shadow mode: recorded, never blocking."""

    @property
    def allowed(self) -> bool:
        return self.effect == "allow" or self.shadow


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A rule as ``decide`` reads it: its globs compiled, its verdict and its limits
    reduced at load to the numbers a call compares."""

    rule: Right
    verdict: Verdict
    """The rule's own verdict, before caps and budgets (shared: verdicts are immutable)."""
    agent: re.Pattern[str]
    action: re.Pattern[str]
    resource: re.Pattern[str]
    rank: int
    """``RANK`` of the rule's effect."""
    cap_usd: float | None
    """The spend cap, when going over it makes the effect stricter (else None: it never
    decides)."""
    cap_over: Effect
    """The effect over the spend cap."""
    cap_rank: int
    max_retries: int | None
    """The retry budget, when going past it makes the effect stricter (else None)."""
    then_rank: int
    """``RANK`` of the effect past the retry budget."""
    past_budget: dict[int, Verdict] = field(default_factory=dict)
    """The verdict past the retry budget, per attempt (it depends on nothing else)."""

    def retried(self, attempt: int) -> Verdict:
        """The verdict on an attempt past the rule's retry budget."""
        verdict = self.past_budget.get(attempt)
        if verdict is None:
            budget = self.rule.retries
            assert budget is not None
            why = f"retry {attempt} is past the budget of {budget.max_retries} retries"
            verdict = Verdict(budget.then, self.verdict.rule, why, self.rule.approval)
            if len(self.past_budget) < _CACHE_MAX:
                self.past_budget[attempt] = verdict
        return verdict


def _compile(rule: Right) -> _Compiled:
    name = rule.name
    verdict = Verdict(rule.effect, name, rule.reason or f"{rule.effect} by {name}", rule.approval)
    agent, action, resource = (
        re.compile(translate(g)) for g in (rule.agent, rule.action, rule.resource)
    )
    rank, cap, budget = RANK[rule.effect], rule.spend, rule.retries
    over = rule.effect if cap is None else cap.over
    cap_usd = cap.per_request_usd if cap is not None and RANK[over] > rank else None
    then = rule.effect if budget is None else budget.then
    max_retries = budget.max_retries if budget is not None and RANK[then] > rank else None
    return _Compiled(
        rule, verdict, agent, action, resource, rank,
        cap_usd, over, RANK[over], max_retries, RANK[then],
    )  # fmt: skip


class _Agent(NamedTuple):
    """A declared agent's daily budget, as ``decide`` reads it."""

    budget_usd: float | None
    over: Effect
    over_rank: int


class Rights:
    def __init__(self, governance: Governance) -> None:
        self.governance = governance
        self._rules = [_compile(r) for r in governance.rights]
        self._agents = {
            name: _Agent(a.daily_budget_usd, a.over_budget, RANK[a.over_budget])
            for name, a in governance.agents.items()
        }
        self._matching: dict[tuple[str, str, str], tuple[_Compiled, ...]] = {}

    def decide(
        self,
        agent: str,
        action: str,
        resource: str | None = None,
        cost_usd: float | None = None,
        attempt: int | None = None,
        *,
        spent_today_usd: float = 0.0,
    ) -> Verdict:
        declared = self._agents.get(agent)
        if declared is None:
            return Verdict("deny", "", f"agent {agent!r} is not declared under `agents`")
        rules = self._matching.get((agent, action, resource or ""))
        if rules is None:
            rules = self._rules_for(agent, action, resource or "")
        if not rules:
            on = f" on {resource}" if resource else ""
            return Verdict("deny", "", f"no rule lets {agent} {action}{on}: declare one "
                           "under `rights`")  # fmt: skip
        if not _trusted(cost_usd, attempt):
            return Verdict("deny", UNTRUSTED, _untrusted(cost_usd, attempt))
        best = _apply(rules[0], cost_usd, attempt)
        for rule in rules[1:]:
            verdict = _apply(rule, cost_usd, attempt)
            if RANK[verdict.effect] > RANK[best.effect]:
                best = verdict
        budget = declared.budget_usd
        if budget is None or cost_usd is None or declared.over_rank <= RANK[best.effect]:
            return best
        # A refund never lowers the day's spend; NaN fails every comparison, so each test
        # is written to hold only for a number within the budget.
        spent = 0.0 if spent_today_usd < 0 else spent_today_usd
        total = spent + cost_usd
        if total <= budget:
            return best
        if math.isfinite(total):
            why = f"${total:.2f} today would pass {agent}'s daily budget of ${budget:.2f}"
        else:
            why = f"spend today that is not a number counts as past {agent}'s daily budget"
        return Verdict(declared.over, f"agent:{agent}", why, best.approval)

    def _rules_for(self, agent: str, action: str, resource: str) -> tuple[_Compiled, ...]:
        key = (agent, action, resource)
        found = self._matching.get(key)
        if found is None:
            if len(self._matching) >= _CACHE_MAX:
                self._matching.clear()
            found = self._matching[key] = tuple(
                c for c in self._rules
                if c.agent.match(agent) and c.action.match(action) and c.resource.match(resource)
            )  # fmt: skip
        return found


def _apply(compiled: _Compiled, cost_usd: float | None, attempt: int | None) -> Verdict:
    """The rule's verdict, made stricter by its spend cap, then by its retry budget when
    that is stricter still. A reason is formatted only for the limit that decides."""
    cap, most = compiled.cap_usd, compiled.max_retries
    if cap is None and most is None:
        return compiled.verdict
    # ``not <=``: a NaN that got this far is over every cap, and past every budget
    capped = cap is not None and cost_usd is not None and not cost_usd <= cap
    if (
        most is not None
        and attempt is not None
        and not attempt <= most
        and compiled.then_rank > (compiled.cap_rank if capped else compiled.rank)
    ):
        return compiled.retried(attempt)
    if capped:
        why = f"${cost_usd:.2f} is over the ${cap:.2f} per-request cap"
        return Verdict(compiled.cap_over, compiled.verdict.rule, why, compiled.rule.approval)
    return compiled.verdict


def _trusted(cost_usd: object, attempt: object) -> bool:
    """Whether a cost and an attempt can be decided on. Exact types: a bool is an int to
    Python, not an amount or a count to an auditor; NaN fails every comparison."""
    return (
        cost_usd is None
        or ((type(cost_usd) is float or type(cost_usd) is int) and 0 <= cost_usd <= MAX_COST_USD)
    ) and (attempt is None or (type(attempt) is int and 0 <= attempt <= MAX_ATTEMPT))


def _untrusted(cost_usd: object, attempt: object) -> str:
    """Why a cost or an attempt that is not ``_trusted`` cannot be decided on (a refusal:
    only then is a reason formatted)."""
    if not _trusted(cost_usd, None):
        return (f"cost_usd {_shown(cost_usd)} is not an amount from $0 to "
                f"${MAX_COST_USD:,.0f}: a cost that cannot be trusted is refused")  # fmt: skip
    return (f"attempt {_shown(attempt)} is not a count from 0 to {MAX_ATTEMPT}: an "
            "attempt that cannot be trusted is refused")  # fmt: skip


def _shown(value: object) -> str:
    """A refused number as a reason may show it: short, and never the value of a type that
    is not a number (its repr is the caller's code, and may hold anything)."""
    if type(value) is float or (type(value) is int and abs(value) < 10**19):
        return repr(value)
    return f"(a {type(value).__name__})"
