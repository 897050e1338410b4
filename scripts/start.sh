#!/usr/bin/env bash
# Starts the server on the embedded defaults (SQLite and local disk in ./data). Installs the
# dependencies only on the first start or when package-lock.json changed, builds only what is older
# than its sources, then runs the server (scripts/start.mjs; `npm start` is the same).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node scripts/start.mjs "$@"
