"""Server DDL: the cluster rewrite, the two users, and the quoting of what it interpolates.

ClickHouse's own parser (chdb's ``formatQuery`` and ``EXPLAIN AST``) reads the statements;
chdb has no access control, so the users, profile and grants are parsed there, not applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from handrail.ledger.errors import LedgerError
from handrail.ledger.ingest_sql import literal, table_name
from handrail.ledger.server_ddl import (
    FORENSICS_PROFILE,
    InvalidName,
    server_ddl,
    server_statements,
)
from handrail.schemas import registry
from handrail.settings import ReadSettings


def test_plain_server_ddl_is_the_migrations() -> None:
    ddl = server_ddl()
    assert "CREATE TABLE IF NOT EXISTS events" in ddl
    assert "ON CLUSTER" not in ddl
    assert "Replicated" not in ddl
    assert "CREATE USER" not in ddl


def test_cluster_variant_replicates_every_table() -> None:
    ddl = server_ddl(cluster="prod")
    assert "CREATE TABLE IF NOT EXISTS events ON CLUSTER prod" in ddl
    assert (
        "ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/events', '{replica}')"
        in ddl
    )
    assert (
        "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/"
        "cost_by_agent_hour', '{replica}')" in ddl
    )
    assert "CREATE MATERIALIZED VIEW IF NOT EXISTS cost_by_agent_hour_mv ON CLUSTER prod" in ddl
    assert " MergeTree" not in ddl.replace("ReplicatedMergeTree", "")


def test_users_can_append_and_read_but_not_alter() -> None:
    ddl = server_ddl("ledger", writer_password="w", reader_password="r")
    assert "GRANT INSERT, SELECT ON ledger.* TO handrail_writer;" in ddl
    assert "GRANT SELECT ON ledger.* TO handrail_forensics;" in ddl
    assert "SETTINGS readonly = 2," in ddl
    grants = [line for line in ddl.splitlines() if line.startswith("GRANT")]
    assert len(grants) == 2
    assert not [g for g in grants if "ALTER" in g or "DELETE" in g or " ALL" in g]


def test_the_ingest_table_and_view_of_the_current_schema_are_included() -> None:
    ddl = server_ddl("ledger", cluster="prod")
    assert "SET allow_suspicious_variant_types = 1;" in ddl
    ingest = table_name(registry().current)
    assert f"CREATE TABLE IF NOT EXISTS {ingest} ON CLUSTER prod" in ddl
    assert f"CREATE MATERIALIZED VIEW IF NOT EXISTS {ingest}_mv ON CLUSTER prod" in ddl
    assert ddl.index(f"{ingest}_mv") > ddl.index("raw_hex String")


EVIL = "it's\\ a ';\nDROP TABLE events; --"
"""A password with a quote, a backslash, a newline and a statement of its own."""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """ClickHouse's own parser and engine (chdb), to read the DDL as a server would."""
    from chdb import session

    s = session.Session(str(tmp_path_factory.mktemp("ddl")))
    yield s
    s.close()


def _one(engine: Any, sql: str) -> str:
    """The single value of a query's result (TSVRaw: unescaped)."""
    return str(engine.query(sql, "TSVRaw")).rstrip("\n")


def _parse(engine: Any, statement: str) -> str:
    """``statement`` as ClickHouse formats it; fails unless it is exactly one statement."""
    return _one(engine, f"SELECT formatQuery({literal(statement)})")


def test_every_statement_is_one_statement(engine: Any) -> None:
    statements = server_statements("ledger", "prod", EVIL, EVIL)
    assert (
        server_ddl("ledger", "prod", EVIL, EVIL) == "\n\n".join(f"{s};" for s in statements) + "\n"
    )
    for statement in statements:
        assert _parse(engine, statement)  # formatQuery refuses several statements


def test_a_password_stays_one_literal(engine: Any) -> None:
    users = [s for s in server_statements("ledger", None, EVIL, "r" + EVIL) if "CREATE USER" in s]
    passwords = []
    for statement in users:
        ast = _one(engine, f"EXPLAIN AST {statement}").splitlines()
        assert ast[0].startswith("CreateUserQuery")
        auth = next(i for i, line in enumerate(ast) if "AuthenticationData (children 1)" in line)
        literal_text = ast[auth + 1].strip().removeprefix("Literal ")
        passwords.append(_one(engine, f"SELECT {literal_text}"))  # the value ClickHouse reads
    assert passwords == [EVIL, "r" + EVIL]


def test_the_forensics_user_gets_the_limits_of_forensic_reads(engine: Any) -> None:
    reads = ReadSettings(max_seconds=12.5, max_rows=5_000, max_bytes=1 << 20)
    statements = server_statements("ledger", None, "w", "r", reads)
    [profile] = [s for s in statements if s.startswith("CREATE SETTINGS PROFILE")]
    assert _parse(engine, profile).endswith(
        f"`{FORENSICS_PROFILE}` SETTINGS readonly = 2, "
        "max_execution_time = 13 MIN 1 MAX 13, max_result_rows = 5000 MIN 1 MAX 5000, "
        "max_result_bytes = 1048576 MIN 1 MAX 1048576, result_overflow_mode = 'throw' CONST, "
        "timeout_overflow_mode = 'throw' CONST"
    )
    assert "max_result_rows = 100000 MIN 1 MAX 100000" in server_ddl("ledger", None, "w", "r")
    [user] = [s for s in statements if "CREATE USER IF NOT EXISTS handrail_forensics" in s]
    assert _parse(engine, user).endswith(f"SETTINGS PROFILE `{FORENSICS_PROFILE}`")
    assert statements.index(profile) < statements.index(user)


def test_the_ddl_applies_on_clickhouse(engine: Any) -> None:
    """Everything but the users applies on chdb. chdb has no access control: it refuses
    users, profiles and grants for want of rights (after parsing them), so their text is
    what the tests above check."""
    plain = server_statements("ledger")
    for statement in plain:
        engine.query(statement)
    for statement in server_statements("ledger", None, EVIL, EVIL)[len(plain) :]:
        with pytest.raises(Exception, match=r"ACCESS_DENIED|UNKNOWN_ROLE") as refused:
            engine.query(statement)
        assert "SYNTAX_ERROR" not in str(refused.value)
    tables = _one(
        engine,
        "SELECT arraySort(groupArray(name)) FROM system.tables WHERE database = currentDatabase()",
    )
    for name in (
        "events",
        "quarantine",
        "cost_by_agent_hour",
        "handoff_outcomes_mv",
        table_name(registry().current),
        "decision_path",
    ):
        assert f"'{name}'" in tables


@pytest.mark.parametrize(
    ("database", "cluster"),
    [("ledger; DROP TABLE events", None), ("default", "prod'x"), ("1st", None),
     ("db.x", None), ("default", "prod cluster"), ("", None)],
)  # fmt: skip
def test_a_database_or_cluster_name_that_is_not_plain_is_refused(
    database: str, cluster: str | None
) -> None:
    with pytest.raises(InvalidName, match="is not a plain identifier") as refused:
        server_ddl(database, cluster, "w", "r")
    assert isinstance(refused.value, LedgerError)
    assert repr(cluster if cluster and database == "default" else database) in str(refused.value)
