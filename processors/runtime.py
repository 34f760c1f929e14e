"""How a worker runs Faust: on uvloop, with Faust's compiled stream iterator, with its
scratch directory out of the working directory. Shared with the benchmark's bare Faust
baseline (``bench/_passthrough.py``), so that both run alike."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any

import mode.loop

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
        "datadir": str(Path(tempfile.gettempdir()) / f"handrail-faust-{p.app_id}"),
    }
