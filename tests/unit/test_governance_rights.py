"""Decision rights evaluated: every rule type, precedence, defaults, unknown agents and
actions, and the essay's three rules as written in docs/governance.example.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from handrail.governance import Rights, load, parse

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "governance.example.yaml"


def rights(*rules: dict[str, Any], **agent: Any) -> Rights:
    gov = {"agents": {"bot": {"owner": "team", **agent}}, "rights": list(rules)}
    return Rights(parse(__import__("json").dumps(gov)))


@pytest.fixture(scope="module")
def essay() -> Rights:
    return Rights(load(EXAMPLE))


@pytest.mark.parametrize(
    ("agent", "action", "fields", "effect", "because"),
    [
        pytest.param("db-writer", "db.customers.write", {}, "needs_approval", "human",
                     id="rule-1-db-write-waits-for-a-human"),
        pytest.param("db-writer", "api.crm", {"attempt": 0}, "allow", "within budget",
                     id="rule-2-first-try"),
        pytest.param("db-writer", "api.crm", {"attempt": 2}, "allow", "within budget",
                     id="rule-2-second-retry"),
        pytest.param("db-writer", "api.crm", {"attempt": 3}, "escalate", "retry 3",
                     id="rule-2-third-failure-escalates"),
        pytest.param("analyst", "api.llm", {"cost_usd": 5.0}, "allow", "within budget",
                     id="rule-3-five-dollars-is-fine"),
        pytest.param("analyst", "api.llm", {"cost_usd": 5.01}, "needs_approval", "$5.01",
                     id="rule-3-over-five-dollars-waits"),
        pytest.param("analyst", "api.llm", {"cost_usd": 9, "attempt": 3}, "escalate",
                     "retry 3", id="retry-budget-beats-spend-cap"),
        pytest.param("analyst", "db.orders.read", {}, "allow", "analysts read",
                     id="glob-action"),
        pytest.param("intake", "db.customers.write", {}, "deny", "never touches",
                     id="deny-beats-needs-approval"),
        pytest.param("intake", "email.send", {}, "deny", "no rule lets intake email.send",
                     id="undeclared-action-denied"),
        pytest.param("stranger", "api.crm", {}, "deny", "'stranger' is not declared",
                     id="undeclared-agent-denied"),
        pytest.param("analyst", "api.llm", {"cost_usd": 2, "spent_today_usd": 499},
                     "needs_approval", "daily budget of $500.00", id="agent-daily-budget"),
    ],
)  # fmt: skip
def test_the_essay_rules(  # noqa: PLR0917 - one parameter per table column
    essay: Rights, agent: str, action: str, fields: dict[str, Any], effect: str, because: str
) -> None:
    verdict = essay.decide(agent, action, **fields)
    assert verdict.effect == effect
    assert because in verdict.reason


@pytest.mark.parametrize(
    ("effects", "winner"),
    [
        (["allow", "needs_approval"], "needs_approval"),
        (["needs_approval", "escalate"], "escalate"),
        (["escalate", "deny", "allow"], "deny"),
        (["allow", "allow"], "allow"),
    ],
)
def test_precedence(effects: list[str], winner: str) -> None:
    rules = [{"action": "x", "effect": e, "reason": f"rule {n}"} for n, e in enumerate(effects)]
    verdict = rights(*rules).decide("bot", "x")
    assert verdict.effect == winner
    assert verdict.reason == f"rule {effects.index(winner)}"  # the first of the strictest


def test_resource_patterns() -> None:
    r = rights({"action": "db.write", "resource": "db.customers*", "effect": "allow"})
    assert r.decide("bot", "db.write", resource="db.customers").allowed
    assert not r.decide("bot", "db.write", resource="db.orders").allowed
    assert not r.decide("bot", "db.write").allowed  # the rule names a resource


def test_defaults_of_conditions() -> None:
    r = rights({"action": "api", "effect": "allow", "spend": {"per_request_usd": 1},
                "retries": {"max_retries": 0}})  # fmt: skip
    assert r.decide("bot", "api", cost_usd=2).effect == "needs_approval"
    assert r.decide("bot", "api", attempt=1).effect == "escalate"
    assert r.decide("bot", "api").approval is not None


@pytest.mark.parametrize(
    ("cap_over", "budget_then", "effect", "because"),
    [
        pytest.param("needs_approval", "escalate", "escalate", "retry 3", id="budget-stricter"),
        pytest.param("deny", "escalate", "deny", "$9.00 is over", id="cap-stricter"),
        pytest.param("escalate", "escalate", "escalate", "$9.00 is over", id="equal-cap-first"),
    ],
)
def test_spend_cap_and_retry_budget_together(
    cap_over: str, budget_then: str, effect: str, because: str
) -> None:
    r = rights({"action": "api", "effect": "allow",
                "spend": {"per_request_usd": 5, "over": cap_over},
                "retries": {"max_retries": 2, "then": budget_then}})  # fmt: skip
    verdict = r.decide("bot", "api", cost_usd=9.0, attempt=3)
    assert verdict.effect == effect
    assert verdict.reason.startswith(because)


def test_each_attempt_past_the_budget_is_named() -> None:
    r = rights({"action": "api", "effect": "allow", "retries": {"max_retries": 2}})
    reasons = [r.decide("bot", "api", attempt=a).reason for a in (3, 4, 3)]
    assert reasons == [f"retry {a} is past the budget of 2 retries" for a in (3, 4, 3)]


def test_the_verdict_names_its_rule() -> None:
    verdict = rights({"agent": "b*", "action": "api.*", "effect": "allow"}).decide("bot", "api.x")
    assert verdict.rule == "b*:api.*@*"
    assert rights().decide("bot", "api.x").rule == ""


def test_a_thousand_rules_decide_like_one() -> None:
    noise = [{"agent": f"other-{n}", "action": f"act.{n}.*", "effect": "deny"} for n in range(999)]
    r = rights(*noise, {"action": "act.1.go", "effect": "allow"})
    assert r.decide("bot", "act.1.go").allowed
    assert r.decide("bot", "act.1.go").allowed  # from the cache
