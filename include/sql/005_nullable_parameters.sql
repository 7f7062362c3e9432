-- Undefined parameter values are NULL, and every cell says how its values were computed.
-- Version 2 messages carry null for a value the lab's definition leaves undefined (the
-- skewness or kurtosis of a constant cell) and name the statistical convention ("toolkit"
-- or "published") and the calculators' version that produced the values. The sink stores
-- both with each cell, from the same message as its values, so cells computed under
-- different rules are never mixed silently: select or recompute by these columns.
-- Cells landed before (and version 1 messages still in Kafka) keep NULL in both columns:
-- their convention and calculator version were not recorded.
-- The parameter columns are found in the catalogue (double precision columns of
-- image_parameters) rather than listed again here: 001 is the one place that names them.
-- Applied once by nasaflow migrate, in one transaction; running it again changes nothing.

ALTER TABLE image_parameters
    ADD COLUMN IF NOT EXISTS convention text,
    ADD COLUMN IF NOT EXISTS calculator_version text;
ALTER TABLE stream_staged_cells
    ADD COLUMN IF NOT EXISTS convention text,
    ADD COLUMN IF NOT EXISTS calculator_version text;

-- Version 2 rows must say how they were computed; version 1 rows cannot.
ALTER TABLE image_parameters DROP CONSTRAINT IF EXISTS image_parameters_convention_recorded;
ALTER TABLE image_parameters ADD CONSTRAINT image_parameters_convention_recorded CHECK (
    schema_version < 2 OR (convention IS NOT NULL AND calculator_version IS NOT NULL));

-- Every parameter column accepts NULL (001 created them so; a table made otherwise is
-- brought in line, since a NOT NULL column would refuse every batch carrying a null).
DO $$
DECLARE
    parameter record;
BEGIN
    FOR parameter IN
        SELECT c.table_name, c.column_name
          FROM information_schema.columns AS c
         WHERE c.table_schema = current_schema()
           AND c.table_name IN ('image_parameters', 'stream_staged_cells')
           AND c.data_type = 'double precision'
           AND c.is_nullable = 'NO'
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I DROP NOT NULL',
                       parameter.table_name, parameter.column_name);
    END LOOP;
END
$$;
