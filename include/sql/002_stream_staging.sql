-- Staging of the streaming sink (nasaflow.sink). Executors COPY each micro-batch's rows
-- here, tagged with (query, batch_id); the driver then moves them into image_parameters and
-- dead_letters in the one transaction that records the batch in stream_batches, and deletes
-- them. So these tables only ever hold batches in flight.
-- UNLOGGED: no WAL for rows that live a few seconds (COPY is several times faster). A crash
-- of PostgreSQL empties them; the driver notices the missing rows when it commits (their
-- count must equal what the executors staged) and stages the batch again.
-- No index: rows are selected and deleted by (query, batch_id) among the few batches in
-- flight, where a sequential scan is cheaper than maintaining an index on every COPY.

CREATE UNLOGGED TABLE IF NOT EXISTS stream_staged_cells (
    query                  text NOT NULL,
    batch_id               bigint NOT NULL,
    kafka_partition        integer NOT NULL,
    kafka_offset           bigint NOT NULL,
    image_id               text NOT NULL,
    patch_size             integer NOT NULL,
    cell_row               integer NOT NULL,
    cell_col               integer NOT NULL,
    entropy                double precision,
    mean                   double precision,
    std                    double precision,
    fractal_dimension      double precision,
    skewness               double precision,
    kurtosis               double precision,
    uniformity             double precision,
    relative_smoothness    double precision,
    tamura_contrast        double precision,
    tamura_directionality  double precision,
    schema_version         integer NOT NULL,
    published_at           timestamptz
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
