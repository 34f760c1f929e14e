"""Every setting handrail reads, in one place.

Built once at start (``Settings()`` reads ``HANDRAIL_*`` environment variables and an
optional ``handrail.toml``/``.env``) and passed down; nothing reads the environment at
import time. Nested sections use ``__``: ``HANDRAIL_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from handrail import kafka_clients
from handrail.config.alerts import RouterSettings  # plain models: no router, no processors
from handrail.config.thresholds import DetectorRules

SECRET_OPTION_WORDS = ("password", "secret", "token")
"""A Kafka client option whose name holds one of these is a secret (``sasl_plain_password``,
``ssl_password``, ...): kept as ``SecretStr``, shown as ``**********``."""


class Section(BaseModel):
    """A settings section. A validation error never repeats the value it refused (it may
    be a secret): it names the setting and says what is wrong."""

    model_config = ConfigDict(hide_input_in_errors=True)


class AgentIdentity(Section):
    """Who emits events: stamped on every event's envelope."""

    name: str = Field(min_length=1, description="Agent name, e.g. 'summarizer'.")
    version: str = Field("0", description="Agent version (code or prompt revision).")
    owner: str = Field("unowned", description="Team or person accountable for the agent.")


class KafkaSettings(Section):
    """Where events go. No ``bootstrap_servers`` means the embedded default: the spool only."""

    bootstrap_servers: str | None = Field(
        None, description="Comma-separated host:port list; unset = embedded (spool only)."
    )
    events_topic: str = Field("handrail.events", description="Topic of decision events.")
    client_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Kafka client options in kafka-python's names. The security ones "
        "(security_protocol, sasl_*, ssl_*: docs/kafka-security.md) reach every client, "
        "the others kafka-python only; the ones named *password*, *secret* or *token* are "
        "kept secret.",
    )

    @field_validator("client_options")
    @classmethod
    def _secret_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        kafka_clients.check(options)  # a combination some client would not honour
        return {
            name: SecretStr(value)
            if isinstance(value, str) and any(w in name.lower() for w in SECRET_OPTION_WORDS)
            else value
            for name, value in options.items()
        }

    @property
    def client_config(self) -> dict[str, Any]:
        """``client_options`` as kafka-python takes them: the secrets revealed."""
        return kafka_clients.kafka_python_options(self)

    @property
    def servers(self) -> list[str]:
        """``bootstrap_servers`` as a list of host:port (empty when embedded)."""
        return [s.strip() for s in (self.bootstrap_servers or "").split(",") if s.strip()]


class SpoolSettings(Section):
    """The durable on-disk spool (Avro container files) used when Kafka is away or slow."""

    dir: Path = Field(Path(".handrail/spool"), description="Spool directory.")
    fsync: bool = Field(False, description="fsync every spool write (survives power loss).")
    segment_max_events: int = Field(10_000, gt=0, description="Events per spool file.")
    read_max_block_bytes: int = Field(
        16 << 20,
        gt=0,
        description="The largest spool block `handrail run` reads, compressed or inflated; "
        "a bigger one is quarantined.",
    )
    control_log: Path = Field(
        Path(".handrail/control.log"),
        description="The control channel without Kafka: halts, resumes, approvals, answers.",
    )
    control_log_max_bytes: int = Field(
        1 << 20,
        gt=0,
        description="Compact the control log when an append takes it past this size.",
    )


class EventLimits(Section):
    """Bounds on what one record call may carry (``handrail.producers.validation``); a call
    past one raises ``InvalidEventError`` naming the field."""

    model_config = ConfigDict(frozen=True)

    max_identifier_chars: int = Field(
        2_048, ge=64, le=1 << 20, description="Longest identifier (action, ids, names, refs)."
    )
    max_text_chars: int = Field(
        65_536, ge=8_192, le=1 << 24, description="Longest free text (rationale, reason, ...)."
    )
    max_event_chars: int = Field(
        262_144,
        ge=65_536,
        le=1 << 26,
        description="All the strings of one event's payload and labels.",
    )
    max_list_items: int = Field(
        1_000, ge=0, le=1 << 20, description="Items of a list field (checks, inputs, ...)."
    )
    max_payload_depth: int = Field(
        64, ge=1, le=500, description="Nesting of a handoff's payload (lists, dicts)."
    )


class ProducerSettings(Section):
    """How the SDK buffers and ships events."""

    buffer_max_events: int = Field(
        5_000, gt=0, description="In-memory buffer; beyond it events spill to the spool."
    )
    max_block_ms: float = Field(
        100.0, ge=0, description="Most a record call waits for buffer space before going on."
    )
    batch_max_events: int = Field(2_000, gt=0, description="Events handed to Kafka per step.")
    send_timeout_s: float = Field(
        5.0, gt=0, description="Unacknowledged this long = Kafka is away: spool instead."
    )
    retry_backoff_max_s: float = Field(
        2.0, gt=0, description="Longest pause between reconnection attempts."
    )
    redact: list[str] = Field(
        default_factory=list,
        description="Field paths scrubbed before encoding, e.g. 'payload.rationale'.",
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels stamped on every event (tenant, env, ...)."
    )
    limits: EventLimits = Field(
        default_factory=EventLimits, description="Bounds on each event's values."
    )
    shipper: Literal["thread", "process"] = Field(
        "thread",
        description="Where the shipper runs: a thread of the agent's process, or a process of "
        "its own (the agent's thread then only records; for agents that record thousands of "
        "events a second).",
    )


class ReadSettings(Section):
    """Bounds on every forensic query (``handrail sql``, ``explain``, the ledger's owner)."""

    max_seconds: float = Field(60.0, gt=0, description="A query running longer is stopped.")
    max_rows: int = Field(100_000, gt=0, description="A result with more rows is refused.")
    max_bytes: int = Field(
        64 << 20, gt=0, description="A result larger than this (uncompressed) is refused."
    )
    max_sql_bytes: int = Field(64 << 10, gt=0, description="Longest query text accepted.")
    max_memory: int = Field(
        512 << 20, gt=0, description="Memory a query may use in the engine, at most (bytes)."
    )


class LedgerSettings(Section):
    """The ClickHouse ledger and the sink that fills it."""

    dsn: str = Field(
        "chdb://.handrail/ledger",
        description="chdb://PATH (embedded engine) or http(s)://user:pass@host:8123/db.",
        repr=False,  # it may hold a password
    )
    checkpoint_dir: Path | None = Field(
        None,
        description="Chain heads, kept outside ClickHouse; unset: beside a chdb ledger "
        "(<ledger's parent>/checkpoints), .handrail/checkpoints for a server.",
    )
    batch_max_events: int = Field(5_000, gt=0, description="Rows per sink insert, at most.")
    batch_max_seconds: float = Field(0.5, gt=0, description="Longest a row waits in the sink.")
    consumer_group: str = Field("handrail-ledger", description="Kafka group of the sinks.")
    duplicate_window: int = Field(
        20_000,
        gt=0,
        description="Event ids remembered per partition: a copy of one goes to quarantine.",
    )
    reads: ReadSettings = Field(default_factory=ReadSettings)

    @property
    def checkpoint_path(self) -> Path:
        """Where the chain heads are: ``checkpoint_dir``, or by default ``checkpoints``
        beside a chdb ledger (``chdb://.handrail/ledger``: ``.handrail/checkpoints``), and
        ``.handrail/checkpoints`` for a server."""
        if self.checkpoint_dir is not None:
            return self.checkpoint_dir
        if self.dsn.startswith("chdb://"):
            return Path(self.dsn.removeprefix("chdb://")).parent / "checkpoints"
        return Path(".handrail/checkpoints")


class ProcessorSettings(Section):
    """The Faust workers that detect silent failures, and where their findings go."""

    app_id: str = Field(
        "handrail-processors", description="Faust app id = its consumer group; see ingest_group."
    )
    alerts_topic: str = Field("handrail.alerts", description="Alerts raised and resolved.")
    control_topic: str = Field(
        "handrail.control",
        description="Approvals and handoff answers; halts and resumes go to `<this>.halts`, "
        "kept forever.",
    )
    dead_letter_topic: str = Field(
        "handrail.events.dlq", description="Undecodable messages, with their bytes and reason."
    )
    partitions: int = Field(
        3, gt=0, description="Partitions of the internal topics (use the events topic's)."
    )
    replication_factor: int = Field(1, gt=0, description="Of the internal topics.")
    tick_interval_s: float = Field(1.0, gt=0, description="How often absence is checked.")
    session_timeout_s: float = Field(
        30.0, ge=6, description="A worker silent this long loses its partitions to the others."
    )
    commit_interval_s: float = Field(
        2.8, gt=0, description="How often a worker commits what it has processed."
    )
    batch_max_events: int = Field(500, gt=0, description="Events routed per step.")
    batch_max_s: float = Field(0.05, gt=0, description="Longest an event waits to be routed.")
    owners: dict[str, str] = Field(
        default_factory=dict,
        description="Agent -> owner paged for it; default: the owner its events name.",
    )
    rules: DetectorRules = Field(
        default_factory=DetectorRules, description="Detector thresholds and overrides."
    )
    data_dir: Path = Field(
        Path(".handrail/processors"),
        description="Where a worker keeps Faust's data directory (`<this>/<app_id>`, private: "
        "0700); its tables live in memory, with changelogs.",
    )
    signing_key: Path | None = Field(
        None,
        description="The processors' Ed25519 private key file (0600; `handrail keys new`): "
        "they sign their halts with it. Unset: halts go unsigned, and agents under a "
        "governance file ignore them.",
    )
    signer: str = Field(
        "handrail-processors",
        min_length=1,
        description="The name under which the governance file's `processors:` holds the "
        "public key of `signing_key`.",
    )

    @property
    def ingest_group(self) -> str:
        """The consumer group that reads the events topic (``processors/ingest.py``); the
        Faust app's own group, ``app_id``, reads the keyed, alerts and changelog topics."""
        return f"{self.app_id}-ingest"


class GovernanceSettings(Section):
    """Decision rights and handoff contracts (``docs/governance.example.yaml``)."""

    file: Path | None = Field(
        None, description="The governance file; the SDK refuses to start if it is invalid."
    )
    control_wait_s: float = Field(
        5.0,
        ge=0,
        le=300,
        allow_inf_nan=False,
        description="The first authorize() waits at most this long for the control channel to "
        "be read to its end; unread past it, authorize() denies (fails closed) until it is.",
    )


class FileSettings(Section):
    """Who may read what handrail writes (spool, control log, ledger, checkpoints, journal)."""

    group: str | None = Field(
        None,
        description="A Unix group (name or id) given read access: directories 0750, files "
        "0640. Unset: private to this user (directories 0700, files 0600).",
    )


class OtlpSettings(Section):
    """The OTLP/HTTP traces receiver: agents instrumented with OpenTelemetry export their
    spans to it (docs/otlp.md)."""

    enabled: bool = Field(True, description="Listen while `handrail run` runs.")
    host: str = Field("127.0.0.1", description="Address to listen on (loopback by default).")
    port: int = Field(4318, ge=0, le=65535, description="Port (OTLP/HTTP's own: 4318).")
    max_request_bytes: int = Field(
        4 * 1024 * 1024, gt=0,
        description="Largest request body, before and after gzip: larger gets 413.",
    )  # fmt: skip
    max_in_flight: int = Field(
        4, gt=0, description="Requests handled at once; more get 503 with Retry-After."
    )
    max_agents: int = Field(
        256, gt=0,
        description="Agents with a recorder open at once; past it the least recently used closes.",
    )  # fmt: skip
    owner: str = Field(
        "otlp", min_length=1,
        description="Owner of the agents whose resource names none (`handrail.owner`).",
    )  # fmt: skip


class ConsoleSettings(Section):
    """The web console: approvals, alerts, halts and decision paths in a browser
    (docs/console.md). People sign in with the private key the governance file knows."""

    enabled: bool = Field(False, description="Serve it while `handrail run` runs.")
    host: str = Field("127.0.0.1", description="Address to listen on (loopback by default).")
    port: int = Field(8340, ge=0, le=65535, description="Port.")
    session_minutes: int = Field(480, gt=0, le=7 * 24 * 60, description="How long a sign-in lasts.")
    live_poll_s: float = Field(
        2.0, ge=0.2, le=60,
        description="How often an open page asks for new alerts and approval requests.",
    )  # fmt: skip
    max_sessions: int = Field(
        64, gt=0, description="Signed-in sessions kept at once; past it the oldest ends."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names it answers to besides loopback and `host` (behind a proxy).",
    )
    public_origin: str | None = Field(
        None, pattern=r"^https?://[^/?#\s]+$",
        description="The origin people's browsers see behind a proxy, e.g. "
        "https://handrail.example.com: POSTs must come from it; https makes the cookie Secure.",
    )  # fmt: skip


class Settings(BaseSettings):
    """The root settings object."""

    model_config = SettingsConfigDict(
        env_prefix="HANDRAIL_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        toml_file="handrail.toml",
        hide_input_in_errors=True,  # an invalid value may be a secret: never repeated
    )

    agent: AgentIdentity | None = Field(None, description="Default agent identity.")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)
    producer: ProducerSettings = Field(default_factory=ProducerSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    processors: ProcessorSettings = Field(default_factory=ProcessorSettings)
    governance: GovernanceSettings = Field(default_factory=GovernanceSettings)
    files: FileSettings = Field(default_factory=FileSettings)
    alerts: RouterSettings = Field(default_factory=RouterSettings)
    otlp: OtlpSettings = Field(default_factory=OtlpSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: arguments, environment, ``.env``, ``handrail.toml``."""
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )
