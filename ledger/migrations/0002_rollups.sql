-- Rollups kept up to date by materialized views as rows arrive.
CREATE TABLE IF NOT EXISTS cost_by_agent_hour
(
    agent     LowCardinality(String),
    hour      DateTime('UTC'),
    cost_usd  Float64,
    events    UInt64
)
ENGINE = SummingMergeTree
ORDER BY (agent, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS cost_by_agent_hour_mv TO cost_by_agent_hour AS
SELECT agent, toStartOfHour(time) AS hour, sum(cost_usd) AS cost_usd, count() AS events
FROM events
GROUP BY agent, hour;

CREATE TABLE IF NOT EXISTS handoff_outcomes
(
    handoff_from  LowCardinality(String),
    handoff_to    LowCardinality(String),
    day           Date,
    offered       UInt64,
    accepted      UInt64,
    rejected      UInt64
)
ENGINE = SummingMergeTree
ORDER BY (handoff_from, handoff_to, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS handoff_outcomes_mv TO handoff_outcomes AS
SELECT handoff_from, handoff_to, toDate(time) AS day,
       countIf(type = 'handoff_offered') AS offered,
       countIf(type = 'handoff_accepted') AS accepted,
       countIf(type = 'handoff_rejected') AS rejected
FROM events
WHERE handoff_id != ''
GROUP BY handoff_from, handoff_to, day;
