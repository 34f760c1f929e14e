"""The ledger half of the SDK validation's property (issue 23, item 1): what a record call
accepts reaches the ledger and ``verify`` passes. Random hostile record calls of every
event type (``tests.support.hostile_values``), with hostile workflow ids, causations and
labels, go through a real recorder into the embedded spool; the real embedded pipeline
writes them into a real chdb ledger. Each call raised ``InvalidEventError`` or its event
is in the ledger (once, none quarantined), and ``verify`` is clean. The unit half
(thousands per type, encoded and read back) is
``tests/unit/test_event_validation_property.py``."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from handrail.embedded.pipeline import Pipeline
from handrail.ledger.checkpoints import Checkpoints
from handrail.ledger.client import connect
from handrail.ledger.migrate import migrate
from handrail.ledger.verify import verify
from handrail.producers import InvalidEventError, Recorder
from handrail.schemas.fields import PAYLOAD_FIELDS
from handrail.settings import AgentIdentity, LedgerSettings, Settings, SpoolSettings
from tests.integration.test_nonfinite_spend import drive, read_everything
from tests.support.hostile_values import LABELS, TEXT, arguments, event_id_like, often

pytestmark = pytest.mark.timeout(300)

CALLS = st.lists(
    st.tuples(
        st.sampled_from(sorted(PAYLOAD_FIELDS)).flatmap(
            lambda tag: st.tuples(st.just(tag), arguments(tag))
        ),
        often(st.none(), TEXT),  # workflow id
        often(st.none(), event_id_like()),  # caused_by
        often(st.none(), LABELS),
    ),
    min_size=40,
    max_size=60,
)


def settings_of(tmp: Path) -> Settings:
    return Settings(
        spool=SpoolSettings(dir=tmp / "spool", control_log=tmp / "control.log"),
        ledger=LedgerSettings(
            dsn=f"chdb://{tmp / 'ledger'}", checkpoint_dir=tmp / "checkpoints",
            batch_max_seconds=0.05,
        ),
    )  # fmt: skip


def record(rec: Recorder, calls: list[Any]) -> tuple[list[str], int]:
    """Each call as a typed record method makes it; the ids accepted, and how many were
    refused."""
    accepted, refused = [], 0
    for (tag, values), workflow, cause, labels in calls:
        try:
            fields = rec._checks.fields(tag, **values)
            ref = rec._emit(fields, workflow_id=workflow, caused_by=cause, labels=labels)
        except InvalidEventError:
            refused += 1
        else:
            accepted.append(ref.event_id)
    return accepted, refused


SAMPLE = settings(
    max_examples=8, deadline=None, derandomize=True, database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example runs a pipeline
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)  # fmt: skip


def test_what_the_sdk_accepts_reaches_the_ledger_and_verifies() -> None:
    outcomes: list[tuple[int, int]] = []

    @SAMPLE
    @given(calls=CALLS)
    def check(calls: list[Any]) -> None:
        outcomes.append(through_the_ledger(calls))

    check()
    assert sum(a for a, _ in outcomes) > 0, "the sample is not vacuous: calls were accepted"
    assert sum(r for _, r in outcomes) > 0, "and refused"


def through_the_ledger(calls: list[Any]) -> tuple[int, int]:
    """Record ``calls``, run the pipeline over the spool, check the ledger; return how
    many calls were accepted and refused."""
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        config = settings_of(tmp)
        with Recorder(config, AgentIdentity(name="hostile", owner="team")) as rec:
            accepted, refused = record(rec, calls)
            assert rec.flush(30)
        client = connect(config.ledger.dsn)
        try:
            migrate(client)
            pipeline = Pipeline(config, client)
            asyncio.run(drive(pipeline, read_everything(pipeline, accepted, client)))
            rows = client.query(
                "SELECT toString(event_id) FROM events WHERE startsWith(topic, 'spool:')"
            ).result_rows
            assert sorted(r[0] for r in rows) == sorted(accepted)
            assert client.query("SELECT count() FROM quarantine").result_rows[0][0] == 0
            report = verify(client, Checkpoints(config.ledger.checkpoint_path))
            assert report.ok, [str(f) for f in report.broken]
        finally:
            client.close()
    return len(accepted), refused
