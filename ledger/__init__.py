"""The ClickHouse decision ledger: migrations, the sink from Kafka, hash chains, verify."""
