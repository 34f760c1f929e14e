"""Faust's data directory lives under handrail's own state, private: never a folder left
in the system's temp dir by ``handrail processors run``."""

from __future__ import annotations

import stat
from pathlib import Path

import faust

from handrail.processors.runtime import app_options
from handrail.settings import KafkaSettings, ProcessorSettings, Settings


def test_the_default_is_under_the_handrail_state_dir() -> None:
    assert ProcessorSettings().data_dir == Path(".handrail/processors")


def test_a_worker_keeps_its_data_directory_private_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9092"),  # not reached: App connects later
        processors=ProcessorSettings(app_id="ops", data_dir=tmp_path / "state"),
    )
    app = faust.App("ops", **app_options(settings))
    made = tmp_path / "state" / "ops"
    assert Path(app.conf.datadir) == made
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
