#!/usr/bin/env bash
# make down: stop what `make up` started, and nothing else.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
load_env

# Every process below PID $1 (Airflow's task runners start their own sessions, so a
# spark-submit launched by a task is not in the scheduler's process group).
descendants() {
  local child
  for child in $(pgrep -P "$1"); do echo "$child"; descendants "$child"; done
}

pidfile="$RUN/supervisord.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  pid=$(cat "$pidfile")
  tree=$(descendants "$pid")
  say "stopping supervised services (supervisord pid $pid)"
  supervisorctl -c "$ROOT/ops/supervisord.conf" shutdown >/dev/null || kill "$pid"
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && die "supervisord (pid $pid) did not stop within 60 s"
  survivors=$(for p in $tree; do if kill -0 "$p" 2>/dev/null; then echo "$p"; fi; done)
  if [ -n "$survivors" ]; then
    say "stopping what Airflow tasks left running: pids" $survivors
    kill $survivors 2>/dev/null || true
    sleep 5
    for p in $survivors; do if kill -0 "$p" 2>/dev/null; then kill -9 "$p" || true; fi; done
  fi
fi
rm -f "$pidfile"

if [ -f "$RUN/postgres.started-by-nasaflow" ]; then
  read -r pg_version pg_name <"$RUN/postgres.started-by-nasaflow"
  say "stopping PostgreSQL $pg_version/$pg_name"
  pg_ctlcluster "$pg_version" "$pg_name" stop || warn "PostgreSQL $pg_version/$pg_name did not stop cleanly"
  rm -f "$RUN/postgres.started-by-nasaflow"
fi
say "platform down"
