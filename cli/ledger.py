"""``handrail ledger ...`` and ``handrail sink ...``."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from handrail.files import FileModes
from handrail.kafka_clients import KafkaClientError, check_login
from handrail.ledger import rollups, verify_status
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.digest import Digest, DigestError
from handrail.ledger.errors import LedgerBusyError, NotInLedgerError, OwnerError, QueryError
from handrail.ledger.explain import explain
from handrail.ledger.migrate import migrate
from handrail.ledger.owner import OwnerServer, leave_now
from handrail.ledger.reader import Reader, chdb_path, open_reader
from handrail.ledger.server_ddl import InvalidName, server_ddl
from handrail.ledger.sink import Sink
from handrail.ledger.verify import Report, verify
from handrail.render import decision_tree
from handrail.settings import Settings

# plain help, as handrail.cli.app (loaded lazily, these groups do not inherit its setting)
ledger_app = typer.Typer(
    help="The decision ledger (ClickHouse).", no_args_is_help=True, rich_markup_mode=None
)
sink_app = typer.Typer(
    help="The sink from Kafka into the ledger.", no_args_is_help=True, rich_markup_mode=None
)
console = Console()
errors = Console(stderr=True)
T = TypeVar("T")
top_level: list[tuple[str, Callable[..., Any]]] = []
"""Commands that sit at the top of ``handrail`` (``explain``, ``sql``)."""


def app_command(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        top_level.append((name, fn))
        return fn

    return register


@ledger_app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the ledger's tables (idempotent)."""
    settings = Settings()
    applied = migrate(_client(settings))
    console.print(f"applied: {', '.join(applied)}" if applied else "ledger is up to date")


@ledger_app.command("ddl")
def ddl_command(
    cluster: Annotated[str | None, typer.Option(help="ON CLUSTER name: replicated tables.")] = None,
    database: Annotated[str, typer.Option(help="Database the users are granted on.")] = "default",
    writer_password: Annotated[str | None, typer.Option(help="Create handrail_writer.")] = None,
    reader_password: Annotated[str | None, typer.Option(help="Create handrail_forensics.")] = None,
) -> None:
    """Print the DDL for a ClickHouse server (cluster variant and users behind flags)."""
    reads = Settings().ledger.reads
    try:
        ddl = server_ddl(database, cluster, writer_password, reader_password, reads)
    except InvalidName as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(ddl)


@ledger_app.command("verify")
def verify_command(
    digest: Annotated[
        Path | None,
        typer.Option(help="A digest taken earlier (ledger digest): prove the ledger extends it."),
    ] = None,
) -> None:
    """Recompute every hash chain and hold it against its checkpoint (and a digest): name
    every broken link, then their count; exit 1 if any."""
    settings = Settings()
    earlier = _digest_file(digest) if digest is not None else None
    report = _verify(settings, earlier)
    _record(settings, report, "verify", earlier.created_at if earlier else None,
            earlier.sha256 if earlier else None)  # fmt: skip
    for finding in report.broken:
        console.print(f"[red]BROKEN[/] {escape(str(finding))}", soft_wrap=True)
    _summary(report)
    if not report.ok:
        raise typer.Exit(1)
    console.print(
        f"[green]ledger intact; it extends the digest of {earlier.created_at}[/]"
        if earlier is not None
        else "[green]ledger intact[/]"
    )


@ledger_app.command("digest")
def digest_command(
    out: Annotated[
        Path | None, typer.Option(help="Write the digest to this file (default: print it).")
    ] = None,
) -> None:
    """Write a digest of every chain head (JSON, with its own SHA-256) for an auditor to keep
    away from this machine; ``ledger verify --digest`` proves the ledger still extends it.
    Taken only from a ledger that verifies (exit 1 and the findings otherwise)."""
    settings = Settings()
    report = _verify(settings)
    if not report.ok:
        _record(settings, report, "digest")
        for finding in report.broken:
            errors.print(f"[red]BROKEN[/] {escape(str(finding))}", soft_wrap=True)
        errors.print(f"{_count(report.broken)}: no digest of a ledger that does not verify")
        raise typer.Exit(1)
    taken = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    digest = Digest(taken, tuple(report.heads))
    _record(settings, report, "digest", digest.created_at, digest.sha256)
    if out is None:
        typer.echo(digest.to_json(), nl=False)
        return
    out.write_text(digest.to_json())
    console.print(f"digest of {len(digest.chains)} chains ({report.rows} rows) written to {out}")
    console.print(
        f"sha256 {digest.sha256}: keep the file, or this line, away from this machine",
        soft_wrap=True,
    )


def _record(settings: Settings, report: Report, command: str, digest_at: str | None = None,
            digest_sha256: str | None = None) -> None:  # fmt: skip
    """Keep the outcome for the console (a status it cannot write is no reason to fail)."""
    try:
        verify_status.record(settings.ledger.checkpoint_path, FileModes.of(settings.files),
                             report, command, digest_created_at=digest_at,
                             digest_sha256=digest_sha256)  # fmt: skip
    except OSError as exc:
        errors.print(f"[yellow]the outcome was not kept for the console: {exc.strerror}[/]")


def _digest_file(path: Path) -> Digest:
    try:
        return Digest.from_json(path.read_text())
    except (OSError, DigestError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--digest") from None


def _summary(report: Report) -> None:
    """The count line (and what verify could not cover)."""
    console.print(f"{_count(report.broken)}; {report.rows} rows in {report.chains} chains checked")
    if report.uncovered:
        console.print(
            f"[yellow]{report.uncovered} quarantine rows written before migration 0005 carry "
            "no hash: not covered[/]"
        )


def _client(settings: Settings) -> Any:
    """The ledger's client for a command that needs the engine itself; an embedded ledger
    that another process holds is a clear error, not a traceback."""
    try:
        return connect(settings.ledger.dsn)
    except LedgerBusyError as exc:
        console.print(f"[red]{exc}: stop that process (handrail run, handrail sink run) first[/]")
        raise typer.Exit(1) from None


def _verify(settings: Settings, earlier: Digest | None = None) -> Report:
    """``verify`` of the configured ledger; a check the ledger cannot run (a server user
    without the grants verify needs) exits 2 with the reason."""
    _require_ledger(settings.ledger.dsn)
    try:
        return verify(_client(settings), Checkpoints(settings.ledger.checkpoint_path), earlier)
    except QueryError as exc:
        console.print(f"[red]verify could not run: {escape(str(exc))}[/]")
        raise typer.Exit(2) from None


def _count(findings: list[Any]) -> str:
    return f"{len(findings)} finding{'' if len(findings) == 1 else 's'}"


def _require_ledger(dsn: str) -> None:
    """An embedded ledger that does not exist (or an empty directory where one was to be)
    exits 1 with what to do, and nothing is created: a read never makes a ledger."""
    path = chdb_path(dsn)
    try:
        if path is None or (path.is_dir() and any(path.iterdir())):
            return
    except OSError:  # not ours to list: the reader says why
        return
    errors.print(
        f"[red]no ledger at {escape(str(path))}[/]: nothing was recorded there. Start "
        "`handrail run` (or `handrail demo`) to make one, or point HANDRAIL_LEDGER__DSN at "
        "the ledger to read (chdb:///absolute/path).",
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _read(work: Callable[[Reader], T]) -> T:
    """Run ``work`` on a reader of the configured ledger; a refusal exits 1 with the reason."""
    ledger = Settings().ledger
    _require_ledger(ledger.dsn)
    try:
        reader = open_reader(ledger.dsn, ledger.reads)
    except OwnerError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    try:
        return work(reader)
    except (NotInLedgerError, QueryError, OwnerError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    finally:
        reader.close()


@app_command("explain")
def explain_command(
    ref: Annotated[
        str, typer.Argument(help="An event id, a workflow id, or a handoff or approval id.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a tree.")] = False,
) -> None:
    """Rebuild the decision path that led to an event (or a whole workflow)."""
    tree = _read(lambda reader: explain(reader, ref))
    if as_json:
        typer.echo(json.dumps(tree, indent=2, default=str))
    else:
        console.print(decision_tree(tree))


@app_command("sql")
def sql_command(
    query: Annotated[str, typer.Argument(help="One read-only query; inputs as {name:Type}.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value, repeatable.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
) -> None:
    """Run a read-only SQL query on the ledger, with query parameters (never string-built)."""
    parameters = dict(item.split("=", 1) for item in param or [])
    rows = _read(lambda reader: reader.query(query, parameters))
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    console.print(rows_view(rows, console.width))


def rows_view(rows: list[dict[str, Any]], width: int) -> RenderableType:
    """Rows for the terminal, no value ever cut with "…": a table when every column fits
    whole in ``width``, else each row as a list of ``column  value`` lines (as psql's
    expanded display), where an id fits whole on its line. A float shows without binary
    noise (20.15, not 20.149999999999995; ``--json`` is exact)."""
    names = list(rows[0]) if rows else []
    cells = [[_cell(v) for v in row.values()] for row in rows]
    widths = [
        max([cell_len(n)] + [_widest(line[i]) for line in cells]) for i, n in enumerate(names)
    ]
    title = f"{len(rows)} row{'' if len(rows) == 1 else 's'}"
    if sum(widths) + 3 * len(names) + 1 <= width:
        table = Table(title=title)
        for name in names:
            table.add_column(escape(name), no_wrap=True)
        for line in cells:
            table.add_row(*line)
        return table
    blocks: list[RenderableType] = [Text(title)]
    for n, line in enumerate(cells, 1):
        block = Table(title=f"row {n}", title_justify="left", show_header=False, box=None)
        block.add_column(style="bold", no_wrap=True)
        block.add_column(overflow="fold")
        for name, cell in zip(names, line, strict=True):
            block.add_row(escape(name), cell)
        blocks.append(block)
    return Group(*blocks)


def _widest(cell: str) -> int:
    return max(cell_len(part) for part in cell.splitlines() or [""])


def _cell(value: Any) -> str:
    return escape(format(value, ".15g") if isinstance(value, float) else str(value))


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
    try:  # a refused login, said plainly: the consumer would retry it until a timeout
        check_login(settings.kafka)
    except KafkaClientError as exc:
        typer.echo(f"handrail sink: {exc}", err=True)
        raise typer.Exit(1) from None
    modes = FileModes.of(settings.files)
    client = connect(settings.ledger.dsn, wait_s=60, modes=modes)  # other readers are brief
    migrate(client)
    path = chdb_path(settings.ledger.dsn)
    if path:  # the ledger's only writer (a server may have several sinks)
        rollups.repair(client)
    reads = settings.ledger.reads
    owner = OwnerServer(settings.ledger.dsn, path, reads, modes.gid) if path else None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stats = Sink(client, settings.kafka, settings.ledger).run(stop, idle_exit_s=idle_exit)
    finally:
        idle = owner.stop() if owner else True
    console.print(f"sink stopped: {stats}")
    if not idle:
        leave_now()
