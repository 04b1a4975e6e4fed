#!/usr/bin/env bash
# The service on the embedded defaults: SQLite, a local storage folder, a file-based Celery broker.
# Migrates the database, starts one Celery worker process, then serves on PORT (default 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
"$BIN/flask" --app run db upgrade
# -B: Celery beat inside the worker, so the reconciler and the schedules run on the embedded defaults too.
"$BIN/celery" -A celery_worker worker -B --loglevel=info --concurrency=1 &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null || true' EXIT INT TERM
"$BIN/gunicorn" --bind "127.0.0.1:${PORT:-5000}" --workers 2 --timeout 300 run:app
