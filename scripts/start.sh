#!/usr/bin/env bash
# Installs, builds and starts the server on the embedded defaults (SQLite and local disk in ./data).
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-fund --no-audit
npm run build
exec node packages/server/dist/main.js
