"""``handrail otlp serve``: the OTLP/HTTP traces receiver as a process of its own (with
Kafka; ``handrail run`` hosts it on the embedded default)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from handrail.otlp.receiver import Receiver, serve
from handrail.otlp.recording import SpanRecorder
from handrail.settings import OtlpSettings, Settings

otlp_app = typer.Typer(
    help="Receive OpenTelemetry traces (OTLP/HTTP).", no_args_is_help=True, rich_markup_mode=None
)


@otlp_app.command("serve")
def serve_command(
    port: Annotated[int | None, typer.Option(help="Port (default otlp.port, 4318).")] = None,
    host: Annotated[str | None, typer.Option(help="Address (default otlp.host).")] = None,
) -> None:
    """Receive spans on POST /v1/traces and record the events they map to (docs/otlp.md),
    to Kafka when HANDRAIL_KAFKA__BOOTSTRAP_SERVERS is set, else to the spool."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    changes = {k: v for k, v in {"port": port, "host": host}.items() if v is not None}
    settings.otlp = OtlpSettings(**{**settings.otlp.model_dump(), **changes})
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    recorder = SpanRecorder(settings)
    try:
        await serve(Receiver(recorder, settings.otlp), stop)
    finally:
        await asyncio.to_thread(recorder.close, 30)
