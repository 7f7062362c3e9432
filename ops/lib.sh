# Shared shell helpers for ops/*.sh: paths, messages, .env loading, port checks.
# Sourced, never executed.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
LOGS="$LOCAL/logs"
RUN="$LOCAL/run"
VENV="$ROOT/.venv"

say()  { printf '\033[1m[nasaflow]\033[0m %s\n' "$*"; }
warn() { printf '\033[33m[nasaflow] %s\033[0m\n' "$*" >&2; }
die()  { printf '\033[31m[nasaflow] error: %s\033[0m\n' "$*" >&2; exit 1; }

# Exports every KEY=VALUE of .env plus the derived settings every process needs.
load_env() {
  [ -f "$ROOT/.env" ] || die ".env is missing: run 'make setup' first"
  set -a
  # shellcheck disable=SC1091
  . "$ROOT/.env"
  set +a
  export NASAFLOW_ROOT="$ROOT"
  export PATH="$VENV/bin:$PATH"
  export AIRFLOW_HOME="$LOCAL/airflow"
  export AIRFLOW_CONFIG="$ROOT/airflow.cfg"
  export SPARK_HOME="$VENV/lib/python3.11/site-packages/pyspark"
  export PYSPARK_PYTHON="$VENV/bin/python"
  export PYSPARK_DRIVER_PYTHON="$VENV/bin/python"
  # Spark's driver, block manager and UI listen on loopback only.
  export SPARK_LOCAL_IP=127.0.0.1
  export NASAFLOW_REPLAY_PORT="${NASAFLOW_REPLAY_PORT:-8081}"
  if [ "${NASAFLOW_LIVE:-0}" = "1" ]; then
    export NASAFLOW_HELIOVIEWER_URL="${NASAFLOW_HELIOVIEWER_URL:-https://api.helioviewer.org}"
    export NASAFLOW_APOD_URL="${NASAFLOW_APOD_URL:-https://api.nasa.gov}"
    export NASAFLOW_REPLAY_AUTOSTART=false
  else
    export NASAFLOW_REPLAY_AUTOSTART=true
    export NASAFLOW_HELIOVIEWER_URL="http://127.0.0.1:$NASAFLOW_REPLAY_PORT"
    export NASAFLOW_APOD_URL="http://127.0.0.1:$NASAFLOW_REPLAY_PORT"
  fi
  # Airflow connections, provisioned from .env (never literals in DAG code).
  # nasaflow_db logs in as the writer, nasaflow_db_reader as the read-only role; the _test
  # twins reach the test suite's own database (<database>_test) for runs with target=test.
  local writer="${NASAFLOW_DB_URL#postgresql://}" reader="${NASAFLOW_DB_READER_URL:-}"
  reader="${reader#postgresql://}"
  export AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "local[2]", "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"}}'
  export AIRFLOW_CONN_NASAFLOW_DB="postgres://$writer"
  export AIRFLOW_CONN_NASAFLOW_DB_READER="postgres://$reader"
  export AIRFLOW_CONN_NASAFLOW_DB_TEST="postgres://${writer}_test"
  export AIRFLOW_CONN_NASAFLOW_DB_READER_TEST="postgres://${reader}_test"
  export AIRFLOW_CONN_NASAFLOW_KAFKA="{\"conn_type\": \"generic\", \"host\": \"${NASAFLOW_KAFKA_BOOTSTRAP:-127.0.0.1:9092}\", \"extra\": {\"topic\": \"${NASAFLOW_KAFKA_TOPIC:-image-parameters}\"}}"
  export AIRFLOW_CONN_NASA_HELIOVIEWER="{\"conn_type\": \"http\", \"host\": \"$NASAFLOW_HELIOVIEWER_URL\"}"
  export AIRFLOW_CONN_NASA_APOD="{\"conn_type\": \"http\", \"host\": \"$NASAFLOW_APOD_URL\", \"password\": \"${NASAFLOW_APOD_API_KEY:-}\"}"
  # make ... PROFILE=cluster (NASAFLOW_PROFILE): the cluster's own settings (Spark master, Kafka brokers, object store,
  # Airflow with Celery) over the above, as written by its last `make up PROFILE=cluster`.
  if [ "${NASAFLOW_PROFILE:-default}" = cluster ]; then
    CLUSTER_HOME="${NASAFLOW_CLUSTER_HOME:-$LOCAL/cluster}"
    if [ -f "$CLUSTER_HOME/cluster.env" ]; then
      set -a
      # shellcheck disable=SC1091
      . "$CLUSTER_HOME/cluster.env"
      set +a
    fi
  fi
}

# True when something listens on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND once a second.
wait_for() {
  local limit="$1" what="$2"; shift 2
  local waited=0
  until "$@" >/dev/null 2>&1; do
    waited=$((waited + 1))
    [ "$waited" -ge "$limit" ] && return 1
    sleep 1
  done
  say "$what ready after ${waited}s"
}

require_java() {
  command -v java >/dev/null 2>&1 || die "Java is missing: Kafka and Spark need Java 17 (apt-get install -y openjdk-17-jre-headless)"
  local major
  major=$(java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]}')
  [ "${major:-0}" -ge 17 ] || die "Java 17 or newer is needed for Kafka 4 and Spark 4, found version ${major:-unknown}"
}

pg_cluster() { pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1, $2}'; }

as_postgres() { (cd /tmp && su postgres -c "$*"); }
