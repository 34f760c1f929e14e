"""``handrail run``: the main job.

Without Kafka it runs the embedded pipeline in this process (``pipeline``) and serves the
ledger to other terminals; with ``kafka.bootstrap_servers`` it runs ``handrail sink run``
and ``handrail processors run`` as supervised child processes (``supervise``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

from handrail.embedded.errors import PipelineBusyError
from handrail.embedded.pipeline import Pipeline, PipelineStats
from handrail.embedded.supervise import CHILDREN, Child, handrail_argv, supervise
from handrail.files import FileModes
from handrail.ledger import rollups
from handrail.ledger.client import connect
from handrail.ledger.errors import OwnerError
from handrail.ledger.migrate import migrate
from handrail.ledger.owner import OwnerServer, leave_now
from handrail.ledger.owner_client import owner_pid
from handrail.ledger.reader import chdb_path
from handrail.otlp.receiver import Receiver, serve
from handrail.otlp.recording import SpanRecorder
from handrail.settings import Settings

console = Console(stderr=True)


def run(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every delivery attempt and more.")
    ] = False,
) -> None:
    """Run handrail until Ctrl-C: agents' events into the ledger, detectors, alerts, halts.

    No Kafka configured (the embedded default): all of it in this process, from the spool.

    The ledger is served to `handrail explain` and `handrail sql` in other terminals.

    With HANDRAIL_KAFKA__BOOTSTRAP_SERVERS: the sink and a processors worker as children.
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings()
    if settings.kafka.bootstrap_servers:
        _distributed(settings)
        return
    path = chdb_path(settings.ledger.dsn)
    try:
        holder = owner_pid(path) if path else None
    except OwnerError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    if holder is not None:
        console.print(f"[red]the ledger at {path} is held by a running process (pid {holder})[/]")
        raise typer.Exit(1)
    modes = FileModes.of(settings.files)
    client = connect(settings.ledger.dsn, wait_s=60, modes=modes)  # other readers are brief
    migrate(client)
    rollups.repair(client)
    try:
        pipeline = Pipeline(settings, client)
    except PipelineBusyError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    reads = settings.ledger.reads
    owner = OwnerServer(settings.ledger.dsn, path, reads, modes.gid) if path else None
    console.print(
        f"handrail run: spool {settings.spool.dir} -> ledger {settings.ledger.dsn}; "
        f"halts -> {settings.spool.control_log}. Ctrl-C stops."
    )
    web = _children(settings, [])  # the console, a process of its own: no cost to this one
    web_stop = threading.Event()
    supervising = threading.Thread(target=supervise, args=(web, web_stop), daemon=True)
    if web:
        supervising.start()
    try:
        stats = asyncio.run(_serve(pipeline))
    finally:
        web_stop.set()
        if web:
            supervising.join()
        pipeline.close()
        idle = owner.stop() if owner else True
    console.print(f"handrail run stopped: {stats}")
    if not idle:
        leave_now()


async def _serve(pipeline: Pipeline) -> PipelineStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    settings = pipeline.settings
    if not settings.otlp.enabled:
        return await pipeline.run(stop)
    recorder = SpanRecorder(settings)  # into the spool, which the pipeline reads
    receiving = asyncio.create_task(serve(Receiver(recorder, settings.otlp), stop))
    receiving.add_done_callback(_receiver_failed)
    try:
        return await pipeline.run(stop)
    finally:
        stop.set()
        await asyncio.gather(receiving, return_exceptions=True)
        await asyncio.to_thread(recorder.close, 30)


def _receiver_failed(task: asyncio.Task[None]) -> None:
    """The receiver could not listen (its port taken, say): the pipeline runs on without it."""
    if not task.cancelled() and task.exception() is not None:
        console.print(f"[red]OTLP receiver not started: {task.exception()}; set "
                      "HANDRAIL_OTLP__PORT, or HANDRAIL_OTLP__ENABLED=false[/]")  # fmt: skip


def _distributed(settings: Settings) -> None:
    console.print(
        f"handrail run: Kafka {settings.kafka.bootstrap_servers}; ledger sink, processors "
        "worker and OTLP receiver as child processes. Ctrl-C stops them."
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    children = [*CHILDREN, *([("otlp", ("otlp", "serve"))] if settings.otlp.enabled else [])]
    supervise(_children(settings, children), stop)


def _children(settings: Settings, children: list[tuple[str, tuple[str, ...]]]) -> list[Child]:
    """``children``, and the console when ``console.enabled``."""
    if settings.console.enabled:
        children = [*children, ("console", ("console",))]
    return [Child(name, handrail_argv(args)) for name, args in children]
