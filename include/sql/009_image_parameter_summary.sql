-- Full-disk statistics per image, kept next to the cells, for time series at archive scale.
-- A month of one channel at 6-minute cadence is 7,200 images and 29 million cells: the
-- time series of one parameter (one line per channel: mean and a p10-p90 band over the
-- cells on the solar disk) cannot read the cells on each request. So every image gets, per
-- patch size and parameter, one row of image_parameter_summary:
--   mean, p10, p50, p90  over the cells whose centre lies inside the solar disk, null
--                        values left out (percentile_cont, interpolated);
--   n_cells, n_null      on-disk cells with a value, and on-disk cells whose value is null
--                        (undefined, e.g. the skewness of a constant cell): shown, not hidden.
-- The disk is the image's own (image_disk below): centre and radius from the Helioviewer
-- metadata stored in images.source_ref, scaled to the stored image's pixels. An image
-- without that metadata (APOD, or an image whose cells landed before it was registered)
-- has no summary until it has.
-- Kept current in the writers' transactions, never by a later job:
--   the stream sink calls refresh_image_parameter_summary(keys) for the images of every
--   micro-batch, in the transaction that upserts their cells (nasaflow.sink.commit);
--   registering an image, or changing its size or metadata, refreshes its summary
--   (triggers on images), so cells that landed first are summarised once it is known.
-- Also: indexes for the image list's filters and keyset pages (newest first, overall and
-- by channel). Applied once by nasaflow migrate, in one transaction; the summaries of the
-- cells already stored are computed here.

-- A JSON number as double precision; NULL for anything else (absent, text, null).
CREATE FUNCTION json_number(value jsonb) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN jsonb_typeof(value) = 'number' THEN value::double precision END;

-- Where the solar disk is in an image's pixels: centre (x from the left edge, y from the
-- top edge) and radius; all NULL when the image's metadata does not say. Helioviewer's
-- refPixelX/Y are FITS reference pixels (1-based, y counted from the bottom row, which the
-- JP2 stores last) and rsun is in pixels of the observation (metadata width and height,
-- i.e. NAXIS1/2); a JP2 stored at a reduced size is scaled to its own pixels. The one
-- place that reads the disk geometry.
CREATE FUNCTION image_disk(source_ref jsonb, width integer, height integer,
                           OUT x double precision, OUT y double precision,
                           OUT r double precision)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (m.ref_x - 0.5) * width / m.naxis1, (m.naxis2 - m.ref_y + 0.5) * height / m.naxis2,
           m.rsun * width / m.naxis1
      FROM (SELECT json_number(meta -> 'refPixelX') AS ref_x,
                   json_number(meta -> 'refPixelY') AS ref_y,
                   nullif(greatest(json_number(meta -> 'rsun'), 0), 0) AS rsun,
                   coalesce(nullif(json_number(meta -> 'width'), 0), width) AS naxis1,
                   coalesce(nullif(json_number(meta -> 'height'), 0), height) AS naxis2
              FROM (SELECT source_ref -> 'metadata' AS meta) AS s) AS m
     WHERE m.ref_x IS NOT NULL AND m.ref_y IS NOT NULL AND m.rsun IS NOT NULL
$$;

CREATE TABLE image_parameter_summary (
    image_key   integer NOT NULL,           -- image_keys.image_key
    patch_size  integer NOT NULL,
    parameter   text NOT NULL,              -- a parameter column of image_cells
    mean        double precision,           -- NULL when every on-disk value is null
    p10         double precision,
    p50         double precision,
    p90         double precision,
    n_cells     integer NOT NULL,           -- on-disk cells with a value
    n_null      integer NOT NULL,           -- on-disk cells whose value is null
    PRIMARY KEY (image_key, patch_size, parameter)
);

DO $summary$
DECLARE
    -- The parameter columns, named once (001): the double precision columns of the cells
    -- (published_at and landed_at are timestamps).
    parameters text[] := ARRAY(
        SELECT column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = 'image_cells'
           AND data_type = 'double precision' ORDER BY ordinal_position);
    aggregates text := array_to_string(ARRAY(
        SELECT format('avg(c.%1$I) AS %2$I, percentile_cont(ARRAY[0.1, 0.5, 0.9])'
                      ' WITHIN GROUP (ORDER BY c.%1$I) AS %3$I, count(c.%1$I) AS %4$I',
                      p, p || '_mean', p || '_q', p || '_n')
          FROM unnest(parameters) AS p), ', ');
    unpivot text := array_to_string(ARRAY(
        SELECT format('(%L, s.%I, s.%I, s.%I)', p, p || '_mean', p || '_q', p || '_n')
          FROM unnest(parameters) AS p), ', ');
    writer text := current_setting('nasaflow.writer_role');
    reader text := current_setting('nasaflow.reader_role');
BEGIN
    -- The summary of images `keys` from their stored cells, upserted; returns the rows
    -- written. One scan of each image's cells: ten sorts of its on-disk values per patch
    -- size, no row per (cell, parameter). The statement is planned with the images' days
    -- as values (EXECUTE ... USING), so only their partitions are opened, and the disk of
    -- each image is computed once, before its cells are read, by index, image by image
    -- (the keys are named on the cells too, and nested loops are allowed whatever the
    -- caller set: the sink turns them off for its own statements; either way a scan of
    -- whole partitions is never the cheaper plan). Cell centres in float8, not numeric.
    EXECUTE format($function$
        CREATE FUNCTION refresh_image_parameter_summary(keys integer[]) RETURNS bigint
            LANGUAGE plpgsql SET enable_nestloop = on AS $body$
        DECLARE
            days date[] := ARRAY(SELECT DISTINCT observation_day(observed_at)
                                   FROM image_keys WHERE image_key = ANY(keys));
            written bigint;
        BEGIN
            EXECUTE $statement$
            WITH disk AS MATERIALIZED (
                SELECT k.image_key, observation_day(k.observed_at) AS observed_on,
                       d.x, d.y, d.r
                  FROM image_keys AS k
                  JOIN images AS i ON i.id = k.image_id
                 CROSS JOIN LATERAL image_disk(i.source_ref, i.width, i.height) AS d
                 WHERE k.image_key = ANY($1) AND d.r IS NOT NULL
            ), stats AS (
                SELECT c.image_key, c.patch_size, count(*) AS on_disk, %1$s
                  FROM disk
                  JOIN image_cells AS c ON c.image_key = disk.image_key
                                       AND c.observed_on = disk.observed_on
                 WHERE c.observed_on = ANY($2) AND c.image_key = ANY($1)
                   AND ((c.cell_col::float8 + 0.5) * c.patch_size - disk.x) ^ 2
                       + ((c.cell_row::float8 + 0.5) * c.patch_size - disk.y) ^ 2
                       <= disk.r ^ 2
                 GROUP BY c.image_key, c.patch_size
            ), upserted AS (
                INSERT INTO image_parameter_summary AS t (image_key, patch_size, parameter,
                                                          mean, p10, p50, p90, n_cells, n_null)
                SELECT s.image_key, s.patch_size, v.parameter, v.mean, v.q[1], v.q[2],
                       v.q[3], v.n, s.on_disk - v.n
                  FROM stats AS s
                 CROSS JOIN LATERAL (VALUES %2$s) AS v (parameter, mean, q, n)
                ON CONFLICT (image_key, patch_size, parameter) DO UPDATE SET
                    mean = EXCLUDED.mean, p10 = EXCLUDED.p10, p50 = EXCLUDED.p50,
                    p90 = EXCLUDED.p90, n_cells = EXCLUDED.n_cells, n_null = EXCLUDED.n_null
                RETURNING 1
            )
            SELECT count(*) FROM upserted
            $statement$ INTO written USING keys, days;
            RETURN written;
        END
        $body$
        $function$, aggregates, unpivot);

    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON image_parameter_summary TO %I',
                   writer);
    EXECUTE format('GRANT SELECT ON image_parameter_summary TO %I', reader);
END
$summary$;

-- An image registered, resized or given new metadata: its summary follows.
CREATE FUNCTION images_refresh_summary() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    key integer := (SELECT image_key FROM image_keys WHERE image_id = NEW.id);
BEGIN
    IF key IS NOT NULL THEN  -- usually not: an image is registered before its cells land
        PERFORM refresh_image_parameter_summary(ARRAY[key]);
    END IF;
    RETURN NULL;
END
$body$;
CREATE TRIGGER images_refresh_summary_insert AFTER INSERT ON images
    FOR EACH ROW EXECUTE FUNCTION images_refresh_summary();
CREATE TRIGGER images_refresh_summary_update AFTER UPDATE ON images
    FOR EACH ROW WHEN ((OLD.source_ref, OLD.width, OLD.height)
                       IS DISTINCT FROM (NEW.source_ref, NEW.width, NEW.height))
    EXECUTE FUNCTION images_refresh_summary();

-- The image list: newest first overall and per channel, a page continuing from the last
-- row shown (keyset: (observed_at, id) below it), each an index range scan.
CREATE INDEX images_observed_at_id_idx ON images (observed_at, id);
CREATE INDEX images_wavelength_observed_at_id_idx ON images (wavelength, observed_at, id);

-- The summaries of the cells already stored, a thousand images at a time.
DO $backfill$
DECLARE
    low integer := 0;
    high integer := (SELECT max(image_key) FROM image_keys);
BEGIN
    WHILE low <= high LOOP
        PERFORM refresh_image_parameter_summary(ARRAY(
            SELECT image_key FROM image_keys WHERE image_key >= low AND image_key < low + 1000));
        low := low + 1000;
    END LOOP;
END
$backfill$;
