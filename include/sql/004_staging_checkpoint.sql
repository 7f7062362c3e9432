-- Staged rows are keyed like stream_batches: (query, checkpoint_id, batch_id). Keyed by
-- (query, batch_id) only, a batch of one checkpoint could take, or clear, the staged rows
-- of the same batch id of another checkpoint of the same query name (batch ids restart at
-- 0 with every checkpoint).
-- Rows staged before this migration belong to attempts that never committed (staging only
-- holds batches in flight, see 002): they are deleted, and their batches are staged again
-- when Spark replays them. The tables are locked first, so no row can be staged between
-- the delete and the new NOT NULL column.
-- No default: a writer that does not say which checkpoint it stages for must fail.

LOCK TABLE stream_staged_cells, stream_staged_dead_letters IN ACCESS EXCLUSIVE MODE;
DELETE FROM stream_staged_cells;
DELETE FROM stream_staged_dead_letters;
ALTER TABLE stream_staged_cells ADD COLUMN IF NOT EXISTS checkpoint_id text NOT NULL;
ALTER TABLE stream_staged_dead_letters ADD COLUMN IF NOT EXISTS checkpoint_id text NOT NULL;
