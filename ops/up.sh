#!/usr/bin/env bash
# make up: start PostgreSQL, Kafka, the replay server and Airflow, and wait until healthy;
# with PROFILE=cluster, PostgreSQL and the cluster profile's engines instead.
# Idempotent: what already runs is left alone. `make down` stops only what this started.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
load_env
require_java
mkdir -p "$LOGS" "$RUN" "$AIRFLOW_HOME"

# --- PostgreSQL (Debian cluster) ------------------------------------------------------------
cluster=$(pg_cluster)
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  [ -n "$version" ] || die "PostgreSQL is not installed: run 'make setup'"
  say "creating PostgreSQL cluster $version/main"
  pg_createcluster "$version" main >/dev/null
  cluster="$version main"
fi
read -r pg_version pg_name <<<"$cluster"
# Server settings for the archive's write load (ops/postgres/nasaflow.conf), in conf.d.
pg_tuning="/etc/postgresql/$pg_version/$pg_name/conf.d/nasaflow.conf"
pg_tuning_changed=false
if ! cmp -s "$ROOT/ops/postgres/nasaflow.conf" "$pg_tuning"; then
  install -D -o postgres -g postgres -m 0644 "$ROOT/ops/postgres/nasaflow.conf" "$pg_tuning" \
    || die "could not install $pg_tuning"
  pg_tuning_changed=true
fi
if ! pg_lsclusters --no-header | awk -v v="$pg_version" -v n="$pg_name" '$1==v && $2==n' | grep -q online; then
  port_open 5432 && die "port 5432 is taken by a process that is not cluster $pg_version/$pg_name: stop it or free the port"
  say "starting PostgreSQL $pg_version/$pg_name"
  pg_ctlcluster "$pg_version" "$pg_name" start || die "PostgreSQL failed to start, see /var/log/postgresql/"
  echo "$pg_version $pg_name" >"$RUN/postgres.started-by-nasaflow"
fi
wait_for 30 "PostgreSQL" as_postgres "pg_isready -q -h 127.0.0.1 -p 5432" || die "PostgreSQL did not accept connections"
if [ "$pg_tuning_changed" = true ]; then
  as_postgres "psql -Atqc 'SELECT pg_reload_conf()'" >/dev/null
  sleep 1  # the reload is asynchronous; a new session then sees what is pending
  pending=$(as_postgres "psql -Atqc 'SELECT string_agg(name, \$\$, \$\$) FROM pg_settings WHERE pending_restart'")
  [ -z "$pending" ] || say "PostgreSQL applies $pending of $pg_tuning at its next start:" \
    "pg_ctlcluster $pg_version $pg_name restart (make down, then make up, when make up started it)"
fi

# Roles: airflow (its metadata database) and the data database's owner (migrations,
# maintenance), writer (ingest, stream sink) and reader (UI page), named by the user of
# their URLs; the owner also owns <database>_test, the test suite's own database.
# Passwords reach psql as variables read from the environment (\getenv), never as SQL
# text or command-line arguments; 006_roles.sql grants each role its rights.
url_user() { local rest="${1#*://}"; rest="${rest%%@*}"; printf '%s' "${rest%%:*}"; }
url_database() { local path="${1##*/}"; printf '%s' "${path%%\?*}"; }
as_postgres "psql -q -v ON_ERROR_STOP=1 -v owner=$(url_user "$NASAFLOW_DB_OWNER_URL") \
  -v writer=$(url_user "$NASAFLOW_DB_URL") -v reader=$(url_user "$NASAFLOW_DB_READER_URL") \
  -v database=$(url_database "$NASAFLOW_DB_OWNER_URL")" >/dev/null <<'SQL' \
  || die "could not create the PostgreSQL roles and databases"
\getenv airflow_password AIRFLOW_DB_PASSWORD
\getenv owner_password NASAFLOW_DB_PASSWORD
\getenv writer_password NASAFLOW_DB_WRITER_PASSWORD
\getenv reader_password NASAFLOW_DB_READER_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['airflow', :'owner', :'writer', :'reader']) AS r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE airflow PASSWORD :'airflow_password';
ALTER ROLE :"owner" PASSWORD :'owner_password';
ALTER ROLE :"writer" PASSWORD :'writer_password';
ALTER ROLE :"reader" PASSWORD :'reader_password';
SELECT format('CREATE DATABASE %I OWNER %I', d, o)
  FROM (VALUES ('airflow', 'airflow'), (:'database', :'owner'), (:'database' || '_test', :'owner')) AS t (d, o)
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d) \gexec
SQL
# pg_partman keeps image_parameters' monthly partitions (include/sql/007). Not a trusted
# extension: created here by the superuser in the data database and the suite's copy of it,
# its schema granted to their owner.
data_owner=$(url_user "$NASAFLOW_DB_OWNER_URL")
data_database=$(url_database "$NASAFLOW_DB_OWNER_URL")
for database in "$data_database" "${data_database}_test"; do
  as_postgres "psql -q -v ON_ERROR_STOP=1 -v owner=$data_owner -d $database" >/dev/null <<'SQL' \
    || die "could not create the pg_partman extension in $database"
CREATE SCHEMA IF NOT EXISTS partman AUTHORIZATION :"owner";
CREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA partman;
GRANT ALL ON ALL TABLES IN SCHEMA partman TO :"owner";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partman TO :"owner";
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA partman TO :"owner";
SQL
done
nasaflow migrate >/dev/null || die "data schema migration failed"

# --- PROFILE=cluster: the engines as a cluster (nasaflow.operations.cluster) -----------------
if [ "${NASAFLOW_PROFILE:-default}" = cluster ]; then
  python -m nasaflow.operations.cluster up --home "${NASAFLOW_CLUSTER_HOME:-$LOCAL/cluster}" \
    || die "the cluster did not come up, see ${NASAFLOW_CLUSTER_HOME:-$LOCAL/cluster}/logs"
  exit 0
fi

# --- Airflow metadata, login, pool ------------------------------------------------------------
schema_stamp=$(sha256sum "$VENV/.nasaflow-lock" | cut -c1-16)
if [ "$(cat "$RUN/airflow-db.migrated" 2>/dev/null)" != "$schema_stamp" ]; then
  say "migrating the Airflow metadata database"
  airflow db migrate >"$LOGS/airflow-db-migrate.log" 2>&1 || die "airflow db migrate failed, see $LOGS/airflow-db-migrate.log"
  airflow pools import "$ROOT/ops/airflow-pools.json" \
    >>"$LOGS/airflow-db-migrate.log" 2>&1 || die "could not create the pools of ops/airflow-pools.json"
  echo "$schema_stamp" >"$RUN/airflow-db.migrated"
fi
python -m nasaflow.operations.airflow_users >"$LOGS/airflow-users.log" 2>&1 \
  || die "could not create the Airflow users, see $LOGS/airflow-users.log"

# --- supervised services: Kafka, replay server, Airflow components -----------------------------
ctl() { supervisorctl -c "$ROOT/ops/supervisord.conf" "$@"; }
programs=(kafka airflow-api-server airflow-scheduler airflow-dag-processor airflow-triggerer)
[ "$NASAFLOW_REPLAY_AUTOSTART" = true ] && programs+=(replay-server)
if [ -f "$RUN/supervisord.pid" ] && kill -0 "$(cat "$RUN/supervisord.pid")" 2>/dev/null; then
  # Already running: apply changes of supervisord.conf, then start whatever is stopped
  # (FATAL programs included, e.g. after a long metadata-database outage).
  ctl reread >/dev/null && ctl update >/dev/null
  ctl start "${programs[@]}" >/dev/null || true
else
  declare -A ports=([9092]=kafka [9093]="kafka controller" [8080]="airflow api-server"
                    [8974]="airflow scheduler health check")
  [ "$NASAFLOW_REPLAY_AUTOSTART" = true ] && ports[$NASAFLOW_REPLAY_PORT]="replay server"
  for port in "${!ports[@]}"; do
    if port_open "$port"; then
      holder=$(ss -ltnp "sport = :$port" 2>/dev/null | awk 'NR==2 {print $NF}')
      die "port $port (${ports[$port]}) is already taken${holder:+ by $holder}: stop that process or free the port"
    fi
  done
  say "starting supervisord (kafka, airflow, replay server)"
  supervisord -c "$ROOT/ops/supervisord.conf" || die "supervisord failed to start, see $LOGS/supervisord.log"
fi

wait_for 60 "Kafka" python -m nasaflow.messaging.admin --partitions 2 \
  || die "Kafka did not come up, see $LOGS/kafka.log"
if [ "$NASAFLOW_REPLAY_AUTOSTART" = true ]; then
  wait_for 30 "replay server" curl -fsS "http://127.0.0.1:$NASAFLOW_REPLAY_PORT/v2/getDataSources/" \
    || die "the replay server did not come up, see $LOGS/replay-server.log"
fi
wait_for 120 "Airflow" python "$ROOT/ops/status.py" --airflow-only \
  || die "Airflow did not become healthy, see $LOGS/airflow-*.log"
say "platform up: Airflow http://127.0.0.1:8080 (login $AIRFLOW_ADMIN_USER / see .env), Kafka 127.0.0.1:9092, PostgreSQL 127.0.0.1:5432"
