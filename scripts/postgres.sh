#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (the audit trail and the accounts store run on
# SQLite by default and on PostgreSQL by URL; the tests check both).
#   scripts/postgres.sh start   start it and print its URL (prints nothing if no server is
#                               installed: the PostgreSQL tests then skip and say why)
#   scripts/postgres.sh stop    stop it and remove its files
set -euo pipefail
DIR="${TELESURGERY_PG_DIR:-/tmp/telesurgery-pg}"
PORT="${TELESURGERY_PG_PORT:-55432}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"

as_owner() {
    # PostgreSQL refuses to run as root: use the postgres account when we are root
    if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

case "${1:-}" in
start)
    [ -n "$BIN" ] && [ -x "$BIN/initdb" ] || exit 0
    "$0" stop >/dev/null 2>&1 || true
    mkdir -p "$DIR"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$DIR"; fi
    as_owner "'$BIN/initdb' -D '$DIR/data' -A trust -U postgres >'$DIR/initdb.log' 2>&1"
    as_owner "'$BIN/pg_ctl' -D '$DIR/data' -l '$DIR/server.log' -w -t 30 \
        -o \"-p $PORT -k '$DIR' -c listen_addresses=127.0.0.1 -c fsync=off\" start >/dev/null"
    echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
    ;;
stop)
    if [ -n "$BIN" ] && [ -d "$DIR/data" ]; then
        as_owner "'$BIN/pg_ctl' -D '$DIR/data' -m fast -w stop >/dev/null 2>&1" || true
    fi
    rm -rf "$DIR"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
