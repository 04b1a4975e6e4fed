#!/bin/sh
# Start PostgreSQL on 127.0.0.1:${PGPORT} with database and user hcl (password ${PGPASSWORD}),
# initializing a fresh cluster in the container the first time. Runs as user postgres.
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/smoke}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$PGPASSWORD" >"$pwfile"
    initdb -D "$PGDATA" --username=hcl --pwfile="$pwfile" --auth=scram-sha-256 --encoding=UTF8 >/dev/null
    rm -f "$pwfile"
    echo "CREATE DATABASE hcl OWNER hcl" | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -p "$PGPORT" -k /tmp
