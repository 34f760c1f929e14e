"""How a worker runs Faust: on uvloop, with Faust's compiled stream iterator, with its
data directory under handrail's own state (``processors.data_dir``). Shared with the
benchmark's bare Faust baseline (``bench/_passthrough.py``), so that both run alike."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import mode.loop

from handrail.files import FileModes
from handrail.kafka_clients import faust_options
from handrail.settings import Settings


def use_uvloop() -> None:
    """Run the worker's event loops on uvloop (where it is installed: not on Windows)."""
    if importlib.util.find_spec("uvloop") is not None:
        mode.loop.use("uvloop")


def app_options(settings: Settings) -> dict[str, Any]:
    """The ``faust.App`` options every worker shares: the broker, in-memory stores with
    changelogs, raw bytes, the commit interval."""
    p = settings.processors
    return {
        **faust_options(settings.kafka),  # the broker, and its credentials when secured
        "store": "memory://",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "topic_partitions": p.partitions,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": p.commit_interval_s,
        "web_enabled": False,
        "cython_optimizations": True,
        # The memory store keeps nothing on disk; Faust still makes its data directory.
        "datadir": str(data_dir(settings)),
    }


def data_dir(settings: Settings) -> Path:
    """Faust's data directory, ``processors.data_dir``/<app id>, made private (0700, or the
    ``files.group``'s modes): under handrail's own state, never the system's temp dir."""
    p = settings.processors
    return FileModes.of(settings.files).directory(p.data_dir / p.app_id)


FETCH_WAIT_MS = 100
"""How long a fetch of the worker's Faust consumer may wait on the broker for new data."""


def shorten_fetch_wait(app: Any) -> None:
    """Faust's consumer asks the broker to hold each fetch up to 1.5 s (hard-coded) and keeps
    one fetch per broker in flight: a fetch of partitions with nothing new (the alerts and
    control topics, most of the time) held back the next fetch of the keyed topic for that
    long, a backlog read one fetch per 1.5 s. Called once its consumer runs."""
    consumer = app.consumer._thread._consumer  # aiokafka's, in Faust's consumer thread
    if consumer is not None and consumer._fetcher is not None:
        consumer._fetcher._fetch_max_wait_ms = FETCH_WAIT_MS  # read for every fetch request
