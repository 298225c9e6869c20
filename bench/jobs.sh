#!/bin/bash
# jobs.sh — job queue throughput: mercato on SQLite and on PostgreSQL, and
# BullMQ on redis doing the same work, side by side in one run.
#
#   bench/jobs.sh [N]      (default 50000 jobs; needs a release build: make MODE=release all)
#
# PostgreSQL runs with fsync on and synchronous_commit off; SQLite with WAL
# and synchronous=NORMAL; redis with its defaults (no AOF): in all three a
# commit returns before the disk has it, so the comparison is like for like.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50000}
BUILD=${BUILD:-build/release}
BIN=$BUILD/bench/jobs_bench
[ -x "$BIN" ] || { echo "build first: make MODE=release all" >&2; exit 1; }
TMP=$(mktemp -d /tmp/mercato-bench.XXXXXX)
chmod 755 "$TMP"
REDIS_PID=""
cleanup() {
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null || true
    tests/lib/pg.sh stop "$TMP/pg" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

echo "# job queue: $N no-op jobs; $(nproc) cores; $(date -u +%FT%TZ)"
"$BIN" "sqlite:$TMP/jobs.db" "$N"

PG_DURABLE=1 tests/lib/pg.sh start "$TMP/pg" > "$TMP/pg.url"
PGURL=$(cat "$TMP/pg.url")
PGPORT=${PGURL##*:}
createdb -h 127.0.0.1 -p "$PGPORT" -U mercato bench
"$BIN" "$PGURL/bench" "$N"

if ! command -v redis-server >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null &
REDIS_PID=$!
sleep 0.5
( cd bench/bullmq && { [ -d node_modules ] || npm install --no-audit --no-fund --loglevel=error >/dev/null; } )
node bench/bullmq/bench.mjs "$RPORT" "$N" 1
node bench/bullmq/bench.mjs "$RPORT" "$N" 50 | tail -1
