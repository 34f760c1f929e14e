"""Run one processors worker in this process (blocks until stopped by a signal)."""

from __future__ import annotations

import faust

from handrail.processors.app import Processors
from handrail.processors.runtime import use_uvloop
from handrail.settings import Settings


def run(settings: Settings, loglevel: str = "info") -> None:
    use_uvloop()
    app = Processors(settings).app
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
