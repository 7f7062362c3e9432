-- Least privilege in the data database. Three roles, all created by `make up` (ops/up.sh):
--   owner  (NASAFLOW_DB_OWNER_URL): owns every object, runs these migrations, and is the
--          only role with maintenance rights: creating partitions, refreshing materialized
--          views and any other DDL run as a migration or an owner-run maintenance task;
--   writer (NASAFLOW_DB_URL): ingest and the stream sink, rows only (SELECT, INSERT,
--          UPDATE, DELETE), no DDL, no TRUNCATE, no write to schema_migrations;
--   reader (NASAFLOW_DB_READER_URL): the UI page inside Airflow's api-server, SELECT only.
-- The writer and reader role names come from their URLs: nasaflow migrate sets them as
-- nasaflow.writer_role and nasaflow.reader_role. Default privileges give both roles the
-- same rights on every table and sequence the owner creates in later migrations.
DO $$
DECLARE
    writer text := current_setting('nasaflow.writer_role');
    reader text := current_setting('nasaflow.reader_role');
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), writer);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), reader);
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I, %I', writer, reader);

    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I',
                   writer);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM %I', writer);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', writer);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', reader);

    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public'
                   ' GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', writer);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public'
                   ' GRANT USAGE, SELECT ON SEQUENCES TO %I', writer);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO %I',
                   reader);
END
$$;
