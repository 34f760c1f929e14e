-- Quarantine rows join their (topic, partition)'s hash chain: one chain over every position
-- in offset order, events and quarantine rows alike (the quarantine row hash is in
-- ledger/chain.py). Rows written before this migration keep empty hashes: verify counts them
-- as not covered, and accepts them only before the first chained quarantine row of a chain.
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS prev_hash String AFTER error;
ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS row_hash String AFTER prev_hash
