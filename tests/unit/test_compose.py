"""docker-compose.yml cannot run here; check it is valid and wires what the code reads:
every HANDRAIL_* variable is a real setting that parses, every command is a real
``handrail`` command, the addresses agree, the start order holds, the workers can scale,
and the Dockerfile copies every folder the package is built from."""

from __future__ import annotations

import base64
import os
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from pydantic import BaseModel
from typer.core import TyperGroup
from typer.testing import CliRunner

from handrail.cli.app import app
from handrail.cli.lazy import LazyCommand
from handrail.control.topics import halts_topic
from handrail.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ONE_SHOT = {"topics", "migrate"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


def ours() -> list[str]:
    """The services built from our Dockerfile (their entrypoint is ``handrail``)."""
    return sorted(name for name, spec in services().items() if "build" in spec)


def handrail_env(service: str) -> dict[str, Any]:
    env = services()[service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment as a mapping, please"
    return {k: v for k, v in env.items() if k.startswith("HANDRAIL_")}


def setting_path(name: str) -> list[str]:
    """The field path a HANDRAIL_ variable sets; fails if any part is not a real field
    (the settings ignore unknown variables, so a typo would otherwise pass silently)."""
    parts = name.removeprefix("HANDRAIL_").lower().split("__")
    model: type[BaseModel] | None = Settings
    for depth, part in enumerate(parts):
        assert model is not None, f"{name}: {'.'.join(parts[:depth])} has no sub-fields"
        assert part in model.model_fields, f"{name}: {model.__name__} has no field {part!r}"
        annotation = model.model_fields[part].annotation
        model = next(
            (
                a
                for a in (annotation, *get_args(annotation))
                if isinstance(a, type) and issubclass(a, BaseModel)
            ),
            None,
        )
    return parts


def settings_of(service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings() as the service's container builds it (no .env or handrail.toml there)."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("HANDRAIL_")]:
        monkeypatch.delenv(name)
    for name, value in handrail_env(service).items():
        if value is not None:
            monkeypatch.setenv(name, str(value))
    return Settings()


def mounts(service: str) -> dict[str, str]:
    """Container path -> volume name, for ``volume:/path`` entries."""
    found = {}
    for entry in services()[service].get("volumes", []):
        source, target = entry.split(":")[:2]
        found[target] = source
    return found


# -- services, images, ports ---------------------------------------------------------------


def test_services_and_images() -> None:
    s = services()
    assert {
        "kafka",
        "clickhouse",
        "topics",
        "migrate",
        "sink",
        "processors",
        "otlp",
        "demo",
    } <= set(s)
    assert s["kafka"]["image"].startswith("apache/kafka:4.")
    assert s["topics"]["image"] == s["kafka"]["image"]
    assert s["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert s["kafka"]["ports"] == ["127.0.0.1:9092:9092"]
    assert s["clickhouse"]["ports"] == ["127.0.0.1:8123:8123"]
    assert ours() == ["console", "demo", "migrate", "otlp", "processors", "sink"]
    assert s["otlp"]["ports"] == ["127.0.0.1:4318:4318"]
    assert s["console"]["ports"] == ["127.0.0.1:8340:8340"]
    for name in ours():
        assert (ROOT / s[name]["build"] / "Dockerfile").exists(), name
    assert s["demo"]["profiles"] == ["demo"]
    assert s["console"]["profiles"] == ["console"]  # it needs the user's governance file
    assert all("profiles" not in s[name] for name in s if name not in ("demo", "console"))


def test_named_volumes_are_declared() -> None:
    declared = set(compose().get("volumes") or {})
    used = {source for name in services() for source in mounts(name).values()}
    assert {source for source in used if not source.startswith("./")} <= declared
    assert used - declared == {"./governance.yaml"}  # the console's, the user's file
    assert mounts("kafka")["/var/lib/kafka/data"] == "kafka"
    assert services()["kafka"]["environment"]["KAFKA_LOG_DIRS"] in mounts("kafka")
    assert mounts("clickhouse")["/var/lib/clickhouse"] == "clickhouse"


# -- HANDRAIL_* variables --------------------------------------------------------------------


@pytest.mark.parametrize("service", ours())
def test_every_handrail_variable_is_a_setting(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = handrail_env(service)
    assert "HANDRAIL_KAFKA__BOOTSTRAP_SERVERS" in env
    assert "HANDRAIL_LEDGER__DSN" in env
    settings = settings_of(service, monkeypatch, tmp_path)
    for name, value in env.items():
        parts = setting_path(name)
        if value is None:  # passed through from the shell that runs compose
            continue
        node: Any = settings
        for part in parts:
            node = getattr(node, part)
        assert str(node) == str(value), name


def test_the_same_wiring_everywhere() -> None:
    envs = {name: handrail_env(name) for name in ours()}
    first = envs["sink"]
    for name, env in envs.items():
        shared = {k: v for k, v in env.items() if v is not None}
        if name == "console":  # who signs in: the governance file, besides the wiring
            assert shared.pop("HANDRAIL_GOVERNANCE__FILE") == "/config/governance.yaml"
        assert shared == first, f"{name} differs from sink"


def test_paths_are_on_a_volume(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for service in ours():
        settings = settings_of(service, monkeypatch, tmp_path)
        targets = [Path(t) for t in mounts(service)]
        for path in (settings.spool.dir, settings.ledger.checkpoint_dir):
            assert any(path.is_relative_to(t) for t in targets), f"{service}: {path}"


def test_router_settings_are_passed_through() -> None:
    env = handrail_env("processors")
    for name in (
        "HANDRAIL_ALERTS__CHANNELS",
        "HANDRAIL_ALERTS__ROUTES",
        "HANDRAIL_ALERTS__DEFAULT",
    ):
        assert name in env, name
        assert env[name] is None, name
        setting_path(name)


def test_the_documented_alert_settings_parse(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    doc = (ROOT / "docs" / "compose.md").read_text()
    exports = re.findall(r"^export (HANDRAIL_ALERTS__\w+)=(.+)$", doc, re.MULTILINE)
    passed = {n for n in handrail_env("processors") if n.startswith("HANDRAIL_ALERTS__")}
    assert {name for name, _ in exports} == passed
    settings_of("processors", monkeypatch, tmp_path)
    for name, value in exports:
        setting_path(name)
        monkeypatch.setenv(name, shlex.split(value)[0])
    alerts = Settings().alerts
    assert alerts.channels["ops"].type == "slack"
    assert alerts.routes[0].channels == ["ops"]


# -- addresses ---------------------------------------------------------------------------


def listeners(value: str) -> dict[str, str]:
    """``NAME://host:port,...`` -> {NAME: host:port}."""
    return dict(item.split("://") for item in value.split(","))


def test_internal_kafka_listener_is_the_bootstrap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kafka = services()["kafka"]["environment"]
    bootstrap = settings_of("sink", monkeypatch, tmp_path).kafka.bootstrap_servers
    assert bootstrap is not None
    internal = kafka["KAFKA_INTER_BROKER_LISTENER_NAME"]
    advertised = listeners(kafka["KAFKA_ADVERTISED_LISTENERS"])
    assert advertised[internal] == bootstrap
    host, port = bootstrap.split(":")
    assert host == "kafka"
    assert listeners(kafka["KAFKA_LISTENERS"])[internal] == f":{port}"
    protocols = dict(p.split(":") for p in kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert protocols[internal] == "PLAINTEXT"  # the settings carry no security options
    # the host's listener is what the published port reaches
    assert advertised["HOST"] == "127.0.0.1:9092"
    assert listeners(kafka["KAFKA_LISTENERS"])["HOST"] == ":9092"
    # the controller quorum is this node on the controller listener
    controller = kafka["KAFKA_CONTROLLER_LISTENER_NAMES"]
    voter = kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert (
        voter == f"{kafka['KAFKA_NODE_ID']}@kafka{listeners(kafka['KAFKA_LISTENERS'])[controller]}"
    )
    assert len(base64.urlsafe_b64decode(kafka["CLUSTER_ID"] + "==")) == 16
    # the health check and the topics job talk to the same listener
    assert bootstrap in " ".join(services()["kafka"]["healthcheck"]["test"])
    assert services()["topics"]["environment"]["BOOTSTRAP"] == bootstrap


def test_clickhouse_dsn_matches_the_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    server = services()["clickhouse"]
    dsn = urlsplit(settings_of("sink", monkeypatch, tmp_path).ledger.dsn)
    assert dsn.scheme == "http"
    assert dsn.hostname == "clickhouse"
    assert dsn.username == server["environment"]["CLICKHOUSE_USER"]
    assert dsn.password == server["environment"]["CLICKHOUSE_PASSWORD"]
    container_ports = {int(p.rsplit(":", 1)[1]) for p in server["ports"]}
    assert dsn.port in container_ports
    assert f":{dsn.port}/" in " ".join(server["healthcheck"]["test"])
    assert dsn.path == "/default"


def test_topics_are_the_ones_the_settings_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    topics = services()["topics"]
    env = topics["environment"]
    settings = settings_of("processors", monkeypatch, tmp_path)
    assert env["EVENTS_TOPIC"] == settings.kafka.events_topic
    assert env["ALERTS_TOPIC"] == settings.processors.alerts_topic
    assert env["CONTROL_TOPIC"] == settings.processors.control_topic
    assert env["DEAD_LETTER_TOPIC"] == settings.processors.dead_letter_topic
    assert env["PARTITIONS"] == settings.processors.partitions
    assert services()["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"] == env["PARTITIONS"]
    script = topics["command"][-1]
    assert topics["command"][:2] == ["sh", "-c"]
    for name in ("EVENTS_TOPIC", "ALERTS_TOPIC", "CONTROL_TOPIC", "DEAD_LETTER_TOPIC"):
        assert f'"$${name}"' in script, name  # $$: compose leaves one $ for the shell
    for part in ('--bootstrap-server "$$BOOTSTRAP"', '--partitions "$$PARTITIONS"', "--create",
                 "--if-not-exists", "|| exit 1"):  # fmt: skip
        assert part in script, part
    # the halts topic (control_topics.halts_topic), kept forever as the worker declares it
    assert halts_topic("$$CONTROL_TOPIC") == "$$CONTROL_TOPIC.halts"
    halts = script[script.index('"$$CONTROL_TOPIC.halts"') :]
    assert "--config retention.ms=-1 --config retention.bytes=-1" in " ".join(halts.split())


# -- commands ----------------------------------------------------------------------------


@pytest.mark.parametrize("service", ours())
def test_command_is_a_handrail_command(service: str) -> None:
    command = services()[service]["command"]
    assert isinstance(command, list), service
    assert command, service
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    node: Any = typer.main.get_command(app)  # Typer's own (vendored) click classes
    for word in [w for w in command if not w.startswith("-")]:
        assert isinstance(node, TyperGroup), f"{service}: {word!r} under a leaf command"
        node = node.get_command(typer.Context(node), word)  # a lazy one as it runs
        assert node is not None, f"{service}: no command {word!r}"
        node = node.load() if isinstance(node, LazyCommand) else node
    assert not isinstance(node, TyperGroup), f"{service}: {command} is a group, not a command"


def test_expected_commands() -> None:
    s = services()
    assert s["migrate"]["command"] == ["ledger", "migrate"]
    assert s["sink"]["command"] == ["sink", "run"]
    assert s["processors"]["command"] == ["processors", "run"]
    assert s["demo"]["command"] == ["demo"]


# -- start order and scaling -------------------------------------------------------------


def test_depends_on_names_real_services_with_their_conditions() -> None:
    s = services()
    for name, spec in s.items():
        for target, dependency in (spec.get("depends_on") or {}).items():
            assert target in s, f"{name} depends on unknown {target}"
            condition = dependency["condition"]
            assert condition in CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in s[target], f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                assert s[target].get("restart", "no") == "no", f"{target} is not one-shot"
            assert set(s[target].get("profiles", [])) <= set(spec.get("profiles", []))


def test_start_order() -> None:
    s = services()

    def waits(name: str) -> dict[str, str]:
        return {t: d["condition"] for t, d in s[name]["depends_on"].items()}

    assert waits("topics") == {"kafka": "service_healthy"}
    assert waits("migrate") == {"clickhouse": "service_healthy"}
    for name in ("sink", "processors", "demo"):
        assert waits(name) == dict.fromkeys(ONE_SHOT, "service_completed_successfully"), name
    for name in ONE_SHOT:
        assert s[name]["restart"] == "no"
    for name in ("sink", "processors"):
        assert s[name]["restart"] == "unless-stopped"


def test_processors_can_scale() -> None:
    processors = services()["processors"]
    assert "container_name" not in processors
    assert "ports" not in processors
    assert "deploy" not in processors  # `--scale` sets the replicas
    assert "handrail:/data" in processors["volumes"]  # the spool is flock'd per session


# -- the image ---------------------------------------------------------------------------


def test_dockerfile_copies_every_package_folder() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copies = [line.split()[1:] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    sources = {source for *sources, _ in copies for source in sources}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    assert folders <= sources, folders - sources
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= sources
    package_dir: dict[str, str] = pyproject["tool"]["setuptools"]["package-dir"]
    for pattern_owner, patterns in pyproject["tool"]["setuptools"]["package-data"].items():
        # the folder of a package: its own entry, or its parent's folder and the rest
        parent = max((p for p in package_dir if pattern_owner.startswith(p)), key=len)
        folder = package_dir[parent] + pattern_owner.removeprefix(parent).replace(".", "/")
        for pattern in patterns:
            assert list((ROOT / folder).glob(pattern)), f"{folder}/{pattern}"
    assert "handrail" in pyproject["project"]["scripts"]
    assert 'ENTRYPOINT ["handrail"]' in dockerfile
    assert re.search(r'^RUN pip install "/src\[server\]"', dockerfile, re.MULTILINE)
    assert re.search(r"^USER handrail$", dockerfile, re.MULTILINE)
    assert re.search(r"^WORKDIR /home/handrail$", dockerfile, re.MULTILINE)  # Faust's data dir
