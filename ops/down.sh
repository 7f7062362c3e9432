#!/usr/bin/env bash
# make down: stop what `make up` started, and nothing else, even while runs are active.
#
# Airflow's scheduler waits for its running tasks before it exits, and the stream task
# never finishes: so the tasks go first. They get SIGTERM (Airflow's own way to kill a
# task: the stream task ends its Spark drivers, exactly once holds whatever batch was in
# flight), and whatever is left after a grace period gets SIGKILL. Then supervisord stops
# the services, then PostgreSQL if `make up` started it. Exits 0 only when no process of
# the platform is left and its ports are free.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
load_env
if [ "${NASAFLOW_PROFILE:-default}" = cluster ]; then
  # The cluster's programs only: PostgreSQL serves both profiles and stays up.
  exec python -m nasaflow.operations.cluster down --home "${NASAFLOW_CLUSTER_HOME:-$LOCAL/cluster}"
fi

#: Seconds the task processes get to end after SIGTERM, and supervisord to stop services.
TASK_GRACE="${NASAFLOW_DOWN_TASK_GRACE:-30}"
SERVICES_GRACE=180

# Every process below PID $1 (Airflow's task runners start their own sessions, so a
# spark-submit launched by a task is not in the scheduler's process group).
descendants() {
  local child
  for child in $(pgrep -P "$1"); do echo "$child"; descendants "$child"; done
}

alive() { for p in "$@"; do if kill -0 "$p" 2>/dev/null; then echo "$p"; fi; done; }

# Processes of this checkout's platform wherever they hang (an orphaned Spark driver is
# reparented away from the task that started it): Spark applications of spark_jobs/,
# Python workers and services run from this checkout's virtualenv.
platform_processes() {
  pgrep -f "($ROOT/spark_jobs/|$ROOT/\.local/jars/kafka/|$VENV/bin/python -m pyspark\.daemon|$VENV/bin/(airflow|nasaflow|supervisord|httpok) )" || true
}

# wait_gone SECONDS PID...: waits until none of the PIDs is alive; prints the survivors.
wait_gone() {
  local limit="$1"; shift
  local waited=0 left
  left=$(alive "$@")
  while [ -n "$left" ] && [ "$waited" -lt "$limit" ]; do
    sleep 1; waited=$((waited + 1))
    # shellcheck disable=SC2086
    left=$(alive $left)
  done
  echo $left
}

pidfile="$RUN/supervisord.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  pid=$(cat "$pidfile")
  ctl() { supervisorctl -c "$ROOT/ops/supervisord.conf" "$@"; }
  scheduler=$(ctl pid airflow-scheduler 2>/dev/null || true)
  if [ -n "$scheduler" ] && [ "$scheduler" != 0 ] && kill -0 "$scheduler" 2>/dev/null; then
    tasks=$(descendants "$scheduler")
    # No new task from here on (the liveness check would start the scheduler again); the
    # scheduler then waits for the running tasks, ended below.
    ctl stop scheduler-liveness airflow-scheduler >/dev/null 2>&1 &
    stopping=$!
    if [ -n "$tasks" ]; then
      say "ending the running Airflow tasks (up to ${TASK_GRACE}s): pids" $tasks
      # shellcheck disable=SC2086
      kill -TERM $tasks 2>/dev/null || true
      # shellcheck disable=SC2086
      left=$(wait_gone "$TASK_GRACE" $tasks $(descendants "$scheduler"))
      if [ -n "$left" ]; then
        warn "task processes still running after ${TASK_GRACE}s, killing: $left"
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
      fi
    fi
    wait "$stopping" || true
  fi
  tree=$(descendants "$pid")
  say "stopping supervised services (supervisord pid $pid)"
  ctl shutdown >/dev/null || kill "$pid"
  [ -z "$(wait_gone "$SERVICES_GRACE" "$pid")" ] \
    || die "supervisord (pid $pid) did not stop within ${SERVICES_GRACE}s"
  # shellcheck disable=SC2086
  survivors=$(alive $tree)
  if [ -n "$survivors" ]; then
    say "stopping what the services left running: pids" $survivors
    # shellcheck disable=SC2086
    kill $survivors 2>/dev/null || true
    # shellcheck disable=SC2086
    left=$(wait_gone 5 $survivors)
    # shellcheck disable=SC2086
    [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
  fi
fi
rm -f "$pidfile"

# Anything of the platform still running (e.g. a Spark driver orphaned earlier).
strays=$(platform_processes)
if [ -n "$strays" ]; then
  say "stopping leftover platform processes: pids" $strays
  # shellcheck disable=SC2086
  kill $strays 2>/dev/null || true
  # shellcheck disable=SC2086
  left=$(wait_gone 10 $strays)
  # shellcheck disable=SC2086
  [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
fi

if [ -f "$RUN/postgres.started-by-nasaflow" ]; then
  read -r pg_version pg_name <"$RUN/postgres.started-by-nasaflow"
  say "stopping PostgreSQL $pg_version/$pg_name"
  pg_ctlcluster "$pg_version" "$pg_name" stop || warn "PostgreSQL $pg_version/$pg_name did not stop cleanly"
  rm -f "$RUN/postgres.started-by-nasaflow"
fi

# The proof: no process of the platform, no port of its services.
sleep 1
left=$(platform_processes)
[ -z "$left" ] || die "platform processes still running: $(ps -o pid=,args= -p "${left//$'\n'/,}" | cut -c1-160)"
ports=(9092 9093 8080 8974)
[ "${NASAFLOW_REPLAY_AUTOSTART:-true}" = true ] && ports+=("$NASAFLOW_REPLAY_PORT")
for port in "${ports[@]}"; do
  port_open "$port" && die "port $port is still in use: $(ss -ltnp "sport = :$port" 2>/dev/null | awk 'NR==2 {print $NF}')"
done
say "platform down"
