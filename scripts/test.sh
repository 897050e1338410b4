#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then lint, typecheck, build and
# every test layer. End-to-end tests run inside a fresh network namespace that holds only `lo`, so no
# media or HTTP traffic can reach any address but 127.0.0.1 (and a mount namespace of their own).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null || need+=(chromium)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v sox >/dev/null || need+=(sox)
command -v unshare >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
command -v systemd-analyze >/dev/null || need+=(systemd)
# The TLS reverse proxy of docs/deploy.md "HTTPS" and the test certificates (https-proxy e2e test).
[ -x /usr/sbin/nginx ] || need+=(nginx)
command -v openssl >/dev/null || need+=(openssl)
command -v turnserver >/dev/null || need+=(coturn)
# Ceph RGW 16.2, the S3 server that verifies SigV4 (packages/server/src/testing/rgw-test-server.ts):
# 59 packages with their dependencies, 65 MiB to download, 256 MiB installed, about a minute.
command -v radosgw >/dev/null || need+=(radosgw)
command -v ceph-mon >/dev/null || need+=(ceph-mon)
command -v ceph-osd >/dev/null || need+=(ceph-osd)
# Redis for the cluster tests: each starts a redis-server of its own inside the test namespace
# (packages/server/src/testing/redis-test.ts), so the binary is what is needed, not the machine's server.
command -v redis-server >/dev/null || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# PostgreSQL (the second store): the tests reach it on its unix socket (their network namespace has
# its own loopback). Start the machine's cluster when it is down; fail loudly when it cannot be reached.
PGURL="${TRACKROOM_TEST_DATABASE_URL:-postgres://postgres@/test?host=/var/run/postgresql}"
if [ -z "${TRACKROOM_TEST_DATABASE_URL:-}" ] && ! pg_isready -q -h /var/run/postgresql 2>/dev/null; then
  echo "PostgreSQL is not running: starting it"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h /var/run/postgresql && break; sleep 1; done
fi
if ! psql "$PGURL" -Atc 'select 1' >/dev/null 2>&1; then
  echo "PostgreSQL is needed by the tests and cannot be reached at $PGURL" >&2
  exit 1
fi

npm ci --no-fund --no-audit
npm run lint
npm run typecheck
npm run build

# Tests: in a network namespace of their own with only loopback up, and a mount namespace of their
# own (private propagation), so that the disk-full test's tmpfs is seen by nothing outside.
if [ "$(id -u)" -eq 0 ]; then NS=(unshare -nm); else NS=(unshare -rnm); fi
exec "${NS[@]}" bash -c 'ip link set lo up && node scripts/run-tests.mjs "$@"' run-tests "$@"
