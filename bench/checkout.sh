#!/bin/bash
# checkout.sh — the whole purchase under load: per virtual user, create a
# cart, add an item, place the order (Idempotency-Key), pay with the test
# provider; prints completed orders/s, p50/p99 (per request and per
# purchase) and the server's RSS.
#
#   make MODE=release all && bench/checkout.sh [seconds] [users]
#   BENCH_DB=postgres bench/checkout.sh      # on a throw-away PostgreSQL (PG_DURABLE=1: fsync on)
#   SERVE_ARGS="--http-threads 1" bench/checkout.sh   # extra server flags
#
# The demo catalog is seeded with 2000 products (every variant 100 units),
# rate limits are raised and the access log is off, so the figures measure
# checkout, not the limiter or the log.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
USERS=${2:-32}
BUILD=${BUILD:-build/release}
BIN=$BUILD/mercato
BENCH_DB=${BENCH_DB:-sqlite}
[ -x "$BIN" ] && [ -x "$BUILD/bench/checkout_bench" ] || { echo "build first: make MODE=release all" >&2; exit 1; }
TMP=$(mktemp -d /tmp/mercato-checkoutbench.XXXXXX)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null
    wait 2>/dev/null || true
    [ "$BENCH_DB" = postgres ] && tests/lib/pg.sh stop "$TMP/pg" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT

if [ "$BENCH_DB" = postgres ]; then
    PGURL=$(PG_DURABLE=1 tests/lib/pg.sh start "$TMP/pg")
    u=${PGURL#postgres://}; user=${u%@*}; hp=${u#*@}
    createdb -h "${hp%:*}" -p "${hp#*:}" -U "$user" bench
    export DATABASE_URL="$PGURL/bench"
else
    export DATABASE_URL="sqlite:$TMP/bench.db"
fi
export MERCATO_DATA_DIR="$TMP" MERCATO_RATE_ANON=1000000000 MERCATO_RATE_USER=1000000000
MERCATO_LOG_LEVEL=warn "$BIN" seed --demo --products 2000 >/dev/null
"$BIN" serve --port 0 --access-log=false ${SERVE_ARGS:-} 2> "$TMP/server.log" &
PID=$!
PORT=""
for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$TMP/server.log" | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { cat "$TMP/server.log"; exit 1; }
echo "# checkout: $BENCH_DB, $(nproc) cores, ${USERS} virtual users, ${DUR}s; $(date -u +%FT%TZ)"
metrics() { curl -s "http://127.0.0.1:$PORT/metrics" > "$1"; }
lockstat() { awk '/^mercato_db_(write_lock_[a-z_]*|group_commits_total|grouped_transactions_total) / {printf "%s ", $2}' "$1"; }
metrics "$TMP/metrics.before"
cpu() { awk '{print $14 + $15}' /proc/$PID/stat; }   # utime + stime, clock ticks
CPU0=$(cpu)
"$BUILD/bench/checkout_bench" "http://127.0.0.1:$PORT" "$USERS" "$DUR" | tee "$TMP/bench.out"
CPU1=$(cpu)
metrics "$TMP/metrics.after"
# the server's CPU time (every thread: HTTP, handlers, writer, jobs,
# checkpointer) per completed order; less noisy than orders/s between runs
awk -v t=$((CPU1 - CPU0)) -v hz="$(getconf CLK_TCK)" -v d="$DUR" '/^completed \(paid\) orders/ { n = $4 }
    END { if (n) printf "server CPU              %.2f cores, %.0f us per order\n", t / hz / d, 1e6 * t / hz / n }' "$TMP/bench.out"
if [ "$BENCH_DB" = sqlite ]; then
    # the SQLite writer: transactions taken, time waited for and held
    echo "$(lockstat "$TMP/metrics.before") $(lockstat "$TMP/metrics.after")" | awk -v d="$DUR" '{ n=$6-$1; w=$7-$2; h=$8-$3; g=$9-$4; t=$10-$5;
        printf "write lock              %d tx/s, held %.0f%% of the time, mean hold %.0f us, mean wait %.0f us\n",
               n/d, 100*h/d, n ? 1e6*h/n : 0, n ? 1e6*w/n : 0;
        printf "group commit            %d groups/s, %.1f db_tx per group\n", g/d, g ? t/g : 0 }'
    # the group leaders' CPU per completed order: the writer's own work,
    # steadier between runs than orders/s (the machine's speed drifts)
    leader() { awk '/^mercato_db_group_leader(_cpu)?_seconds_total / {v[$1]=$2} END {print v["mercato_db_group_leader_seconds_total"], v["mercato_db_group_leader_cpu_seconds_total"]}' "$1"; }
    echo "$(leader "$TMP/metrics.before") $(leader "$TMP/metrics.after")" | awk -v n="$(awk '/^completed \(paid\) orders/ {print $4}' "$TMP/bench.out")" '{
        w=$3-$1; c=$4-$2; if (n > 0 && w > 0) printf "group leaders           %.0f us CPU per order, wall %.0f us (CPU %.0f%% of it)\n", 1e6*c/n, 1e6*w/n, 100*c/w }'
    awk '/^mercato_db_checkpoint[a-z_]* / {v[$1]=$2}
        END {printf "checkpoints             %d, %d pages, %.2f s (%.2f s holding the write lock), %d WAL restarts; ",
             v["mercato_db_checkpoints_total"], v["mercato_db_checkpoint_pages_total"], v["mercato_db_checkpoint_seconds_total"],
             v["mercato_db_checkpoint_lock_seconds_total"], v["mercato_db_checkpoint_restarts_total"]}' "$TMP/metrics.after"
    echo "WAL now $(( $(stat -c %s "$TMP/bench.db-wal" 2>/dev/null || echo 0) / 1048576 )) MiB"
    # WAL bytes per completed order (the orders' own writes and the
    # background work they caused in the run): a steadier measure of the
    # write volume than orders/s
    walb() { awk '/^mercato_db_wal_written_bytes_total / {print $2}' "$1"; }
    awk -v b0="$(walb "$TMP/metrics.before")" -v b1="$(walb "$TMP/metrics.after")" '/^completed \(paid\) orders/ { n = $4 }
        END { if (n && b1 != "") printf "WAL written             %.1f KiB per order (%.1f pages)\n", (b1 - b0) / n / 1024, (b1 - b0) / n / 4120 }' "$TMP/bench.out"
fi
# the work the orders left behind, by queue, when the load stops: shipments
# to create and mails to send should be near 0 (the workers keep up);
# carrier.demo (its timer) waits by design (orders.expire jobs are gone since
# the expiry sweep; an older database may still hold some)
awk '/^mercato_jobs\{/ && /state="queued"/ {
        q = $1; sub(/.*queue="/, "", q); sub(/".*/, "", q); printf "%s %s\n", q, $2 }' "$TMP/metrics.after" |
    awk '{ line = line sep $1 " " $2; sep = ", " } END { printf "jobs queued at the end   %s\n", line ? line : "none" }'
# events the shared consumers (fulfilment, notifications, webhooks) have
# not handled yet: near 0 when they keep up
awk '/^mercato_event_consumer_lag\{/ { c = $1; sub(/.*consumer="/, "", c); sub(/".*/, "", c); line = line sep c " " $2; sep = ", " }
    END { printf "events not consumed yet  %s\n", line ? line : "none" }' "$TMP/metrics.after"
printf 'server RSS              %s MiB (VmHWM %s MiB)\n' \
    "$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$PID/status)" "$(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$PID/status)"
