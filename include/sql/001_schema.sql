-- nasaflow data schema, version 1. Applied once by `make up` (nasaflow migrate).
-- Every write path is an upsert on a natural key, so re-running any step changes nothing
-- that is already complete.

-- One row per verified image in the image store.
CREATE TABLE IF NOT EXISTS images (
    id           text PRIMARY KEY,          -- file stem, stable across mirrors and re-runs
    source       text NOT NULL,             -- helioviewer | apod
    instrument   text NOT NULL,             -- AIA, HMI, APOD
    wavelength   text NOT NULL,             -- 193, 304, continuum, magnetogram, apod
    observed_at  timestamptz NOT NULL,
    width        integer NOT NULL CHECK (width > 0),
    height       integer NOT NULL CHECK (height > 0),
    sha256       char(64) NOT NULL,
    path         text NOT NULL,
    size_bytes   bigint NOT NULL,
    source_ref   jsonb NOT NULL DEFAULT '{}'::jsonb,  -- provider id, url, response metadata
    registered_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS images_observed_at_idx ON images (observed_at);

-- Images that stayed corrupt after retries, with the reason; kept for inspection.
CREATE TABLE IF NOT EXISTS quarantined_images (
    id              text PRIMARY KEY,       -- the image id it would have had, or the request
    source          text NOT NULL,
    reason          text NOT NULL,
    path            text,                   -- where the bad bytes were moved, if any
    request         jsonb NOT NULL DEFAULT '{}'::jsonb,
    quarantined_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per image cell; one double precision column per parameter
-- (names as in docs: entropy ... tamura_directionality).
CREATE TABLE IF NOT EXISTS image_parameters (
    image_id               text NOT NULL,
    patch_size             integer NOT NULL CHECK (patch_size > 0),
    cell_row               integer NOT NULL CHECK (cell_row >= 0),
    cell_col               integer NOT NULL CHECK (cell_col >= 0),
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
    published_at           timestamptz,     -- when the producer sent the message
    landed_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, patch_size, cell_row, cell_col)
);

-- One row per committed micro-batch of a streaming query; written in the same
-- transaction as the batch's rows, so a replayed batch id is recognised and skipped.
CREATE TABLE IF NOT EXISTS stream_batches (
    query          text NOT NULL,
    batch_id       bigint NOT NULL,
    rows           integer NOT NULL,
    dead_letters   integer NOT NULL DEFAULT 0,
    start_offsets  jsonb,
    end_offsets    jsonb,
    max_lag_seconds double precision,       -- now() - oldest Kafka timestamp in the batch
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (query, batch_id)
);

-- Messages the stream could not accept, with the reason and Kafka coordinates.
CREATE TABLE IF NOT EXISTS dead_letters (
    topic          text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset   bigint NOT NULL,
    message_key    bytea,
    message_value  bytea,
    reason         text NOT NULL,
    query          text NOT NULL,
    batch_id       bigint NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, kafka_partition, kafka_offset)
);
