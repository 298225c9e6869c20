#!/bin/bash
# webhooks.sh — outgoing webhook delivery throughput and commit-to-receiver
# delay, against a local receiver (bench/webhooks_bench.mjs).
#
#   bench/webhooks.sh [EVENTS] [API_CONCURRENCY]   (default 2000 16; needs: make MODE=release all)
#
# WORKERS (default 4) sets the job worker threads; MERCATO_TEST_DB=postgres
# with MERCATO_TEST_PG=postgres://user@host:port runs it on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
[ -x "$BUILD/mercato" ] || { echo "build first: make MODE=release all" >&2; exit 1; }
echo "# webhooks: $(nproc) cores; $(date -u +%FT%TZ); $BUILD/mercato"
MERCATO_BIN="$PWD/$BUILD/mercato" node bench/webhooks_bench.mjs "${1:-2000}" "${2:-16}"
