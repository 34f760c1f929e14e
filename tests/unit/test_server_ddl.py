"""Server DDL: the cluster rewrite and the two users."""

from __future__ import annotations

from handrail.ledger.server_ddl import server_ddl


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
    assert "SETTINGS readonly = 1" in ddl
    grants = [line for line in ddl.splitlines() if line.startswith("GRANT")]
    assert len(grants) == 2
    assert not [g for g in grants if "ALTER" in g or "DELETE" in g or " ALL" in g]


def test_the_ingest_table_and_view_of_the_current_schema_are_included() -> None:
    ddl = server_ddl("ledger", cluster="prod")
    assert "SET allow_suspicious_variant_types = 1;" in ddl
    assert "CREATE TABLE IF NOT EXISTS events_ingest_v2 ON CLUSTER prod" in ddl
    assert "CREATE MATERIALIZED VIEW IF NOT EXISTS events_ingest_v2_mv ON CLUSTER prod" in ddl
    assert ddl.index("events_ingest_v2_mv") > ddl.index("raw_hex String")
