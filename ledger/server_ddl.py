"""DDL for a ClickHouse server deployment (printed by ``handrail ledger ddl``).

The same migrations, ingest table and view as the embedded ledger, optionally rewritten for
a cluster (``ON CLUSTER`` and ``Replicated*MergeTree``), plus two users: a writer for the sink
(INSERT and SELECT only: it can append rows, never alter or delete them) and a read-only
forensics user for ``explain``/``sql``, bounded in time and result size by its settings
profile (``forensics_limits``). Pure text transformation; apply it with
``clickhouse-client --multiquery`` as an administrator.

Every value put into the text is quoted (``ingest_sql.literal``); the database and cluster
names must be plain identifiers (``InvalidName`` otherwise).
"""

from __future__ import annotations

import math
import re

from handrail.ledger.errors import LedgerError
from handrail.ledger.ingest_sql import ingest_statements, literal
from handrail.ledger.migrate import SETTINGS, migrations
from handrail.schemas import registry
from handrail.settings import ReadSettings

FORENSICS_PROFILE = "handrail_forensics_limits"


def forensics_limits(reads: ReadSettings) -> list[str]:
    """The forensics user's settings profile (``CREATE SETTINGS PROFILE`` clauses): reads
    only (``readonly = 2``: what ``handrail sql`` sets itself, so its client may still send
    its own bounds), within the bounds of ``reads`` (``ledger.reads``), which the user can
    lower but never lift or turn off (``MIN 1 MAX``), a result beyond them an error, never
    a truncated answer (``CONST``)."""
    bounds = {
        "max_execution_time": math.ceil(reads.max_seconds),
        "max_result_rows": reads.max_rows,
        "max_result_bytes": reads.max_bytes,
    }
    return [
        "readonly = 2",
        *(f"{name} = {int(v)} MIN 1 MAX {int(v)}" for name, v in bounds.items()),
        *(f"{name} = {literal('throw')} CONST" for name in _OVERFLOW_MODES),
    ]


_OVERFLOW_MODES = ("result_overflow_mode", "timeout_overflow_mode")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_CREATE = re.compile(
    r"^(CREATE (?:TABLE|MATERIALIZED VIEW|VIEW) IF NOT EXISTS )(\w+)", re.MULTILINE
)
_ENGINE = re.compile(r"ENGINE = (\w*)MergeTree\b(\(\))?")


class InvalidName(LedgerError, ValueError):  # noqa: N818 - a refusal, named as such
    """A database or cluster name for the server DDL that is not a plain identifier."""


def plain_name(what: str, name: str) -> str:
    """``name`` if it is a plain identifier (letters, digits, ``_``; not first a digit)."""
    if not _NAME.fullmatch(name):
        raise InvalidName(
            f"the {what} name {name!r} is not a plain identifier "
            "(letters, digits and _, not starting with a digit)"
        )
    return name


def cluster_statement(statement: str, cluster: str) -> str:
    """One migration statement rewritten for ``cluster`` (a plain identifier)."""
    cluster = plain_name("cluster", cluster)
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


def _setting(value: int | str) -> str:
    return literal(value) if isinstance(value, str) else str(int(value))


def users(
    database: str, writer_password: str, reader_password: str, reads: ReadSettings
) -> list[str]:
    """The writer, the forensics profile and the forensics user, and their grants."""
    database = plain_name("database", database)
    limits = ", ".join(forensics_limits(reads))
    return [
        f"CREATE USER IF NOT EXISTS handrail_writer IDENTIFIED BY {literal(writer_password)}",
        f"GRANT INSERT, SELECT ON {database}.* TO handrail_writer",
        f"CREATE SETTINGS PROFILE IF NOT EXISTS {FORENSICS_PROFILE} SETTINGS {limits}",
        f"CREATE USER IF NOT EXISTS handrail_forensics IDENTIFIED BY {literal(reader_password)} "
        f"SETTINGS PROFILE {FORENSICS_PROFILE}",
        f"GRANT SELECT ON {database}.* TO handrail_forensics",
    ]


def server_statements(
    database: str = "default",
    cluster: str | None = None,
    writer_password: str | None = None,
    reader_password: str | None = None,
    reads: ReadSettings | None = None,
) -> list[str]:
    """Every statement, in order (the users only with both passwords; the forensics
    user's limits: ``reads``, by default ``ReadSettings``' defaults)."""
    database = plain_name("database", database)
    ingest = [
        *(f"SET {plain_name('setting', name)} = {_setting(v)}" for name, v in SETTINGS.items()),
        *ingest_statements(registry().current),
    ]
    statements = [
        cluster_statement(s, cluster) if cluster else s
        for s in [*(s for _, _, batch in migrations() for s in batch), *ingest]
    ]
    if writer_password and reader_password:
        statements += users(database, writer_password, reader_password, reads or ReadSettings())
    return statements


def server_ddl(
    database: str = "default",
    cluster: str | None = None,
    writer_password: str | None = None,
    reader_password: str | None = None,
    reads: ReadSettings | None = None,
) -> str:
    """Every statement, ``;``-terminated, in order."""
    statements = server_statements(database, cluster, writer_password, reader_password, reads)
    return "\n\n".join(f"{s};" for s in statements) + "\n"
