"""``handrail console``: the web console (``handrail.console``), on 127.0.0.1 by default.
``handrail run`` supervises it as a child process when ``console.enabled`` is set."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from handrail.console.data import Data
from handrail.console.pages import serve
from handrail.governance.authority import Authority
from handrail.governance.loader import GovernanceError, load
from handrail.settings import ConsoleSettings, Settings


def console(
    port: Annotated[int | None, typer.Option(help="Port (default console.port, 8340).")] = None,
    host: Annotated[str | None, typer.Option(help="Address (default console.host).")] = None,
    governance: Annotated[
        Path | None,
        typer.Option(help="The governance file (default: HANDRAIL_GOVERNANCE__FILE)."),
    ] = None,
) -> None:
    """Serve the web console: approvals, alerts, halts, decision paths, agents, the ledger.

    People sign in with the private key the governance file lists under `people`, and sign
    each decision with it in their browser.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings()
    changes = {k: v for k, v in {"port": port, "host": host}.items() if v is not None}
    settings.console = ConsoleSettings(**{**settings.console.model_dump(), **changes})
    file = governance or settings.governance.file
    if file is None:
        typer.echo("the governance file says who may sign in and decide: give --governance "
                   "FILE or set HANDRAIL_GOVERNANCE__FILE", err=True)  # fmt: skip
        raise typer.Exit(2)
    try:
        authority = Authority(load(file))
    except GovernanceError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    asyncio.run(_serve(Data(settings, authority), settings.console))


async def _serve(data: Data, settings: ConsoleSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(data, settings, stop)
    finally:
        await asyncio.to_thread(data.close)
