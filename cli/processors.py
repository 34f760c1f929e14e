"""``handrail processors``: run the Faust workers that detect silent failures."""

from __future__ import annotations

from typing import Annotated

import typer

from handrail.kafka_clients import KafkaClientError, check_login
from handrail.settings import KafkaSettings, Settings

processors_app = typer.Typer(
    help="Detect silent failures as a stream.", no_args_is_help=True, rich_markup_mode=None
)


@processors_app.command("run")
def run(
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
    loglevel: Annotated[str, typer.Option(help="Worker log level.")] = "info",
) -> None:
    """Start a worker; several workers share the partitions (one consumer group)."""
    from handrail.processors.worker import run as run_worker  # noqa: PLC0415 - Faust loads only here

    settings = Settings()
    if kafka is not None:
        settings.kafka = KafkaSettings(
            **{**settings.kafka.model_dump(), "bootstrap_servers": kafka}
        )
    if not settings.kafka.bootstrap_servers:
        raise typer.BadParameter("the processors need Kafka: pass --kafka or set "
                                 "HANDRAIL_KAFKA__BOOTSTRAP_SERVERS")  # fmt: skip
    try:  # a refused login, said plainly: the clients would retry it until a timeout
        check_login(settings.kafka)
    except KafkaClientError as exc:
        typer.echo(f"handrail processors: {exc}", err=True)
        raise typer.Exit(1) from None
    run_worker(settings, loglevel)
