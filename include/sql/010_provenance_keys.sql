-- cell_provenance's key is a 2-byte identity: 32,767 values. INSERT ... ON CONFLICT DO
-- NOTHING draws a value from the identity's sequence even when the row already exists,
-- and both writers did that on every write: the sink once per micro-batch, the
-- image_parameters view's trigger once per row. After 32,767 batches (years of daily
-- ingest) or rows written through the view, every later write failed with "reached
-- maximum value of sequence". Now a value is drawn only for a provenance not stored yet
-- (provenance_key here; the sink's statement in nasaflow.sink.commit), and the sequence
-- continues after the largest key in use, so the values drawn in vain are free again.

CREATE FUNCTION provenance_key(version integer, conv text, calc text) RETURNS smallint
    LANGUAGE plpgsql AS $$
DECLARE
    key smallint;
BEGIN
    SELECT provenance INTO key FROM cell_provenance
     WHERE schema_version = version AND convention IS NOT DISTINCT FROM conv
       AND calculator_version IS NOT DISTINCT FROM calc;
    IF FOUND THEN
        RETURN key;
    END IF;
    INSERT INTO cell_provenance (schema_version, convention, calculator_version)
    VALUES (version, conv, calc) ON CONFLICT DO NOTHING RETURNING provenance INTO key;
    IF key IS NULL THEN  -- a concurrent writer stored it first: its row is visible now
        SELECT provenance INTO key FROM cell_provenance
         WHERE schema_version = version AND convention IS NOT DISTINCT FROM conv
           AND calculator_version IS NOT DISTINCT FROM calc;
    END IF;
    RETURN key;
END
$$;

-- The view's INSERT trigger, as 007 made it but taking its provenance from
-- provenance_key (the parameter columns listed from image_cells, in their order).
DO $cells$
DECLARE
    parameters text[] := ARRAY(
        SELECT quote_ident(column_name) FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = 'image_cells'
           AND data_type = 'double precision' ORDER BY ordinal_position);
BEGIN
    EXECUTE format($insert$
        CREATE OR REPLACE FUNCTION image_parameters_insert() RETURNS trigger
            LANGUAGE plpgsql AS $body$
        DECLARE
            key integer;
            observed timestamptz;
            -- First, as in 007: a version 2 row without its convention is refused here.
            origin smallint := provenance_key(NEW.schema_version, NEW.convention,
                                              NEW.calculator_version);
        BEGIN
            SELECT image_key, observed_at INTO key, observed FROM image_keys
             WHERE image_id = NEW.image_id;
            IF NOT FOUND THEN
                INSERT INTO image_keys (image_id, observed_at)
                SELECT NEW.image_id, coalesce(NEW.observed_at, (SELECT observed_at FROM images
                                                                 WHERE id = NEW.image_id))
                RETURNING image_key, observed_at INTO key, observed;
            END IF;
            INSERT INTO image_cells (published_at, landed_at, %1$s, image_key, patch_size,
                                     cell_row, cell_col, observed_on, provenance)
            VALUES (NEW.published_at, coalesce(NEW.landed_at, now()), %2$s, key,
                    NEW.patch_size, NEW.cell_row, NEW.cell_col, observation_day(observed),
                    origin);
            RETURN NEW;
        END
        $body$
        $insert$, array_to_string(parameters, ', '),
        array_to_string(ARRAY(SELECT 'NEW.' || p FROM unnest(parameters) AS p), ', '));
END
$cells$;

SELECT setval(pg_get_serial_sequence('cell_provenance', 'provenance'),
              coalesce(max(provenance), 1), max(provenance) IS NOT NULL)
  FROM cell_provenance;
