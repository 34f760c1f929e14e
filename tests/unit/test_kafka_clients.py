"""``kafka.client_options`` become each client's options in one place: what some client
would not honour is refused when the settings load, naming the option and never a secret;
kafka-python, aiokafka and Faust get the same security options and one TLS context."""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from handrail.kafka_clients import (
    KafkaClientError,
    aiokafka_options,
    faust_options,
    kafka_python_options,
)
from handrail.settings import KafkaSettings, Settings
from tests.support.tls import make_broker_tls

SECRET = "kafka-secret-XYZZY"
SCRAM = {
    "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "handrail", "sasl_plain_password": SECRET,
}  # fmt: skip

REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "an option not every client has": (
        {**SCRAM, "sasl_oauth_token_provider": SECRET},
        "'sasl_oauth_token_provider': not supported",
    ),
    "a live TLS context": ({**SCRAM, "ssl_context": SECRET}, "'ssl_context': not supported"),
    "an unknown protocol": ({"security_protocol": "SASL_TLS"}, "security_protocol must be"),
    "SASL options without a SASL protocol": (
        {**SCRAM, "security_protocol": "SSL"},
        "ignored under security_protocol SSL",
    ),
    "SASL options with no protocol at all": (
        {"sasl_plain_username": "u", "sasl_plain_password": SECRET},
        "ignored under",
    ),
    "TLS options without TLS": (
        {**SCRAM, "security_protocol": "SASL_PLAINTEXT", "ssl_cafile": "/ca.pem"},
        "ssl_cafile: ignored under security_protocol SASL_PLAINTEXT",
    ),
    "SASL without a user": (
        {k: v for k, v in SCRAM.items() if k != "sasl_plain_username"},
        "needs sasl_plain_username",
    ),
    "a mechanism not mapped": ({**SCRAM, "sasl_mechanism": "GSSAPI"}, "sasl_mechanism must be"),
    "PLAIN's password in clear": (
        {**SCRAM, "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"},
        "sends the password in clear",
    ),
    "a password that is no string": (
        {**SCRAM, "sasl_plain_password": [SECRET]},
        "sasl_plain_password must be",
    ),
    "an empty user": ({**SCRAM, "sasl_plain_username": ""}, "sasl_plain_username must be"),
    "a key without its certificate": (
        {**SCRAM, "ssl_keyfile": "/k.pem", "ssl_password": SECRET},
        "ssl_keyfile needs",
    ),
    "a hostname check that is no boolean": (
        {**SCRAM, "ssl_check_hostname": "no"},
        "ssl_check_hostname must be",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_settings_refuse_what_some_client_would_not_honour(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options, reason = REFUSED[case]
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("HANDRAIL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HANDRAIL_KAFKA__CLIENT_OPTIONS", json.dumps(options))
    with pytest.raises(ValidationError) as caught:
        Settings()
    text = f"{caught.value}\n{caught.value!r}"
    assert "kafka.client_options" in text, text
    assert reason in text, text
    assert SECRET not in text, text


def test_every_client_gets_the_same_credentials_and_tls(tmp_path: Path) -> None:
    tls = make_broker_tls(tmp_path)
    kafka = KafkaSettings(
        bootstrap_servers="127.0.0.1:9093, localhost:9094",
        client_options={**SCRAM, "ssl_cafile": str(tls.ca_file), "request_timeout_ms": 5000},
    )
    python = kafka_python_options(kafka)
    assert python["request_timeout_ms"] == 5000  # an extra: kafka-python's only
    assert "ssl_cafile" not in python  # made into the one TLS context
    aio = aiokafka_options(kafka)
    assert "request_timeout_ms" not in aio
    for options in (python, aio):
        assert {k: options[k] for k in SCRAM} == SCRAM
        context = options["ssl_context"]
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
        assert context.get_ca_certs()[0]["subject"] == ((("commonName", "handrail test CA"),),)
    app = faust_options(kafka)
    assert app["broker"] == ["kafka://127.0.0.1:9093", "kafka://localhost:9094"]
    credentials = app["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("handrail", SECRET)
    assert credentials.ssl_context is not None
    assert SECRET not in repr(credentials)


def test_scram_without_tls_and_tls_without_sasl_map_alike() -> None:
    scram = {**SCRAM, "security_protocol": "SASL_PLAINTEXT"}
    kafka = KafkaSettings(bootstrap_servers="k:9092", client_options=scram)
    assert aiokafka_options(kafka) == scram
    credentials = faust_options(kafka)["broker_credentials"]
    assert credentials.protocol.value == "SASL_PLAINTEXT"
    assert credentials.ssl_context is None
    tls = KafkaSettings(
        bootstrap_servers="k:9092",
        client_options={"security_protocol": "SSL", "ssl_check_hostname": False},
    )
    context = aiokafka_options(tls)["ssl_context"]
    assert not context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert isinstance(faust_options(tls)["broker_credentials"], faust.SSLCredentials)
    plain = KafkaSettings(bootstrap_servers="k:9092")
    assert kafka_python_options(plain) == {}
    assert aiokafka_options(plain) == {"security_protocol": "PLAINTEXT"}
    assert "broker_credentials" not in faust_options(plain)


def test_tls_files_that_cannot_be_used_are_named_without_the_key_password(
    tmp_path: Path,
) -> None:
    tls = make_broker_tls(tmp_path)
    missing = KafkaSettings(
        bootstrap_servers="k:9092",
        client_options={**SCRAM, "ssl_cafile": str(tmp_path / "nowhere.pem")},
    )
    with pytest.raises(KafkaClientError, match=r"ssl_cafile .*nowhere\.pem: No such file"):
        aiokafka_options(missing)
    key_and_chain = tls.keystore.read_bytes().split(b"-----BEGIN CERTIFICATE-----", 1)
    key = serialization.load_pem_private_key(key_and_chain[0], None)
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"right-password"),
        )
        + b"-----BEGIN CERTIFICATE-----" + key_and_chain[1]
    )  # fmt: skip
    wrong = KafkaSettings(
        bootstrap_servers="k:9092",
        client_options={**SCRAM, "ssl_certfile": str(locked), "ssl_password": SECRET},
    )
    with pytest.raises(KafkaClientError, match=r"ssl_certfile .*locked\.pem") as caught:
        faust_options(wrong)
    assert SECRET not in str(caught.value)
