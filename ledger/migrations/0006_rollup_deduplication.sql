-- A retried insert (same deduplication token) is dropped by events; without a window of
-- their own, the rollups fed by its materialized views counted it again.
ALTER TABLE cost_by_agent_hour MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE handoff_outcomes MODIFY SETTING non_replicated_deduplication_window = 10000
