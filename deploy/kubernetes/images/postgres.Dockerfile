# PostgreSQL for deploy/kubernetes/postgres.yaml: the official image, pg_partman (migration
# 007 keeps image_parameters' monthly partitions with it) and the project's first-start script
# that creates Airflow's and nasaflow's roles and databases.
# Build from the repository root: docker build -f deploy/kubernetes/images/postgres.Dockerfile .
FROM postgres:15-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15-partman \
 && rm -rf /var/lib/apt/lists/*
COPY ops/docker/init-databases.sh /docker-entrypoint-initdb.d/10-init-databases.sh
