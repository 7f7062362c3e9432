#!/usr/bin/env bash
# make status: health of every local service (exit 1 if any is unhealthy).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
load_env
exec python "$ROOT/ops/status.py" "$@"
