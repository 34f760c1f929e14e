"""docker-compose.yml cannot run here; check it is valid and wires what the code reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from handrail.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_and_images() -> None:
    services = compose()["services"]
    assert {"kafka", "clickhouse", "sink"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert "9092:9092" in services["kafka"]["ports"]
    assert "8123:8123" in services["clickhouse"]["ports"]
    assert services["sink"]["command"] == ["sink", "run"]
    assert (ROOT / services["sink"]["build"] / "Dockerfile").exists()


def test_every_handrail_variable_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    env = compose()["services"]["sink"]["environment"]
    kafka = compose()["services"]["kafka"]["environment"]
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    for name, value in env.items():
        node: Any = settings
        for part in name.removeprefix("HANDRAIL_").lower().split("__"):
            node = getattr(node, part)
        assert str(node) == str(value), name
    internal = [x for x in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",") if "INTERNAL" in x]
    assert internal[0].split("//")[1] == settings.kafka.bootstrap_servers
