#!/usr/bin/env bash
# First start of the compose PostgreSQL: one role and one database each for Airflow's
# metadata and for nasaflow's data, passwords from .env.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" <<SQL
CREATE ROLE airflow LOGIN PASSWORD '${AIRFLOW_DB_PASSWORD}';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE nasaflow LOGIN PASSWORD '${NASAFLOW_DB_PASSWORD}';
CREATE DATABASE nasaflow OWNER nasaflow;
SQL
