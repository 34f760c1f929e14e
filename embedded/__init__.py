"""The embedded pipeline: ``handrail run`` with no Kafka and no ClickHouse server (the
spool into a chdb ledger, the detectors, alerts and halts); with Kafka, it supervises the
sink and a processors worker.

May import: ``handrail.processors``, ``handrail.ledger``, the SDK and what is below;
never the demo or the command. Needs ``handrail[server]``.
"""
