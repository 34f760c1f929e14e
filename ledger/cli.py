"""``handrail ledger ...`` and ``handrail sink ...``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from handrail.ledger.sink import Sink
from handrail.ledger.verify import verify
from handrail.settings import Settings

ledger_app = typer.Typer(help="The decision ledger (ClickHouse).", no_args_is_help=True)
sink_app = typer.Typer(help="The sink from Kafka into the ledger.", no_args_is_help=True)
console = Console()


@ledger_app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the ledger's tables (idempotent)."""
    settings = Settings()
    applied = migrate(connect(settings.ledger.dsn))
    console.print(f"applied: {', '.join(applied)}" if applied else "ledger is up to date")


@ledger_app.command("verify")
def verify_command() -> None:
    """Recompute the hash chains; name the first broken link; exit 1 if any."""
    settings = Settings()
    report = verify(connect(settings.ledger.dsn), Checkpoints(settings.ledger.checkpoint_dir))
    for finding in report.broken:
        console.print(f"[red]BROKEN[/] {finding}")
    console.print(f"{report.rows} rows in {report.partitions} partitions checked")
    if not report.ok:
        raise typer.Exit(1)
    console.print("[green]ledger intact[/]")


@sink_app.command("run")
def sink_run(
    idle_exit: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without messages.")
    ] = None,
) -> None:
    """Consume the events topic into the ledger until interrupted."""
    settings = Settings()
    if not settings.kafka.bootstrap_servers:
        raise typer.BadParameter("set HANDRAIL_KAFKA__BOOTSTRAP_SERVERS")
    client = connect(settings.ledger.dsn)
    migrate(client)
    stats = Sink(client, settings.kafka, settings.ledger).run(idle_exit_s=idle_exit)
    console.print(f"sink stopped: {stats}")
