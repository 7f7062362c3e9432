#!/usr/bin/env bash
# Run a command with the platform's environment (.env + derived settings) loaded.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
load_env
exec "$@"
