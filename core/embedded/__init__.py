"""The embedded pipeline: ``handrail run`` with no Kafka and no ClickHouse server."""
