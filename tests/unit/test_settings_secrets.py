"""Secrets stay secret: an invalid setting never prints a secret given beside it, a secret
setting is a secret type, and no repr shows one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from handrail.config.alerts import RouterSettings
from handrail.processors.router.channels import build_channels
from handrail.settings import KafkaSettings, LedgerSettings, Settings
from tests.support.tls import make_broker_tls

SLACK = "https://hooks.slack.com/services/T000/B000/slack-secret-XYZZY"
SASL = "sasl-secret-PLUGH"
ROUTING_KEY = "pagerduty-secret-FROTZ"
SIGNING = "webhook-secret-GNUSTO"
SECRETS = (SLACK, "slack-secret-XYZZY", SASL, ROUTING_KEY, SIGNING)

CHANNELS = {
    "ops": {"type": "slack", "webhook_url": SLACK},
    "pd": {"type": "pagerduty", "routing_key": ROUTING_KEY},
    "hook": {"type": "webhook", "url": "https://example.com/h", "secret": SIGNING},
}

INVALID = {
    # a model-level error: pydantic's text would repeat the whole section, secrets included
    "unknown channel": {
        "HANDRAIL_ALERTS__CHANNELS": json.dumps(CHANNELS),
        "HANDRAIL_ALERTS__DEFAULT": '["missing"]',
    },
    "slack URL not http": {
        "HANDRAIL_ALERTS__CHANNELS": json.dumps(
            {"ops": {"type": "slack", "webhook_url": "ftp" + SLACK.removeprefix("https")}}
        )
    },
    "routing key not a string": {
        "HANDRAIL_ALERTS__CHANNELS": json.dumps(
            {"pd": {"type": "pagerduty", "routing_key": [ROUTING_KEY]}}
        )
    },
    "webhook without url": {
        "HANDRAIL_ALERTS__CHANNELS": json.dumps({"hook": {"type": "webhook", "secret": SIGNING}})
    },
    "client options not a map": {
        "HANDRAIL_KAFKA__CLIENT_OPTIONS": json.dumps(["sasl_plain_password", SASL])
    },
    "kafka section invalid": {
        "HANDRAIL_KAFKA": json.dumps(
            {"bootstrap_servers": ["x"], "client_options": {"sasl_plain_password": SASL}}
        )
    },
}


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDRAIL_")}
    env["HANDRAIL_SPOOL__DIR"] = str(tmp_path / "spool")
    return env


@pytest.mark.parametrize("case", list(INVALID))
def test_the_cli_names_an_invalid_setting_without_printing_secrets(
    case: str, tmp_path: Path
) -> None:
    env = {**_clean_env(tmp_path), **INVALID[case]}
    handrail = Path(sys.executable).parent / "handrail"
    done = subprocess.run(
        [str(handrail), "spool", "ls"], env=env, cwd=tmp_path, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "invalid settings" in out, out
    assert "Traceback" not in out, out
    leaked = [s for s in SECRETS if s in out]
    assert not leaked, out


@pytest.mark.parametrize("case", list(INVALID))
def test_settings_errors_do_not_repeat_secrets(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("HANDRAIL_")]:
        monkeypatch.delenv(name)
    for name, value in INVALID[case].items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    text = f"{caught.value}\n{caught.value!r}"  # (``errors()`` holds the input, as data)
    assert not [s for s in SECRETS if s in text], text


def test_router_settings_alone_do_not_repeat_secrets() -> None:
    with pytest.raises(ValidationError) as caught:
        RouterSettings.model_validate({"channels": CHANNELS, "default": ["missing"]})
    assert not [s for s in SECRETS if s in str(caught.value)]


def test_kafka_passwords_are_secret_types_revealed_only_to_the_client(tmp_path: Path) -> None:
    tls = make_broker_tls(tmp_path)  # a real key and certificate: the client loads them
    kafka = KafkaSettings(
        bootstrap_servers="k:9092",
        client_options={"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256",
                        "sasl_plain_username": "u", "sasl_plain_password": SASL,
                        "ssl_certfile": str(tls.keystore), "ssl_password": SASL,
                        "oauth_token": SASL},
    )  # fmt: skip
    for name in ("sasl_plain_password", "ssl_password", "oauth_token"):
        assert isinstance(kafka.client_options[name], SecretStr)
    for name in ("sasl_plain_password", "oauth_token"):  # ssl_password unlocked the key
        assert kafka.client_config[name] == SASL
    assert kafka.client_config["security_protocol"] == "SASL_SSL"
    ledger = LedgerSettings(dsn=f"https://reader:{SASL}@ch.example.com:8443/db")
    settings = Settings(kafka=kafka, ledger=ledger)
    shown = f"{settings!r} {settings} {settings.model_dump()['kafka']} {kafka.model_dump_json()}"
    assert SASL not in shown


def test_channels_and_their_targets_do_not_show_secrets() -> None:
    router = RouterSettings.model_validate({"channels": CHANNELS, "default": ["ops"]})
    channels = build_channels(router.channels, poster=None, console=None)  # type: ignore[arg-type]
    shown = f"{router!r} {router.model_dump_json()} " + " ".join(
        f"{c.target} {vars(c)!r}" for c in channels.values()
    )
    assert not [s for s in SECRETS if s in shown], shown
