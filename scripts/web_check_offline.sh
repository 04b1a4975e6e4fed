#!/usr/bin/env bash
# The web pages with the network off: `make run` and the browser test (`make web-check`) inside a
# new network namespace that has only loopback (`unshare -rn`), so nothing can be fetched from
# anywhere but this machine. Needs unprivileged user namespaces (or root), chromium and
# chromium-driver, and the shared logs beside the repository (../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-5099}"
export PORT
if [ "${1:-}" != "--inside" ]; then
  make install
  exec unshare -rn "$0" --inside
fi
ip link set lo up
if .venv/bin/python -c "import socket; socket.create_connection(('pypi.org', 443), timeout=3)" 2>/dev/null; then
  echo "the network is reachable from the namespace: not an offline check" >&2
  exit 1
fi
echo "no network but loopback: pypi.org is unreachable"
# A database and storage folder of its own, so a `make run` of this checkout (its SQLite file and
# file broker) cannot take this run's tasks or hold its database locked.
state="$(mktemp -d)"
export DATABASE_URL="sqlite:///$state/hcl.sqlite3" STORAGE_DIR="$state/storage"
log="$state/server.log"
# Its own process group, so the server, gunicorn's workers and the Celery worker stop together.
setsid ./scripts/run_local.sh >"$log" 2>&1 &
server=$!
trap 'kill -- "-$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -rf "$state"' EXIT
for _ in $(seq 90); do
  if .venv/bin/python -c "import urllib.request as u; u.urlopen('http://localhost:$PORT/health/ready', timeout=2)" 2>/dev/null; then
    break
  fi
  sleep 2
done
make web-check
