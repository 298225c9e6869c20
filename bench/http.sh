#!/bin/bash
# http.sh — HTTP benchmarks: mercato against a bare libmicrohttpd server.
#
#   bench/http.sh            (or `make bench`)
#
# Builds the release binary and bench/mhd_hello.c, then for each case starts
# the server pinned to CPU 0 (taskset) and runs wrk pinned to CPU 1:
#   wrk -t1 -c64 -d${DURATION}s --latency  (after a ${WARMUP}s warm-up)
# Cases:
#   healthz     GET /healthz, --http-threads 1 --access-log false
#   echo        POST /v1/echo (JSON parse + dump), access log off
#   echo+log    POST /v1/echo with the access log on (JSON lines to a file)
#   mhd_hello   the same GET against bench/mhd_hello (same threading mode)
# and prints mercato's idle RSS.  Figures only: a benchmark never fails a
# test.  On a shared machine the numbers are noisy; run it twice.
# Environment: DURATION, WARMUP, CONNS, SERVER_CPU, WRK_CPU, MERCATO_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
BUILD=build/release
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}

command -v wrk >/dev/null || { echo "wrk is not installed (scripts/deps.sh installs it)"; exit 1; }
# MERCATO_BIN=path compares another build (e.g. a copy of an older binary)
if [ -z "${MERCATO_BIN:-}" ]; then
    make --no-print-directory MODE=release "$BUILD/mercato" >/dev/null
fi
MERCATO_BIN=${MERCATO_BIN:-$BUILD/mercato}
mkdir -p "$BUILD/bench"
if [ bench/mhd_hello.c -nt "$BUILD/bench/mhd_hello" ]; then
    gcc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -o "$BUILD/bench/mhd_hello" bench/mhd_hello.c \
        $(pkg-config --cflags --libs libmicrohttpd)
fi

TMP=$(mktemp -d /tmp/mercato-bench.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_up() { # url
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "server did not come up at $1"; exit 1
}

start_mercato() { # port access_log
    rm -f "$TMP/db.sqlite"
    DATABASE_URL="sqlite:$TMP/db.sqlite" MERCATO_DATA_DIR="$TMP" \
        taskset -c "$SERVER_CPU" "$MERCATO_BIN" serve --port "$1" --http-threads 1 --access-log "$2" \
        --workers 0 --rate-anon 1000000000 2> "$TMP/server.log" &
    PID=$!
    wait_up "http://127.0.0.1:$1/healthz"
}

stop_server() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

load() { # name url [body]
    local name=$1 url=$2
    export BENCH_BODY=${3:-}
    taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s bench/wrk.lua "$url" >/dev/null
    local out
    out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s bench/wrk.lua "$url" | tail -1)
    printf '%-10s %s\n' "$name" "$out"
    eval "RPS_${name//[^a-z]/_}=$(sed -n 's/.*req\/s=\([0-9]*\).*/\1/p' <<<"$out")"
}

rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

echo "mercato $(git rev-parse --short HEAD 2>/dev/null || echo '?') on $(nproc) cores; server on CPU $SERVER_CPU, wrk on CPU $WRK_CPU; wrk -t1 -c$CONNS -d${DURATION}s"
BODY='{"sku":"TSHIRT-RED-M","quantity":2,"price":{"amount":1999,"currency":"EUR"},"tags":["summer","sale"],"note":"gift wrap, please"}'

PORT=$(free_port)
start_mercato "$PORT" false
sleep 0.5
IDLE_RSS=$(rss_mb "$PID")
load healthz "http://127.0.0.1:$PORT/healthz"
load echo "http://127.0.0.1:$PORT/v1/echo" "$BODY"
LOADED_RSS=$(rss_mb "$PID")
stop_server

PORT=$(free_port)
start_mercato "$PORT" true
load echo+log "http://127.0.0.1:$PORT/v1/echo" "$BODY"
LOG_LINES=$(wc -l < "$TMP/server.log")
stop_server

PORT=$(free_port)
taskset -c "$SERVER_CPU" "$BUILD/bench/mhd_hello" "$PORT" > /dev/null &
PID=$!
wait_up "http://127.0.0.1:$PORT/healthz"
load mhd_hello "http://127.0.0.1:$PORT/healthz"
stop_server

echo "ratio      healthz/mhd_hello=$(awk -v a="$RPS_healthz" -v b="$RPS_mhd_hello" 'BEGIN { printf "%.2f", a / b }')"
echo "rss        mercato idle=${IDLE_RSS}MB after-load=${LOADED_RSS}MB"
echo "log        echo+log wrote $LOG_LINES lines"
