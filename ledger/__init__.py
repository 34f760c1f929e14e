"""The ClickHouse decision ledger: migrations, rows and hash chains, the writer and the sink
from Kafka, verify, explain, the readers.

May import: ``handrail.schemas``, ``handrail.settings``, ``handrail.files`` and what is
below, clickhouse-connect (chdb); never the SDK, the processors or the embedded pipeline.
Needs ``handrail[server]``.
"""
