"""Versioned, idempotent DDL: ``ledger/migrations/NNNN_name.sql`` applied in order once each,
recorded in ``schema_migrations``. Every statement is written to be safe to re-run. Then
the ingest table and view of the current event schema version (``ingest_sql.py``: named
after the version, created if missing), through which ClickHouse decodes events."""

from __future__ import annotations

from importlib import resources
from typing import Any

from handrail.ledger.errors import MigrationError
from handrail.ledger.ingest_sql import ingest_statements
from handrail.schemas import registry

SETTINGS = {"allow_suspicious_variant_types": 1}
"""The payload ``Variant`` holds records of the same types under other names
(``ingest_sql.row_schema``)."""
_TRACKING = """
CREATE TABLE IF NOT EXISTS schema_migrations
(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
ENGINE = MergeTree ORDER BY version
"""


def migrations() -> list[tuple[int, str, list[str]]]:
    """(version, name, statements) of every shipped migration, in order."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        version = int(entry.name.split("_", 1)[0])
        text = "\n".join(
            line for line in entry.read_text().splitlines() if not line.lstrip().startswith("--")
        )
        statements = [s.strip() for s in text.split(";") if s.strip()]
        found.append((version, entry.name, statements))
    return sorted(found)


def migrate(client: Any) -> list[str]:
    """Apply what is not yet applied; return the names applied now."""
    client.command(_TRACKING)
    done = {row[0] for row in client.query("SELECT version FROM schema_migrations").result_rows}
    applied = []
    for version, name, statements in migrations():
        if version in done:
            continue
        for statement in statements:
            try:
                client.command(statement)
            except Exception as exc:
                raise MigrationError(f"{name}: {exc}\n--- statement:\n{statement}") from exc
        client.insert("schema_migrations", [[version, name]], column_names=["version", "name"])
        applied.append(name)
    for statement in ingest_statements(registry().current):
        try:
            client.command(statement, settings=SETTINGS)
        except Exception as exc:
            raise MigrationError(f"ingest: {exc}\n--- statement:\n{statement}") from exc
    return applied
