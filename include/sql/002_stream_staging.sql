-- Staging of the streaming sink (nasaflow.sink). Executors COPY each micro-batch's rows
-- here, tagged with (query, batch_id); the driver then moves them into image_parameters and
-- dead_letters in the one transaction that records the batch in stream_batches, and deletes
-- them. So these tables only ever hold batches in flight.
-- UNLOGGED: no WAL for rows that live a few seconds (COPY is several times faster). A crash
-- of PostgreSQL empties them; the driver notices the missing rows when it commits (their
-- count must equal what the executors staged) and stages the batch again.
-- No index: rows are selected and deleted by (query, batch_id) among the few batches in
-- flight, where a sequential scan is cheaper than maintaining an index on every COPY.

-- A staged cell is a row of image_parameters tagged with its batch and Kafka coordinates:
-- its columns are image_parameters' own (LIKE), so the parameter columns are named in one
-- migration only (001). NOT NULL and defaults come along, CHECKs and indexes do not.
-- (Databases migrated before this wording hold the same columns spelled out, less
-- landed_at, which staging never uses.)
CREATE UNLOGGED TABLE IF NOT EXISTS stream_staged_cells (
    query                  text NOT NULL,
    batch_id               bigint NOT NULL,
    kafka_partition        integer NOT NULL,
    kafka_offset           bigint NOT NULL,
    LIKE image_parameters INCLUDING DEFAULTS
);

CREATE UNLOGGED TABLE IF NOT EXISTS stream_staged_dead_letters (
    query           text NOT NULL,
    batch_id        bigint NOT NULL,
    topic           text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset    bigint NOT NULL,
    message_key     bytea,
    message_value   bytea,
    reason          text NOT NULL
);

-- The landing check and operators look up dead letters by image id (the message key).
CREATE INDEX IF NOT EXISTS dead_letters_message_key_idx ON dead_letters (message_key);
