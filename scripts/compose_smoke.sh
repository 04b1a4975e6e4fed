#!/usr/bin/env bash
# `make compose-smoke`: builds the deployment images, starts the smoke set
# (docker-compose.smoke.yml: the production set's services, commands, one-shot steps and restart
# policies on the host's loopback, ports 55432/56379/59000/58000), waits for it to be healthy,
# then through the API: upload -> train -> bulk (its worker killed in the middle: the restart
# policy brings it back and the reconciler hands it the job again) -> download. Stops and removes
# every container and volume of the set on exit, pass or fail; the set's logs stay in
# out/compose-smoke.log.
# Needs: root (debootstrap), a running dockerd, docker-compose 1.29+ or `docker compose`, curl,
# python3, and a Debian mirror and the package index reachable from a container on the host network.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
BASE_IMAGE=${BASE_IMAGE:-hcl-local/debian-python:bookworm-3.11}
export HCL_IMAGE=${HCL_IMAGE:-hcl-server:smoke}
export SMOKE_SERVICES_IMAGE=${SMOKE_SERVICES_IMAGE:-hcl-local/smoke-services:1}
API=http://127.0.0.1:58000
CUSTOMERS=${SMOKE_CUSTOMERS:-1500}
EVENTS=${SMOKE_EVENTS:-20000}

say() { printf '[smoke %4ss] %s\n' "$(($(date +%s) - started))" "$*"; }
die() { say "FAILED: $*"; exit 1; }

# BuildKit (for RUN --mount): a client with buildx, else Debian's docker.io 20.10 client, which
# has BuildKit built in.
DOCKER=${DOCKER:-docker}
if ! "$DOCKER" buildx version >/dev/null 2>&1 && [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; fi
export DOCKER DOCKER_BUILDKIT=1
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi
COMPOSE+=(-p hcl-smoke -f docker-compose.smoke.yml)
"${COMPOSE[@]}" version >/dev/null 2>&1 || "${COMPOSE[0]}" version >/dev/null || die "no docker compose"
"$DOCKER" info >/dev/null 2>&1 || die "dockerd is not running"

for port in 55432 56379 59000 58000; do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $port)) != 0)"; then
        die "port $port is in use: the smoke set needs 55432, 56379, 59000 and 58000 free"
    fi
done

secret=()
[ -s /etc/ssl/certs/ca-certificates.crt ] && secret=(--secret id=ca,src=/etc/ssl/certs/ca-certificates.crt)
work=$(mktemp -d)
cleanup() {
    code=$?
    mkdir -p out
    "${COMPOSE[@]}" logs --no-color >out/compose-smoke.log 2>&1 || true
    if [ "$code" != 0 ]; then
        "${COMPOSE[@]}" ps || true
        tail -60 out/compose-smoke.log || true
    fi
    "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 10 >/dev/null 2>&1 || true
    rm -rf "$work"
    say "set stopped and removed; exit $code"
}
trap cleanup EXIT INT TERM

say "base image"
scripts/build_base_image.sh "$BASE_IMAGE"
t=$(date +%s)
"$DOCKER" build --quiet --network host "${secret[@]}" --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$HCL_IMAGE" . >/dev/null
"$DOCKER" build --quiet --network host "${secret[@]}" --build-arg BASE_IMAGE="$BASE_IMAGE" \
    -f deploy/smoke/Dockerfile.services -t "$SMOKE_SERVICES_IMAGE" deploy/smoke >/dev/null
say "images built in $(($(date +%s) - t)) s: $HCL_IMAGE $("$DOCKER" image inspect -f '{{.Size}}' "$HCL_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"

chmod 777 "$work"
"$DOCKER" run --rm --network none -v "$work:/data" "$HCL_IMAGE" \
    python3 -m ml_pipeline generate --customers "$CUSTOMERS" --events "$EVENTS" --out /data/events.csv >/dev/null
say "synthetic log: $CUSTOMERS customers, $EVENTS events"

"${COMPOSE[@]}" down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
t=$(date +%s)
"${COMPOSE[@]}" up -d
cid() { "${COMPOSE[@]}" ps -q "$1"; }
for _ in $(seq 180); do
    [ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$(cid api)" 2>/dev/null)" = healthy ] && break
    sleep 1
done
[ "$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$(cid api)")" = healthy ] || die "the api is not healthy"
for step in migrate createbucket; do
    [ "$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$(cid $step)")" = 0 ] || die "$step did not exit 0"
done
say "set healthy in $(($(date +%s) - t)) s (migrate and createbucket exited 0)"

# jget FIELD[.FIELD...] reads one value from the JSON on stdin.
jget() { python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$1"; }
KEY=$("${COMPOSE[@]}" exec -T api flask --app run orgs create "Smoke shop" | tail -1 | jget api_key)
[ -n "$KEY" ] || die "no API key"
call() { curl -sS --max-time 60 -H "X-API-Key: $KEY" "$@"; }
# wait_done PATH SECONDS: polls until the status is neither queued nor running; prints it.
wait_done() {
    local status
    for _ in $(seq "$2"); do
        status=$(call "$API$1" | jget status)
        [ "$status" != queued ] && [ "$status" != running ] && break
        sleep 1
    done
    echo "$status"
}

t=$(date +%s)
DATASET=$(call -X POST "$API/api/v1/datasets" -F file=@"$work/events.csv" | jget id)
[ "$(wait_done "/api/v1/datasets/$DATASET" 120)" = succeeded ] || {
    call "$API/api/v1/datasets/$DATASET"
    die "the dataset was not read"
}
say "upload: dataset $DATASET read and profiled in $(($(date +%s) - t)) s"

t=$(date +%s)
JOB=$(call -X POST "$API/api/v1/training-jobs" -H 'Content-Type: application/json' \
    -d "{\"dataset_id\": \"$DATASET\"}" | jget id)
[ "$(wait_done "/api/v1/training-jobs/$JOB" 600)" = succeeded ] || {
    call "$API/api/v1/training-jobs/$JOB"
    die "training did not succeed"
}
say "train: model version $(call "$API/api/v1/training-jobs/$JOB" | jget model_version) in $(($(date +%s) - t)) s"

t=$(date +%s)
BULK=$(call -X POST "$API/api/v1/bulk-jobs" -F file=@"$work/events.csv" | jget id)
worker=$(cid worker)
restarts=$("$DOCKER" inspect -f '{{.RestartCount}}' "$worker")
for _ in $(seq 600); do
    stage=$(call "$API/api/v1/bulk-jobs/$BULK" | jget stage)
    [ "$stage" = scoring ] && break
    sleep 0.2
done
[ "$stage" = scoring ] || die "the bulk job never reached its scoring stage"
progress=$(call "$API/api/v1/bulk-jobs/$BULK" | jget progress)
# SIGKILL the worker container's main process from the host, as a crash or the OOM killer would.
# (`docker kill` marks a container as stopped by hand, and Docker's restart policy then leaves it
# down: checked on Docker 20.10. A SIGKILL sent from inside the container to its PID 1 is ignored.)
kill -9 "$("$DOCKER" inspect -f '{{.State.Pid}}' "$worker")"
killed=$(date +%s)
say "bulk: job $BULK in stage scoring (progress $progress): worker container killed"
for _ in $(seq 60); do
    [ "$("$DOCKER" inspect -f '{{.RestartCount}} {{.State.Running}}' "$worker")" = "$((restarts + 1)) true" ] && break
    sleep 1
done
[ "$("$DOCKER" inspect -f '{{.State.Running}}' "$worker")" = true ] || die "the worker was not restarted"
say "bulk: worker restarted by its restart policy after $(($(date +%s) - killed)) s"
status=$(wait_done "/api/v1/bulk-jobs/$BULK" 300)
[ "$status" = succeeded ] || {
    call "$API/api/v1/bulk-jobs/$BULK"
    die "the bulk job ended $status"
}
total=$(call "$API/api/v1/bulk-jobs/$BULK" | jget total_customers)
say "bulk: succeeded $(($(date +%s) - killed)) s after the kill, $(($(date +%s) - t)) s in all; $total customers"

call -f "$API/api/v1/bulk-jobs/$BULK/download?format=csv" -o "$work/predictions.csv"
rows=$(($(wc -l <"$work/predictions.csv") - 1))
head -1 "$work/predictions.csv" | cut -c1-150
[ "$rows" -gt 0 ] && [ "$rows" = "$total" ] || die "download has $rows rows, the job says $total customers"
say "download: $rows rows"

taken=$("${COMPOSE[@]}" logs --no-color worker | grep 'reconcile: sent again' || true)
[ -n "$taken" ] || die "the reconciler never sent the killed worker's tasks again"
say "the reconciler took the killed worker's work over:"
echo "$taken" | sed 's/^[^|]*| */    /' | cut -c1-200
sent=$("${COMPOSE[@]}" logs --no-color beat | grep -c 'Sending due task.*hcl.reconcile' || true)
[ "$sent" -gt 0 ] || die "beat never sent hcl.reconcile"
say "beat sent hcl.reconcile $sent times"
say "PASSED in $(($(date +%s) - started)) s"
