"""The ``handrail`` command (run by ``handrail.cli.command``). The ledger's, the pipeline's and
the processors' commands load when they run (``handrail.cli.lazy``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from handrail import __version__
from handrail.cli.control import approvals_app, keys_app, resume
from handrail.cli.lazy import LazyGroup
from handrail.files import FileGroupError, FileModes
from handrail.render import events_table
from handrail.settings import Settings, SpoolSettings

app = typer.Typer(
    cls=LazyGroup,
    help="handrail: audit ledger and governance for LLM agents.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: typer's rich help shows a flag as "--json <bool>"
)
spool_app = typer.Typer(help="Inspect the durable spool.", no_args_is_help=True)
app.add_typer(spool_app, name="spool")
app.add_typer(approvals_app, name="approvals")
app.add_typer(keys_app, name="keys")
app.command("resume")(resume)
console = Console()


@app.callback()
def start(ctx: typer.Context) -> None:
    """handrail's own processes keep what they write private (``files.group``: readable by
    that group): handrail's code gives its files their modes, and the umask covers what
    libraries create (the ClickHouse engine's parts, Faust's tables)."""
    if ctx.invoked_subcommand == "version":
        return
    try:
        FileModes.of(Settings().files).restrict_umask()
    except FileGroupError as exc:
        Console(stderr=True).print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    except ValidationError as exc:  # names each setting, never its value (it may be a secret)
        Console(stderr=True).print(f"invalid settings: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None


SpoolDir = Annotated[Path | None, typer.Option(help="Spool directory (default from settings).")]


def _settings(spool_dir: Path | None) -> Settings:
    settings = Settings()
    if spool_dir is not None:
        settings.spool = SpoolSettings(**{**settings.spool.model_dump(), "dir": spool_dir})
    return settings


@app.command()
def demo(
    kafka: Annotated[str | None, typer.Option(help="Run through this Kafka instead.")] = None,
    directory: Annotated[Path, typer.Option("--dir", help="The demo's data (wiped first).")] = Path(
        ".handrail/demo"
    ),
    seconds: Annotated[float, typer.Option(min=25, help="Length of the workload.")] = 32,
    settle: Annotated[float, typer.Option(help="Most seconds to wait for the last alerts.")] = 45,
) -> None:
    """A support pipeline of agents at work, the essay's failures among normal traffic:
    watch them detected, paged and halted, then see the bad database write explained."""
    from handrail.demo.show import Demo  # noqa: PLC0415 - loads the demo only here

    show = Demo(directory, kafka, console)
    result = show.run(seconds, settle)
    console.rule("the bad database write, explained")
    show.explain_bad_write()
    console.rule("the ledger")
    show.print_commands(result)
    missing = result.missing()
    if missing:
        console.print(f"[red]no alert from: {', '.join(missing)}[/]")
        raise typer.Exit(1)


@spool_app.command("show")
def spool_show(spool_dir: SpoolDir = None) -> None:
    """Print every event waiting in the spool."""
    from handrail.producers.spool import read_all  # noqa: PLC0415 - the SDK loads only here

    settings = _settings(spool_dir)
    records = list(read_all(settings.spool.dir)) if settings.spool.dir.exists() else []
    console.print(events_table(records, f"{len(records)} events in {settings.spool.dir}"))


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)
