#!/bin/bash
# sse.sh — 10,000 concurrent SSE clients on one mercato instance (SQLite).
#
#   bench/sse.sh [clients] [orders] [events/s] [seconds]
#          (defaults 10000 1000 200 20; needs a release build: make MODE=release all)
#   CONN_MEMORY_KB=0 bench/sse.sh     the same with the default per-connection pool
#
# One `mercato serve` (release build, default configuration apart from the
# access log, and a per-principal rate limit that lets one token open 10,000
# streams: the streams stand for 10,000 customers) and one driver process (bench/sse_bench.c): the driver opens
# the streams from one epoll loop, appends order events to the shared event
# log at a steady rate, and prints the server's RSS and the p50/p99 delay
# from each event's commit to its arrival at the clients.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-10000}
ORDERS=${2:-1000}
RATE=${3:-200}
SECS=${4:-20}
CONN_MEMORY_KB=${CONN_MEMORY_KB:-4}
BUILD=${BUILD:-build/release}
BIN=$BUILD/mercato
DRIVER=$BUILD/bench/sse_bench
[ -x "$BIN" ] && [ -x "$DRIVER" ] || { echo "build first: make MODE=release all" >&2; exit 1; }
# every stream is a socket on both sides: raise the soft limit as far as allowed
NEED=$((CLIENTS + 1000))
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$NEED" ] || { echo "ulimit -n is $(ulimit -n); need $NEED" >&2; exit 1; }
TMP=$(mktemp -d /tmp/mercato-ssebench.XXXXXX)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    cp "$TMP/server.log" "${SERVER_LOG:-/dev/null}" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
DB="sqlite:$TMP/sse.db"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$BIN" serve --port "$PORT" --database-url "$DB" --data-dir "$TMP" --admin-token "$TOKEN" \
    --access-log false --log-level error --rate-user 100000000 --conn-memory-kb "$CONN_MEMORY_KB" --conn-limit $((CLIENTS + 2000)) --sse-max-streams $((CLIENTS + 1000)) \
    ${SERVER_ARGS:-} > "$TMP/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
echo "# SSE: $CLIENTS clients over $ORDERS orders, $RATE events/s for $SECS s; --conn-memory-kb $CONN_MEMORY_KB; $(nproc) cores; $(date -u +%FT%TZ)"
echo "# server RSS before any stream: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$PID/status)"
"$DRIVER" "$PORT" "$DB" "$TOKEN" "$PID" "$CLIENTS" "$ORDERS" "$RATE" "$SECS"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^mercato_sse_(open_streams|events_delivered_total|dropped_clients_total) '
