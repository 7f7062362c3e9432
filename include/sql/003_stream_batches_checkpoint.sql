-- Progress of a streaming query is keyed by its checkpoint too, not by its name alone.
-- Batch ids restart at 0 with every new checkpoint (a deleted .local/, a fresh clone against
-- this database): keyed by (query, batch_id), the new checkpoint's batches 0, 1, 2... were
-- taken for the old checkpoint's and skipped, and their messages lost. checkpoint_id is
-- Spark's StreamingQuery.id, stored in the checkpoint: the same across restarts from one
-- checkpoint (so a replayed batch is still recognised), new for a new checkpoint.
-- Rows written before this migration get 'unknown': no checkpoint has that id, so at worst
-- the one batch a checkpoint of that time still replays is applied again (cells are
-- upserted, dead letters kept once), which is harmless.
-- No default afterwards: a writer that does not say which checkpoint it is must fail.
-- Applied once by nasaflow migrate, in one transaction; running it again changes nothing.

ALTER TABLE stream_batches
    ADD COLUMN IF NOT EXISTS checkpoint_id text NOT NULL DEFAULT 'unknown';
ALTER TABLE stream_batches ALTER COLUMN checkpoint_id DROP DEFAULT;
ALTER TABLE stream_batches DROP CONSTRAINT IF EXISTS stream_batches_pkey;
ALTER TABLE stream_batches ADD PRIMARY KEY (query, checkpoint_id, batch_id);
