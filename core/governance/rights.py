"""Decision rights, evaluated (pure): may this agent take this action, on this resource,
at this cost, at this attempt, right now? ``attempt`` counts like the retry event's: 0 (or
None) for the first try, 1 for the first retry, and so on.

Every rule whose globs match is applied; a spend cap, a retry budget or the agent's daily
budget can only make a rule's effect stricter. The strictest effect wins (deny, then
escalate, then needs_approval, then allow); between equals the first declared rule names
the verdict. No matching rule, or an undeclared agent, is a deny that says what to declare.
Matching rules are cached per (agent, action, resource), so a decision costs a few
microseconds whatever the number of rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fnmatch import translate
from typing import NamedTuple

from handrail.governance.model import Approval, Governance, Right
from handrail.schemas.models import Effect

RANK: dict[str, int] = {"allow": 0, "needs_approval": 1, "escalate": 2, "deny": 3}
_CACHE_MAX = 10_000


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
    rule: Right
    verdict: Verdict
    """The rule's own verdict, before caps and budgets (shared: verdicts are immutable)."""
    agent: re.Pattern[str]
    action: re.Pattern[str]
    resource: re.Pattern[str]
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
    return _Compiled(rule, verdict, agent, action, resource)


class Rights:
    def __init__(self, governance: Governance) -> None:
        self.governance = governance
        self._rules = [_compile(r) for r in governance.rights]
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
        declared = self.governance.agents.get(agent)
        if declared is None:
            return Verdict("deny", "", f"agent {agent!r} is not declared under `agents`")
        rules = self._rules_for(agent, action, resource or "")
        if not rules:
            on = f" on {resource}" if resource else ""
            return Verdict("deny", "", f"no rule lets {agent} {action}{on}: declare one "
                           "under `rights`")  # fmt: skip
        best = _apply(rules[0], cost_usd, attempt)
        for rule in rules[1:]:
            verdict = _apply(rule, cost_usd, attempt)
            if RANK[verdict.effect] > RANK[best.effect]:
                best = verdict
        budget, over = declared.daily_budget_usd, declared.over_budget
        if (
            budget is not None
            and cost_usd is not None
            and spent_today_usd + cost_usd > budget
            and RANK[over] > RANK[best.effect]
        ):
            why = (f"${spent_today_usd + cost_usd:.2f} today would pass {agent}'s daily "
                   f"budget of ${budget:.2f}")  # fmt: skip
            best = Verdict(over, f"agent:{agent}", why, best.approval)
        return best

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
    rule, verdict = compiled.rule, compiled.verdict
    cap, budget = rule.spend, rule.retries
    effect = verdict.effect
    capped = (
        cap
        if cap is not None
        and cost_usd is not None
        and cost_usd > cap.per_request_usd
        and RANK[cap.over] > RANK[effect]
        else None
    )
    if capped is not None:
        effect = capped.over
    if (
        budget is not None
        and attempt is not None
        and attempt > budget.max_retries
        and RANK[budget.then] > RANK[effect]
    ):
        return compiled.retried(attempt)
    if capped is not None:
        why = f"${cost_usd:.2f} is over the ${capped.per_request_usd:.2f} per-request cap"
        return Verdict(effect, verdict.rule, why, rule.approval)
    return verdict
