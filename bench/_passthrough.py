"""The baseline of ``bench.processors``: a bare Faust worker with one agent that forwards
every message of the events topic, untouched, to another topic. Same broker settings as
the processors worker (memory store, raw bytes, the same commit interval).

    python -m bench._passthrough   # configured by HANDRAIL_* like the real worker
"""

from __future__ import annotations

import faust

from handrail.settings import Settings


def main() -> None:
    settings = Settings()
    p, kafka = settings.processors, settings.kafka
    app = faust.App(
        p.app_id,
        broker=f"kafka://{kafka.bootstrap_servers}",
        store="memory://",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=p.partitions,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=p.commit_interval_s,
        web_enabled=False,
    )
    out = app.topic(f"{p.app_id}-out", partitions=p.partitions)

    async def forward(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await out.send(key=event.key, value=event.value)

    app.agent(app.topic(kafka.events_topic), name="forward")(forward)
    faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
