"""``Recorder.authorize``: the governance file's verdict, recorded as a policy_verdict
event; shadow mode never blocks; spend counts against the daily budget; an invalid file
stops the SDK from starting."""

from __future__ import annotations

import time
from pathlib import Path
from typing import get_type_hints

import pytest

from handrail.governance import GovernanceError, Verdict
from handrail.producers import InvalidEventError, Recorder, authorize
from handrail.producers.checks import verdict_fields
from handrail.producers.spool import read_all
from handrail.schemas.fields import PAYLOAD_FIELDS
from handrail.settings import AgentIdentity, GovernanceSettings, Settings, SpoolSettings

RULES = """
mode: {mode}
agents:
  payer: {{owner: team-pay, daily_budget_usd: 10}}
rights:
  - action: api.charge
    effect: allow
    reason: charges within budget
    spend: {{per_request_usd: 5}}
    retries: {{max_retries: 2}}
"""


def recorder(tmp_path: Path, mode: str = "enforce", text: str | None = None) -> Recorder:
    file = tmp_path / "governance.yaml"
    file.write_text(text if text is not None else RULES.format(mode=mode))
    settings = Settings(
        spool=SpoolSettings(dir=tmp_path / "spool"), governance=GovernanceSettings(file=file)
    )
    return Recorder(settings, AgentIdentity(name="payer", owner="team-pay"))


def verdicts(tmp_path: Path) -> list[dict[str, object]]:
    return [r["payload"][1] for r in read_all(tmp_path / "spool")
            if r["payload"][0].endswith("PolicyVerdict")]  # fmt: skip


def test_each_verdict_is_returned_and_recorded(tmp_path: Path) -> None:
    with recorder(tmp_path) as rec:
        ok = rec.authorize("api.charge", cost_usd=2.0)
        dear = rec.authorize("api.charge", cost_usd=7.5)
        storm = rec.authorize("api.charge", attempt=3)
        unknown = rec.authorize("db.drop")
    assert [v.effect for v in (ok, dear, storm, unknown)] == [
        "allow", "needs_approval", "escalate", "deny",
    ]  # fmt: skip
    assert [ok.allowed, dear.allowed, storm.allowed, unknown.allowed] == [True, False, False, False]
    recorded = verdicts(tmp_path)
    assert [(v["action"], v["effect"], v["mode"]) for v in recorded] == [
        ("api.charge", "allow", "enforce"),
        ("api.charge", "needs_approval", "enforce"),
        ("api.charge", "escalate", "enforce"),
        ("db.drop", "deny", "enforce"),
    ]
    assert recorded[1]["rule"] == "*:api.charge@*"
    assert recorded[1]["reason"] == "$7.50 is over the $5.00 per-request cap"
    assert (recorded[1]["cost_usd"], recorded[2]["attempt"]) == (7.5, 3)


def test_arguments_of_other_types_are_converted_or_named(tmp_path: Path) -> None:
    with recorder(tmp_path) as rec:
        dear = rec.authorize("api.charge", cost_usd=7, attempt=1)  # an int for a float
        with pytest.raises(InvalidEventError, match=r"invalid policy_verdict event: action"):
            rec.authorize(123)  # type: ignore[arg-type]
        with pytest.raises(InvalidEventError, match=r"attempt"):
            rec.authorize("api.charge", attempt="third")  # type: ignore[arg-type]
    assert dear.effect == "needs_approval"
    ((recorded),) = verdicts(tmp_path)  # nothing for the calls that raised
    assert (recorded["cost_usd"], type(recorded["cost_usd"]), recorded["attempt"]) == (
        7.0,
        float,
        1,
    )


def test_the_verdict_event_has_every_field_of_its_schema() -> None:
    fields = verdict_fields(("a", None, None, None), Verdict("allow", "r", "why"), "enforce")
    assert fields[0] == "policy_verdict"
    assert set(fields[1]) == set(get_type_hints(PAYLOAD_FIELDS["policy_verdict"]))


def test_shadow_mode_records_the_verdict_and_never_blocks(tmp_path: Path) -> None:
    with recorder(tmp_path, mode="shadow") as rec:
        verdict = rec.authorize("db.drop")
    assert (verdict.effect, verdict.allowed) == ("deny", True)
    assert [(v["effect"], v["mode"]) for v in verdicts(tmp_path)] == [("deny", "shadow")]


def test_spend_counts_against_the_daily_budget(tmp_path: Path) -> None:
    with recorder(tmp_path) as rec:
        assert rec.authorize("api.charge", cost_usd=4.0).allowed
        rec.spend(4.0, "stripe", "charge")
        rec.spend(4.0, "stripe", "charge")
        over = rec.authorize("api.charge", cost_usd=4.0)
    assert over.effect == "needs_approval"
    assert "$12.00 today would pass payer's daily budget of $10.00" in over.reason


def test_the_daily_budget_starts_afresh_on_the_next_utc_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    with recorder(tmp_path) as rec:
        rec.spend(8.0, "stripe", "charge")
        assert not rec.authorize("api.charge", cost_usd=4.0).allowed
        monkeypatch.setattr(authorize.time, "time", lambda: now + 86_400)
        assert rec.authorize("api.charge", cost_usd=4.0).allowed


def test_an_invalid_file_stops_the_sdk_from_starting(tmp_path: Path) -> None:
    bad = RULES.format(mode="enforce").replace("effect: allow", "effect: sometimes")
    with pytest.raises(GovernanceError, match=r"governance.yaml:7: rights.0.effect"):
        recorder(tmp_path, text=bad)


def test_authorize_without_a_governance_file_says_what_to_set(tmp_path: Path) -> None:
    settings = Settings(spool=SpoolSettings(dir=tmp_path / "spool"))
    with (
        Recorder(settings, AgentIdentity(name="payer", owner="t")) as rec,
        pytest.raises(GovernanceError, match="HANDRAIL_GOVERNANCE__FILE"),
    ):
        rec.authorize("api.charge")
