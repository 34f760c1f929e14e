"""Run one processors worker in this process (blocks until stopped by a signal)."""

from __future__ import annotations

import faust

from handrail.processors.app import Processors
from handrail.processors.runtime import use_uvloop
from handrail.processors.topics import declare
from handrail.settings import Settings


def run(settings: Settings, loglevel: str = "info") -> None:
    use_uvloop()
    processors = Processors(settings)
    declare(processors.topic_specs(), settings.kafka.servers, settings.kafka.client_config)
    worker = faust.Worker(processors.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
