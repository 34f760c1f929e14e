-- Each event row keeps its Kafka message as the producer wrote it (hex): the hash chain
-- covers these bytes, and the event is decoded from them (ledger/chain.py). The tables and
-- views through which ClickHouse decodes the messages itself are created by migrate for
-- the current schema version (ledger/ingest_sql.py).
ALTER TABLE events ADD COLUMN IF NOT EXISTS raw_hex String AFTER row_hash
