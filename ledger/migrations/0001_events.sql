-- The decision ledger: one row per event, never updated or replaced (plain MergeTree).
-- Typed columns are what forensics filters on; event_json keeps the whole event.
-- prev_hash/row_hash chain the rows of each (topic, partition) in offset order.
CREATE TABLE IF NOT EXISTS events
(
    event_id        UUID,
    type            LowCardinality(String),
    time            DateTime64(6, 'UTC'),
    workflow_id     String,
    causation_id    String,
    agent           LowCardinality(String),
    agent_version   LowCardinality(String),
    owner           LowCardinality(String),
    session_id      String,
    sequence        UInt64,
    action          LowCardinality(String),
    resource        String,
    reason          String,
    cost_usd        Float64,
    effect          LowCardinality(String),
    rule            String,
    checks_passed   Array(String),
    checks_failed   Array(String),
    handoff_id      String,
    handoff_from    LowCardinality(String),
    handoff_to      LowCardinality(String),
    approval_id     String,
    approval_state  LowCardinality(String),
    schema_version  UInt16,
    event_json      String,
    topic           LowCardinality(String),
    partition       UInt32,
    offset          UInt64,
    prev_hash       String,
    row_hash        String,
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_event_id event_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_position (topic, partition, offset) TYPE minmax GRANULARITY 4,
    PROJECTION by_agent (SELECT * ORDER BY agent, time)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (workflow_id, time, sequence)
SETTINGS non_replicated_deduplication_window = 10000;

-- Messages that could not be decoded: kept with their raw bytes (hex), never dropped.
CREATE TABLE IF NOT EXISTS quarantine
(
    topic        LowCardinality(String),
    partition    UInt32,
    offset       UInt64,
    key_hex      String,
    raw_hex      String,
    error_type   LowCardinality(String),
    error        String,
    received_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (topic, partition, offset)
SETTINGS non_replicated_deduplication_window = 10000;
