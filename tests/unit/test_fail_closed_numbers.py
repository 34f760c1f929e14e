"""Decisions on numbers fail closed: a cost or an attempt that cannot be trusted (NaN,
infinite, negative, a bool, absurdly large) never passes a cap, a retry budget or the daily
budget, and a spend that was refused never counts. Through the real ``Recorder`` on the
embedded default, where the SDK's validation may refuse the number first
(``InvalidEventError``), and on ``Rights`` and ``Authorizer`` themselves, which must decide
right even when handed such a number."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from handrail.governance import Rights, Verdict, parse
from handrail.governance.rights import MAX_ATTEMPT, MAX_COST_USD, UNTRUSTED, _apply
from handrail.producers import InvalidEventError, Recorder
from handrail.producers.authorize import Authorizer
from handrail.settings import AgentIdentity, GovernanceSettings, Settings, SpoolSettings

CAPPED = """
mode: {mode}
agents:
  payer: {{owner: team-pay, daily_budget_usd: 10}}
rights:
  - action: api.charge
    effect: allow
    spend: {{per_request_usd: 5}}
    retries: {{max_retries: 2}}
  - action: api.refund
    effect: allow
"""
"""``api.charge`` has a $5 cap and a retry budget; ``api.refund`` only the daily budget."""

BAD_COSTS = [math.nan, math.inf, -math.inf, -1000.0, -0.01, MAX_COST_USD * 10]
BAD_ATTEMPTS = [-5, -1, MAX_ATTEMPT + 1]


def recorder(tmp_path: Path, mode: str = "enforce") -> Recorder:
    file = tmp_path / "governance.yaml"
    file.write_text(CAPPED.format(mode=mode))
    settings = Settings(
        spool=SpoolSettings(dir=tmp_path / "spool"), governance=GovernanceSettings(file=file)
    )
    return Recorder(settings, AgentIdentity(name="payer", owner="team-pay"))


def refused(call: Callable[[], Verdict]) -> bool:
    """Refused by validation before deciding, or decided not allowed."""
    try:
        return not call().allowed
    except InvalidEventError:
        return True


def rights() -> Rights:
    return Rights(parse(CAPPED.format(mode="enforce")))


# -- through the Recorder ------------------------------------------------------------------


@pytest.mark.parametrize("cost", BAD_COSTS, ids=repr)
@pytest.mark.parametrize("mode", ["enforce", "shadow"])
def test_authorize_refuses_a_cost_it_cannot_trust(tmp_path: Path, mode: str, cost: float) -> None:
    with recorder(tmp_path, mode) as rec:
        assert refused(lambda: rec.authorize("api.charge", cost_usd=cost))
        assert refused(lambda: rec.authorize("api.refund", cost_usd=cost))
        assert rec.authorize("api.charge", cost_usd=4.0).allowed  # a true cost still passes


@pytest.mark.parametrize("attempt", BAD_ATTEMPTS)
def test_authorize_refuses_an_attempt_it_cannot_trust(tmp_path: Path, attempt: int) -> None:
    with recorder(tmp_path) as rec:
        assert refused(lambda: rec.authorize("api.charge", attempt=attempt))
        assert rec.authorize("api.charge", attempt=2).allowed


@pytest.mark.parametrize("usd", [-1000.0, -math.inf, math.nan, math.inf], ids=repr)
def test_a_spend_it_cannot_trust_never_opens_the_daily_budget(tmp_path: Path, usd: float) -> None:
    """After ``spend(-1000)`` a $500 request passed a $10 budget; after ``spend(nan)`` a
    $5,000 one did."""
    with recorder(tmp_path) as rec:
        with contextlib.suppress(InvalidEventError):  # refused at the boundary, or not
            rec.spend(usd, "stripe", "charge")
        for cost in (500.0, 5_000.0, 10.5):
            verdict = rec.authorize("api.refund", cost_usd=cost)
            assert (verdict.effect, verdict.rule) == ("needs_approval", "agent:payer")


def test_a_spend_refused_by_validation_never_counts(tmp_path: Path) -> None:
    """The caused_by check came after the spend was counted: the call raised, the spend
    was never recorded, and yet it held the budget."""
    with recorder(tmp_path) as rec:
        with pytest.raises(InvalidEventError, match="caused_by"):
            rec.spend(8.0, "stripe", "charge", caused_by=123)  # type: ignore[arg-type]
        assert rec.authorize("api.refund", cost_usd=4.0).allowed
        rec.spend(8.0, "stripe", "charge")  # a recorded one does count
        assert not rec.authorize("api.refund", cost_usd=4.0).allowed


# -- Rights and Authorizer, handed a bad number ----------------------------------------------


@pytest.mark.parametrize("cost", [*BAD_COSTS, True, False, "1", None.__class__], ids=repr)
def test_rights_deny_a_cost_that_cannot_be_trusted(cost: object) -> None:
    for action in ("api.charge", "api.refund"):
        verdict = rights().decide("payer", action, cost_usd=cost)  # type: ignore[arg-type]
        assert (verdict.effect, verdict.rule) == ("deny", UNTRUSTED)
        assert verdict.reason.startswith("cost_usd ")
        assert "cannot be trusted" in verdict.reason


@pytest.mark.parametrize("attempt", [*BAD_ATTEMPTS, True, 1.0, math.nan], ids=repr)
def test_rights_deny_an_attempt_that_cannot_be_trusted(attempt: object) -> None:
    verdict = rights().decide("payer", "api.charge", attempt=attempt)  # type: ignore[arg-type]
    assert (verdict.effect, verdict.rule) == ("deny", UNTRUSTED)
    assert verdict.reason.startswith("attempt ")


def test_a_refused_number_is_shown_short_and_only_when_it_is_a_number() -> None:
    big = rights().decide("payer", "api.charge", attempt=10**5000).reason
    assert big.startswith("attempt (a int) is not a count")
    assert (
        rights()
        .decide("payer", "api.charge", cost_usd=math.nan)
        .reason.startswith("cost_usd nan is not an amount from $0 to $1,000,000,000,000")
    )


@pytest.mark.parametrize(
    ("spent", "why"),
    [
        pytest.param(-1000.0, "$500.00 today would pass", id="a-refund-never-lowers-it"),
        pytest.param(math.nan, "not a number counts as past", id="nan"),
        pytest.param(math.inf, "not a number counts as past", id="inf"),
    ],
)
def test_the_daily_budget_holds_whatever_was_spent(spent: float, why: str) -> None:
    verdict = rights().decide("payer", "api.refund", cost_usd=500.0, spent_today_usd=spent)
    assert (verdict.effect, verdict.rule) == ("needs_approval", "agent:payer")
    assert why in verdict.reason


def test_caps_and_retry_budgets_hold_a_nan_that_got_past_decide() -> None:
    compiled = rights()._rules_for("payer", "api.charge", "")[0]
    assert _apply(compiled, math.nan, None).effect == "needs_approval"
    assert _apply(compiled, None, 3).effect == "escalate"


@pytest.mark.parametrize("usd", [math.nan, math.inf, True, "5"], ids=repr)
def test_the_authorizer_takes_an_unreadable_spend_as_the_whole_budget(usd: object) -> None:
    authorizer = Authorizer(parse(CAPPED.format(mode="enforce")), "payer")
    authorizer.spent(usd)  # type: ignore[arg-type]
    verdict = authorizer.decide(("api.refund", None, 0.5, None))
    assert (verdict.effect, verdict.rule) == ("needs_approval", "agent:payer")


def test_the_authorizer_never_lets_a_refund_lower_the_day() -> None:
    authorizer = Authorizer(parse(CAPPED.format(mode="enforce")), "payer")
    authorizer.spent(8.0)
    authorizer.spent(-1000.0)
    authorizer.spent(-math.inf)
    assert authorizer.decide(("api.refund", None, 1.0, None)).allowed
    assert not authorizer.decide(("api.refund", None, 3.0, None)).allowed


def test_shadow_mode_never_passes_a_number_it_cannot_trust() -> None:
    authorizer = Authorizer(parse(CAPPED.format(mode="shadow")), "payer")
    assert authorizer.decide(("api.refund", None, 500.0, None)).allowed  # shadowed
    untrusted = authorizer.decide(("api.refund", None, math.nan, None))
    assert (untrusted.rule, untrusted.allowed) == (UNTRUSTED, False)
