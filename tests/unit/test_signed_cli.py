"""The signing CLI on the embedded default (the control log): ``handrail keys new`` and
``handrail resume`` signed by a resumer's key, naming the halt it lifts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from handrail.cli.app import app
from handrail.control.follower import read_control
from handrail.control.log import ControlLog
from handrail.control.state import ControlState
from handrail.governance.signing import KEY_ENV, load_private_key, parse_public_key
from handrail.schemas import encode
from handrail.settings import Settings
from tests.support.samples import event_record
from tests.support.signers import authority, governance_yaml, halt_fields, key_file

runner = CliRunner()


def test_keys_new_writes_a_private_key_only_its_owner_reads_and_prints_the_public_line(
    tmp_path: Path,
) -> None:
    out = tmp_path / "carol.key"
    made = runner.invoke(app, ["keys", "new", "carol", "--out", str(out)])
    assert made.exit_code == 0, made.output
    line = made.stdout.strip().splitlines()[-1]
    assert line.startswith("ssh-ed25519 ")
    assert line.endswith(" carol")
    assert out.stat().st_mode & 0o777 == 0o600
    assert parse_public_key(line) == load_private_key(out).verify_key
    again = runner.invoke(app, ["keys", "new", "carol", "--out", str(out)])
    assert again.exit_code == 2
    assert "never overwritten" in again.output


@pytest.fixture
def channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    governance = tmp_path / "governance.yaml"
    governance.write_text(governance_yaml())
    for name, value in {
        "HANDRAIL_GOVERNANCE__FILE": str(governance),
        "HANDRAIL_SPOOL__DIR": str(tmp_path / "spool"),
        "HANDRAIL_SPOOL__CONTROL_LOG": str(tmp_path / "control.log"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(KEY_ENV, raising=False)
    return Settings()


def halt(settings: Settings) -> str:
    """A processor's signed halt of payer's op-1 on the control log; its event id."""
    record = event_record("halt", agent="handrail-processors", **halt_fields("payer", "op-1"))
    ControlLog(settings.spool.control_log).append([encode(record)])
    return str(record["event_id"])


def state(settings: Settings) -> ControlState:
    return read_control(settings, authority())


def resume(tmp_path: Path, who: str, *extra: str) -> tuple[int, str]:
    args = ["resume", "payer", "--operation", "op-1", "--reason", "card fixed"]
    result = runner.invoke(app, [*args, "--key", str(key_file(tmp_path, who)), *extra])
    return result.exit_code, result.output


def test_a_resume_is_signed_by_a_resumer_and_lifts_only_the_halt_it_names(
    channel: Settings, tmp_path: Path
) -> None:
    assert resume(tmp_path, "alice") == (2, "operation op-1 of payer is not halted\n")
    halt(channel)
    code, output = resume(tmp_path, "bob")
    assert code == 2
    assert "bob may not lift halts of payer" in output
    code, output = resume(tmp_path, "mallory", "--by", "alice")
    assert code == 2
    assert "--by alice does not match the key, which is mallory's" in output
    assert state(channel).halt("payer", "op-1") is not None

    code, output = resume(tmp_path, "alice")
    assert code == 0, output
    lifted = state(channel)
    assert lifted.halt("payer", "op-1") is None
    assert not lifted.forged
    assert lifted.in_force(("payer", "op-1")) is None

    halt(channel)  # raised again after the resume: in force until lifted again
    assert state(channel).halt("payer", "op-1") is not None


def test_the_key_may_come_from_the_environment_and_a_readable_key_file_is_refused(
    channel: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    halt(channel)
    path = key_file(tmp_path, "alice")
    path.chmod(0o644)
    code, output = resume(tmp_path, "alice")
    assert code == 2
    assert "can be read by others" in output
    monkeypatch.setenv(KEY_ENV, path.read_text())
    args = ["resume", "payer", "--operation", "op-1", "--reason", "card fixed"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert state(channel).halt("payer", "op-1") is None


def test_a_decision_without_the_governance_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HANDRAIL_GOVERNANCE__FILE", raising=False)
    monkeypatch.setenv("HANDRAIL_SPOOL__CONTROL_LOG", str(tmp_path / "control.log"))
    args = ["approvals", "approve", "ap-1", "--reason", "ok"]
    result = runner.invoke(app, [*args, "--key", str(key_file(tmp_path, "alice"))])
    assert result.exit_code == 2
    assert "the governance file says who may decide" in result.output
