"""A real processors worker whose table changelog writes never leave its producer's
buffer, as when a busy event loop does not drain it before Faust commits (Faust's flush
gives up after 100 ms without a send). It writes ``MARKER`` once a write is held and two
offset commits completed after it, then runs on until killed.

    python -m tests.support.held_changelog_worker MARKER   (settings from the environment)

Kafka, Faust and the detectors are the real ones; only the changelog writes are held.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer

from handrail.processors.worker import run
from handrail.settings import Settings


def main() -> None:
    marker = Path(sys.argv[1])
    held: list[str] = []
    commits_after = [0]
    send_pending = ProducerBuffer._send_pending
    commit_offsets = Consumer._commit_offsets

    async def hold_changelogs(self: ProducerBuffer, fut: Any) -> None:
        if fut.message.channel.get_topic_name().endswith("-changelog"):
            held.append(fut.message.channel.get_topic_name())
            await asyncio.Event().wait()  # never set: held until the worker is killed
        await send_pending(self, fut)

    async def count_commits(self: Consumer, offsets: Any, *args: Any, **kwargs: Any) -> bool:
        done: bool = await commit_offsets(self, offsets, *args, **kwargs)
        if held and done:
            commits_after[0] += 1
            if commits_after[0] == 2:
                marker.write_text(f"held a write to {held[0]}; committed twice since")
        return done

    ProducerBuffer._send_pending = hold_changelogs  # type: ignore[method-assign]
    Consumer._commit_offsets = count_commits  # type: ignore[method-assign]
    run(Settings())


if __name__ == "__main__":
    main()
