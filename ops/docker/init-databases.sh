#!/usr/bin/env bash
# First start of the compose PostgreSQL: Airflow's role and metadata database, and the data
# database's three roles (owner: migrations and maintenance; writer: ingest and the stream
# sink; reader: the UI page) with the owner's databases nasaflow and nasaflow_test.
# Passwords reach psql as variables read from the environment, never as SQL text;
# include/sql/006_roles.sql grants each role its rights. The server settings `make up`
# installs (ops/postgres/nasaflow.conf, mounted read-only) apply from the server's next start.
set -euo pipefail
echo "include '/etc/postgresql/nasaflow.conf'" >>"$PGDATA/postgresql.conf"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<'SQL'
\getenv airflow_password AIRFLOW_DB_PASSWORD
\getenv owner_password NASAFLOW_DB_PASSWORD
\getenv writer_password NASAFLOW_DB_WRITER_PASSWORD
\getenv reader_password NASAFLOW_DB_READER_PASSWORD
CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE nasaflow LOGIN PASSWORD :'owner_password';
CREATE ROLE nasaflow_writer LOGIN PASSWORD :'writer_password';
CREATE ROLE nasaflow_reader LOGIN PASSWORD :'reader_password';
CREATE DATABASE nasaflow OWNER nasaflow;
CREATE DATABASE nasaflow_test OWNER nasaflow;
SQL
