#!/usr/bin/env bash
# make setup: install whatever is missing, change nothing that exists.
#   - Debian packages: PostgreSQL with pg_partman (Chromium for the browser tests, Redis for
#     the cluster profile) when absent
#   - .venv with the locked Python dependencies (uv), nasaflow installed editable
#   - Kafka broker jars and Spark's Kafka connector + PostgreSQL JDBC jars via Maven
#   - hadoop-aws and the AWS SDK modules S3A needs (Spark's s3a:// URIs) via Maven
#   - SeaweedFS's weed (the cluster profile's object store), built with Go from its
#     pinned module (make test runs the cluster tests; NASAFLOW_SKIP_CLUSTER=1 skips it)
#   - Strimzi's CRDs, generated from its Maven jars (schemas of deploy/kubernetes)
#   - .env with generated secrets and settings (existing keys are kept)
#   - Kafka storage formatted once (KRaft)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$LOGS" "$RUN" "$LOCAL/jars" "$LOCAL/kafka/data" "$LOCAL/airflow" "$LOCAL/data"

# --- system packages -----------------------------------------------------------------
require_java
command -v mvn >/dev/null 2>&1 || die "Maven is missing: the Kafka broker and Spark connector jars are fetched with it (apt-get install -y maven)"
command -v python3.11 >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || die "Python 3.11 is missing"

apt_packages=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || apt_packages+=(postgresql)
# pg_partman creates and keeps image_cells' monthly partitions (include/sql/007).
ls /usr/share/postgresql/*/extension/pg_partman.control >/dev/null 2>&1 \
  || apt_packages+=(postgresql-15-partman)
if [ "${NASAFLOW_SKIP_BROWSER:-0}" != "1" ]; then
  command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || apt_packages+=(chromium-driver)
fi
# Redis: the cluster profile's Celery broker (make up PROFILE=cluster, and the suite's
# cluster tests, which `make test` runs); NASAFLOW_SKIP_CLUSTER=1 skips it.
if [ "${NASAFLOW_SKIP_CLUSTER:-0}" != "1" ]; then
  command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "installing ${apt_packages[*]} needs root (apt-get)"
  say "installing Debian packages: ${apt_packages[*]}"
  apt-get update -q >"$LOGS/apt.log" 2>&1 || die "apt-get update failed, see $LOGS/apt.log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${apt_packages[@]}" >>"$LOGS/apt.log" 2>&1 \
    || die "apt-get install ${apt_packages[*]} failed, see $LOGS/apt.log"
fi

# --- Python environment ----------------------------------------------------------------
PY=$(command -v python3.11 || command -v python3)
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || die "$PY is not Python 3.11"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating .venv"
  "$PY" -m venv "$VENV"
fi
[ -x "$VENV/bin/uv" ] || "$VENV/bin/pip" install -q "uv==0.13.9" || die "pip could not install uv"
lock_hash=$(cat "$ROOT/requirements.lock" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.nasaflow-lock" 2>/dev/null)" != "$lock_hash" ]; then
  say "installing the locked Python dependencies (requirements.lock)"
  "$VENV/bin/uv" pip sync -q --python "$VENV/bin/python" "$ROOT/requirements.lock" \
    || die "uv pip sync failed (is PyPI reachable?)"
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" "uv==0.13.9"
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e "$ROOT"
  echo "$lock_hash" >"$VENV/.nasaflow-lock"
fi

# --- jars from Maven Central -------------------------------------------------------------
fetch_jars() {  # fetch_jars NAME: ops/NAME/pom.xml -> .local/jars/NAME
  local name="$1" dest="$LOCAL/jars/$1"
  local stamp
  stamp=$(sha256sum "$ROOT/ops/$name/pom.xml" | cut -c1-16)
  [ "$(cat "$dest/.complete" 2>/dev/null)" = "$stamp" ] && return 0
  say "fetching $name jars with Maven"
  rm -rf "$dest.tmp"
  mvn -q -B -f "$ROOT/ops/$name/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$dest.tmp" -DincludeScope=runtime >"$LOGS/maven-$name.log" 2>&1 \
    || die "Maven could not fetch the $name jars (Maven Central unreachable?), see $LOGS/maven-$name.log"
  rm -rf "$dest" && mv "$dest.tmp" "$dest" && echo "$stamp" >"$dest/.complete"
}
fetch_jars kafka
fetch_jars spark
# S3A (s3a:// URIs) for Spark: the cluster profile's images and checkpoints in the store.
fetch_jars spark-s3
# Strimzi's CRD generator: the schemas the Kubernetes manifests are validated against.
fetch_jars strimzi
"$ROOT/ops/strimzi/generate-crds.sh"

# --- the cluster profile's object store (SeaweedFS), built from Go source -----------------
# Minutes the first time, ~20 s with Go's module and build caches warm, then nothing.
if [ "${NASAFLOW_SKIP_CLUSTER:-0}" != "1" ]; then
  "$ROOT/ops/seaweedfs/build.sh"
fi

# --- .env: generated secrets and settings ---------------------------------------------------
"$VENV/bin/python" "$ROOT/ops/write_env.py" "$ROOT/.env"

# --- Kafka storage (KRaft), formatted once -----------------------------------------------
(cat "$ROOT/ops/kafka/server.properties"; echo "log.dirs=$LOCAL/kafka/data") >"$LOCAL/kafka/server.properties"
if [ ! -f "$LOCAL/kafka/data/meta.properties" ]; then
  load_env
  say "formatting Kafka storage"
  java -cp "$LOCAL/jars/kafka/*" -Dlog4j2.configurationFile="$ROOT/ops/kafka/log4j2.properties" \
    kafka.tools.StorageTool format --standalone -t "$KAFKA_CLUSTER_ID" \
    -c "$LOCAL/kafka/server.properties" --ignore-formatted >"$LOGS/kafka-format.log" 2>&1 \
    || die "Kafka storage format failed, see $LOGS/kafka-format.log"
fi
say "setup complete"
