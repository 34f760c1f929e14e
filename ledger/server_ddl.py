"""DDL for a ClickHouse server deployment (printed by ``handrail ledger ddl``).

The same migrations, ingest table and view as the embedded ledger, optionally rewritten for
a cluster (``ON CLUSTER`` and ``Replicated*MergeTree``), plus two users: a writer for the sink
(INSERT and SELECT only: it can append rows, never alter or delete them) and a read-only
forensics user for ``explain``/``sql``. Pure text transformation; apply it with
``clickhouse-client --multiquery`` as an administrator.
"""

from __future__ import annotations

import re

from handrail.ledger.ingest_sql import ingest_statements
from handrail.ledger.migrate import SETTINGS, migrations
from handrail.schemas import registry

_CREATE = re.compile(
    r"^(CREATE (?:TABLE|MATERIALIZED VIEW|VIEW) IF NOT EXISTS )(\w+)", re.MULTILINE
)
_ENGINE = re.compile(r"ENGINE = (\w*)MergeTree\b(\(\))?")


def cluster_statement(statement: str, cluster: str) -> str:
    """One migration statement rewritten for ``cluster``."""
    statement = _CREATE.sub(rf"\g<1>\g<2> ON CLUSTER {cluster}", statement)
    table = _CREATE.search(statement)
    name = table.group(2) if table else "table"
    return _ENGINE.sub(
        lambda m: (
            f"ENGINE = Replicated{m.group(1)}MergeTree("
            f"'/clickhouse/tables/{{shard}}/{{database}}/{name}', '{{replica}}')"
        ),
        statement,
    )


def users(database: str, writer_password: str, reader_password: str) -> list[str]:
    return [
        f"CREATE USER IF NOT EXISTS handrail_writer IDENTIFIED BY '{writer_password}'",
        f"GRANT INSERT, SELECT ON {database}.* TO handrail_writer",
        f"CREATE USER IF NOT EXISTS handrail_forensics IDENTIFIED BY '{reader_password}' "
        "SETTINGS readonly = 1",
        f"GRANT SELECT ON {database}.* TO handrail_forensics",
    ]


def server_ddl(
    database: str = "default",
    cluster: str | None = None,
    writer_password: str | None = None,
    reader_password: str | None = None,
) -> str:
    """Every statement, ``;``-terminated, in order."""
    ingest = [
        *(f"SET {name} = {value}" for name, value in SETTINGS.items()),
        *ingest_statements(registry().current),
    ]
    statements = [
        cluster_statement(s, cluster) if cluster else s
        for s in [*(s for _, _, batch in migrations() for s in batch), *ingest]
    ]
    if writer_password and reader_password:
        statements += users(database, writer_password, reader_password)
    return "\n\n".join(f"{s};" for s in statements) + "\n"
