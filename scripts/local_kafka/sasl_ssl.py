"""The secured broker's settings: one SASL_SSL client listener with SCRAM, no plaintext one.

Its users are made when the storage is formatted (``--add-scram``), its key and certificate
chain come from one PEM file (``ssl.keystore.type=PEM``, no keytool).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_kafka.errors import BrokerError


@dataclass(frozen=True)
class SaslSsl:
    """The secured variant: clients reach the broker only over SASL_SSL with SCRAM.

    ``keystore`` is a PEM file holding the broker's unencrypted PKCS#8 private key and its
    certificate chain; ``ca_file`` the CA that signed it (the broker trusts it too, for its
    own inter-broker connection). ``users`` are the SCRAM users, name to password; the
    first one is the broker's own."""

    keystore: Path
    ca_file: Path
    users: Mapping[str, str] = field(repr=False)
    mechanism: str = "SCRAM-SHA-512"

    def __post_init__(self) -> None:
        if self.mechanism not in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            raise BrokerError(f"SCRAM-SHA-256 or SCRAM-SHA-512, not {self.mechanism!r}")
        if not self.users:
            raise BrokerError("a SASL_SSL broker needs at least one SCRAM user")
        for name, password in self.users.items():
            # Both go into a JAAS line and the storage tool's [name=...,password=...].
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name + password):
                raise BrokerError(f"SCRAM user {name!r}: letters, digits, '_', '.', '-' only")

    def client_config(self, user: str | None = None) -> dict[str, Any]:
        """kafka-python options for ``user`` (default: the broker's own)."""
        name = user or next(iter(self.users))
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": name,
            "sasl_plain_password": self.users[name],
            "ssl_cafile": str(self.ca_file),
        }

    def server_properties(self) -> dict[str, str]:
        admin, password = next(iter(self.users.items()))
        jaas = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{admin}" password="{password}";'
        )
        return {
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": self.mechanism,
            "sasl.mechanism.inter.broker.protocol": self.mechanism,
            f"listener.name.sasl_ssl.{self.mechanism.lower()}.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            "ssl.client.auth": "none",
        }

    def format_arguments(self) -> list[str]:
        """The storage tool's ``--add-scram`` arguments: KRaft keeps SCRAM users in its
        metadata log, so they exist before the broker serves its first request."""
        out: list[str] = []
        for name, password in self.users.items():
            out += ["--add-scram", f"{self.mechanism}=[name={name},password={password}]"]
        return out
