"""Schema versions: pinned fingerprints, backward compatibility, generated models up to date.

The compatibility rule (docs/schemas.md): a new version may only add fields with defaults,
add payload types (union branches), or add enum symbols when the enum has a default. The
newest schema must read every released version's messages; the released files never change.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from io import BytesIO
from pathlib import Path

from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import parse
from fastavro import schemaless_writer

from handrail.schemas import decode, from_record, registry
from handrail.schemas.registry import MAGIC
from tests.support.samples import NOW

ROOT = Path(__file__).resolve().parents[2]

# Released versions are immutable: changing a released .avsc breaks every reader of old data.
RELEASED = {
    1: "3065dca5f332c20c",
    2: "834137778d8a1cc7",
    3: "4180c5cc27888949",
}


def test_released_fingerprints_are_pinned() -> None:
    assert {v.version: v.fingerprint.hex() for v in registry().versions} == RELEASED


def test_every_version_is_readable_by_every_later_one() -> None:
    versions = registry().versions
    checker = ReaderWriterCompatibilityChecker()
    for i, older in enumerate(versions):
        for newer in versions[i + 1 :]:
            result = checker.get_compatibility(
                parse(json.dumps(newer.schema)), parse(json.dumps(older.schema))
            )
            assert result.compatibility is SchemaCompatibilityType.compatible, (
                f"v{newer.version} cannot read v{older.version}: {result.messages}"
            )


def test_current_reader_reads_a_v1_message() -> None:
    v1 = next(v for v in registry().versions if v.version == 1)
    record = {
        "event_id": str(uuid.uuid4()),
        "time": NOW,
        "workflow_id": "wf-old",
        "causation_id": None,
        "agent": {"name": "legacy", "version": "0.9", "owner": "team-old"},
        "session_id": "s-old",
        "sequence": 7,
        "payload": (
            "handrail.Retry",
            {"action": "api.call", "operation_id": "op", "attempt": 3, "reason": "502"},
        ),
    }
    out = BytesIO()
    out.write(MAGIC + v1.fingerprint)
    schemaless_writer(out, v1.parsed, record)
    writer, decoded = decode(out.getvalue())
    assert writer.version == 1
    event = from_record(decoded)
    assert event.labels == {}  # added in v2 with a default
    assert event.sequence == 7
    assert event.payload.type == "retry"
    assert event.payload.attempt == 3  # type: ignore[union-attr]
    _, plain = decode(out.getvalue(), logical=False)  # the ledger's read resolves it too
    assert plain["labels"] == {}
    assert plain["event_id"] == record["event_id"]
    assert plain["time"] == int(NOW.timestamp()) * 1_000_000 + NOW.microsecond


def test_generated_models_match_the_schema() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_models.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
