"""The ``handrail`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from handrail import __version__
from handrail.demo import tickets as workload
from handrail.embedded.cli import run
from handrail.governance.cli import approvals_app, resume
from handrail.ledger.cli import ledger_app, sink_app, top_level
from handrail.processors.cli import processors_app
from handrail.producers.spool import read_all
from handrail.render import events_table
from handrail.settings import KafkaSettings, Settings, SpoolSettings

app = typer.Typer(
    help="handrail: audit ledger and governance for LLM agents.", no_args_is_help=True
)
spool_app = typer.Typer(help="Inspect the durable spool.", no_args_is_help=True)
app.add_typer(spool_app, name="spool")
app.add_typer(ledger_app, name="ledger")
app.add_typer(sink_app, name="sink")
app.add_typer(processors_app, name="processors")
app.add_typer(approvals_app, name="approvals")
for name, command in top_level:
    app.command(name)(command)
app.command("resume")(resume)
app.command("run")(run)
console = Console()

SpoolDir = Annotated[Path | None, typer.Option(help="Spool directory (default from settings).")]


def _settings(spool_dir: Path | None, kafka: str | None = None) -> Settings:
    settings = Settings()
    if spool_dir is not None:
        settings.spool = SpoolSettings(**{**settings.spool.model_dump(), "dir": spool_dir})
    if kafka is not None:
        settings.kafka = KafkaSettings(
            **{**settings.kafka.model_dump(), "bootstrap_servers": kafka}
        )
    return settings


@app.command()
def demo(
    spool_dir: SpoolDir = None,
    kafka: Annotated[str | None, typer.Option(help="Ship to this Kafka instead.")] = None,
    workflows: Annotated[int, typer.Option(min=1)] = 2,
) -> None:
    """Record a small multi-agent workflow and show its events."""
    settings = _settings(spool_dir, kafka)
    ids = workload.run(settings, workflows)
    where = settings.kafka.bootstrap_servers or settings.spool.dir
    console.print(f"[bold]recorded workflows[/] {', '.join(ids)} -> {where}")
    if settings.kafka.bootstrap_servers is None:
        records = [r for r in read_all(settings.spool.dir) if r["workflow_id"] in ids]
        console.print(events_table(records, f"{len(records)} events in the spool"))


@spool_app.command("show")
def spool_show(spool_dir: SpoolDir = None) -> None:
    """Print every event waiting in the spool."""
    settings = _settings(spool_dir)
    records = list(read_all(settings.spool.dir)) if settings.spool.dir.exists() else []
    console.print(events_table(records, f"{len(records)} events in {settings.spool.dir}"))


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


def main() -> None:
    app()
