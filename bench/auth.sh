#!/bin/bash
# auth.sh — the cost of authentication, two ways:
#   1. bench/auth_bench: µs per token verification and per hook's worth of work;
#   2. wrk: req/s of an authenticated GET /v1/me against anonymous routes on the
#      same server (SQLite), server pinned to CPU 0 with one event loop, wrk
#      pinned to CPU 1.
#
#   make MODE=release all && bench/auth.sh [seconds]
#
# Rate limits are raised so the benchmark measures the bucket, not 429s.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
BUILD=${BUILD:-build/release}
BIN=$BUILD/mercato
[ -x "$BIN" ] && [ -x "$BUILD/bench/auth_bench" ] || { echo "build first: make MODE=release all" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/deps.sh installs it)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/mercato-authbench.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

echo "# auth: $(nproc) cores; $(date -u +%FT%TZ)"
taskset -c 0 "$BUILD/bench/auth_bench" 1000000

export DATABASE_URL="sqlite:$TMP/bench.db" MERCATO_DATA_DIR="$TMP" MERCATO_RATE_ANON=1000000000 \
       MERCATO_RATE_USER=1000000000 MERCATO_LOG_LEVEL=warn
PW="Load-test-$(head -c 12 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')"
"$BIN" seed --demo --products 20 >/dev/null 2>&1
echo "$PW" | "$BIN" user create --email bench@example.com --password - --name Bench >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 0 "$BIN" serve --port "$PORT" --http-threads 1 --workers 0 --access-log=false 2> "$TMP/server.log" &
PID=$!
for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
    sleep 0.1
done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" || { cat "$TMP/server.log"; exit 1; }
URL="http://127.0.0.1:$PORT"
TOKEN=$(curl -sf "$URL/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"bench@example.com\",\"password\":\"$PW\"}" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || { echo "login failed"; cat "$TMP/server.log"; exit 1; }

run() { # name path [header]
    local name=$1 path=$2 rps
    shift 2
    rps=$(taskset -c 1 wrk -t1 -c32 -d"${DUR}s" "$@" "$URL$path" | awk '/Requests\/sec/ {print $2}')
    printf '%-44s %10s req/s\n' "$name" "$rps"
}
echo "# wrk -t1 -c32 -d${DUR}s; server: 1 event-loop thread on CPU 0, access log off"
run "anonymous GET /healthz (no limiter)" /healthz
run "anonymous GET /v1/me (401: limiter + problem)" /v1/me
run "authenticated GET /v1/me (verify+limit+read)" /v1/me -H "Authorization: Bearer $TOKEN"
# the same public route both ways: what authentication adds to a request
PROD=$(curl -sf "$URL/v1/products?limit=1" | sed -n 's/.*"id":"\(prod_[^"]*\)".*/\1/p' | head -1)
run "anonymous GET /v1/products/{id}" "/v1/products/$PROD"
run "authenticated GET /v1/products/{id}" "/v1/products/$PROD" -H "Authorization: Bearer $TOKEN"
run "anonymous GET /healthz (again)" /healthz
run "authenticated GET /v1/me (again)" /v1/me -H "Authorization: Bearer $TOKEN"
