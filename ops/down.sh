#!/usr/bin/env bash
# make down: stop what `make up` started, and nothing else.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
load_env

pidfile="$RUN/supervisord.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  pid=$(cat "$pidfile")
  say "stopping supervised services (supervisord pid $pid)"
  supervisorctl -c "$ROOT/ops/supervisord.conf" shutdown >/dev/null || kill "$pid"
  for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && die "supervisord (pid $pid) did not stop within 60 s"
fi
rm -f "$pidfile"

if [ -f "$RUN/postgres.started-by-nasaflow" ]; then
  read -r pg_version pg_name <"$RUN/postgres.started-by-nasaflow"
  say "stopping PostgreSQL $pg_version/$pg_name"
  pg_ctlcluster "$pg_version" "$pg_name" stop || warn "PostgreSQL $pg_version/$pg_name did not stop cleanly"
  rm -f "$RUN/postgres.started-by-nasaflow"
fi
say "platform down"
