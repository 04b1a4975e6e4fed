#!/usr/bin/env bash
# Regenerates docs/swagger-offline.png: /docs (Swagger UI) rendered by headless Chromium with no
# network, to show that the page needs nothing but the app.
#
# The app (`flask --app run run`, a temporary SQLite database and storage folder) and Chromium
# run in a network namespace of their own that has only a loopback interface, when `unshare` can
# make one (root, or unprivileged user namespaces); Chromium also resolves every host name other
# than 127.0.0.1 to nothing, so a script or stylesheet from the internet could not load either way.
#
# Usage: scripts/docs_screenshot.sh [PYTHON] [OUT.png]
# Needs Debian's chromium (apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
OUT=${2:-docs/swagger-offline.png}
PORT=${DOCS_PORT:-5077}

if [ "${HCL_OFFLINE_NS:-}" != 1 ] && command -v unshare >/dev/null && unshare -rn true 2>/dev/null; then
  # Again, inside a namespace whose only network is loopback (brought up first).
  exec unshare -rn env HCL_OFFLINE_NS=1 bash -c 'ip link set lo up 2>/dev/null || true; exec "$0" "$@"' \
    "$0" "$PY" "$OUT"
fi
command -v chromium >/dev/null || { echo "chromium is missing: apt-get install -y chromium" >&2; exit 1; }

tmp=$(mktemp -d)
cleanup() {
  local rc=$?
  if [ -n "${server:-}" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT

export DATABASE_URL="sqlite:///$tmp/hcl.sqlite3" STORAGE_DIR="$tmp/storage" REDIS_URL="" S3_BUCKET=""
"$PY" -m flask --app run db upgrade >"$tmp/migrate.log" 2>&1
"$PY" -m flask --app run run --host 127.0.0.1 --port "$PORT" >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/health', timeout=1)" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
  sleep 0.2
done

where="the host's (unshare unavailable)"
[ "${HCL_OFFLINE_NS:-}" = 1 ] && where="its own"
echo "network namespace: $where; interfaces: $(awk -F: 'NR > 2 {printf "%s ", $1}' /proc/net/dev)"
mkdir -p "$(dirname "$OUT")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --user-data-dir="$tmp/chromium" \
  --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
  --virtual-time-budget=15000 \
  --window-size=1280,900 --screenshot="$OUT" "http://127.0.0.1:$PORT/docs" 2>"$tmp/chromium.log" ||
  { cat "$tmp/chromium.log" >&2; exit 1; }
# The requests the page made, from the server's log: all to the app itself.
grep -oE '"GET [^ ]+' "$tmp/server.log" | sort | uniq -c
echo "wrote $OUT"
