#!/usr/bin/env bash
# make status: health of every local service (exit 1 if any is unhealthy).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
load_env
if [ "${NASAFLOW_PROFILE:-default}" = cluster ]; then
  exec python -m nasaflow.operations.cluster status --home "${NASAFLOW_CLUSTER_HOME:-$LOCAL/cluster}"
fi
exec python "$ROOT/ops/status.py" "$@"
