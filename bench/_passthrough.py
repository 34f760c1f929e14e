"""The baseline of ``bench.processors``: a bare Faust worker with one agent that forwards
every message of the events topic, untouched, to another topic. It runs like the
processors worker (``handrail.processors.runtime``: uvloop, the same app options).

    python -m bench._passthrough   # configured by HANDRAIL_* like the real worker
"""

from __future__ import annotations

import faust

from handrail.processors.runtime import app_options, use_uvloop
from handrail.settings import Settings


def main() -> None:
    use_uvloop()
    settings = Settings()
    p = settings.processors
    app = faust.App(p.app_id, **app_options(settings))
    out = app.topic(f"{p.app_id}-out", partitions=p.partitions)

    async def forward(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await out.send(key=event.key, value=event.value)

    app.agent(app.topic(settings.kafka.events_topic), name="forward")(forward)
    faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
