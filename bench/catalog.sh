#!/bin/bash
# catalog.sh — catalog and search read paths on a 100,000-product demo catalog.
#
#   make MODE=release all && bench/catalog.sh
#
# Seeds `mercato seed --demo --products $PRODUCTS` (default 100000) into a
# fresh SQLite file, starts the release server pinned to CPU 0 (one event
# loop, no job workers, access log off) and runs wrk pinned to CPU 1,
# -t1 -c$CONNS (default 32), $DURATION s per case after a warm pass over
# every URL of the case (so the product and answer caches are warm):
#   by-id      GET /v1/products/{id}, 2,000 different published products
#   list       GET /v1/products?limit=20, every sort x (no category | each category)
#   search     GET /v1/search?q=... (facets included in every answer), 120 queries
#              of one and two words, some with filters
#   suggest    GET /v1/search/suggest?q=..., 1- to 4-letter prefixes of those words
#   search-nocache  the same searches on a second server with --search-cache-mb 0
#              (every request runs the query and counts the facets)
# then prints mercato's RSS (VmRSS, which counts the pages of the SQLite
# file mapped with mmap, and RssAnon, the process's own memory).  Targets
# (issue 5): by-id >= 40,000 req/s; list >= 10,000 req/s; search p99 <= 10 ms
# at 32 connections; suggest p99 <= 3 ms; RSS <= 150 MB.  Figures only; the
# machine is shared, so run it twice before trusting a difference.
# Environment: CASES (default: by-id list search suggest search-nocache), PRODUCTS, SEED_DB (copy this database instead of seeding), DURATION, WARMUP, CONNS, SERVER_CPU, WRK_CPU, BUILD.
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCTS=${PRODUCTS:-100000}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-32}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
BUILD=${BUILD:-build/release}
CASES=${CASES:-by-id list search suggest search-nocache}
BIN=$BUILD/mercato
[ -x "$BIN" ] || { echo "build first: make MODE=release all" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/deps.sh installs it)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/mercato-catbench.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
export DATABASE_URL="sqlite:$TMP/catalog.db" MERCATO_DATA_DIR="$TMP" MERCATO_LOG_LEVEL=warn \
       MERCATO_RATE_ANON=1000000000 MERCATO_RATE_USER=1000000000

echo "# catalog: mercato $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores, $(date -u +%FT%TZ)"
if [ -n "${SEED_DB:-}" ]; then   # reuse a database seeded earlier (copied)
    cp "$SEED_DB" "$TMP/catalog.db"
    echo "seed       copied from $SEED_DB"
else
    SEED=$("$BIN" seed --demo --products "$PRODUCTS" 2>&1 | tail -1)
    echo "seed       $SEED"
fi
echo "db         $(du -m "$TMP/catalog.db" | cut -f1) MB on disk"

start() { # extra flags...
    MERCATO_LOG_LEVEL=info taskset -c "$SERVER_CPU" "$BIN" serve --port 0 --http-threads 1 --workers 0 --access-log=false "$@" \
        2> "$TMP/server.log" &
    PID=$!
    PORT=""
    for _ in $(seq 200); do
        PORT=$(sed -n 's/.*listening on http:\/\/[0-9.]*:\([0-9]*\).*/\1/p' "$TMP/server.log" | head -1)
        [ -n "$PORT" ] && break
        sleep 0.1
    done
    [ -n "$PORT" ] || { cat "$TMP/server.log"; exit 1; }
    URL="http://127.0.0.1:$PORT"
}
stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }

start
# ---- the URLs of each case, read from the running server ----
python3 - "$URL" "$TMP" <<'PY'
import json, sys, urllib.request, urllib.parse
url, tmp = sys.argv[1], sys.argv[2]
get = lambda p: json.load(urllib.request.urlopen(url + p))
ids, cur = [], None
while len(ids) < 2000:
    page = get('/v1/products?limit=100' + ('&cursor=' + cur if cur else ''))
    ids += [p['id'] for p in page['items']]
    cur = page['next_cursor']
    if not cur: break
open(tmp + '/by-id', 'w').write(''.join('/v1/products/%s\n' % i for i in ids))
def slugs(nodes):
    for n in nodes:
        yield n['slug']; yield from slugs(n['children'])
cats = list(slugs(get('/v1/categories')['items']))
lst = ['/v1/products?limit=20&sort=%s%s\n' % (s, '&category=' + c if c else '')
       for s in ('newest', 'price_asc', 'price_desc', 'rating') for c in [None] + cats]
open(tmp + '/list', 'w').write(''.join(lst))
words = []
for ch in 'abcdefghiklmnoprstw':
    for s in get('/v1/search/suggest?limit=20&q=' + ch)['suggestions']:
        if s['term'] not in words and len(s['term']) > 2: words.append(s['term'])
qs = words[:80] + ['%s %s' % (words[i], words[i + 1]) for i in range(0, 40, 2)]
qs = ['/v1/search?q=%s\n' % urllib.parse.quote(q) for q in qs]
qs += ['/v1/search?q=%s&category=%s&sort=price_asc\n' % (urllib.parse.quote(w), c) for w, c in zip(words[:20], cats * 2)]
open(tmp + '/search', 'w').write(''.join(qs[:120]))
sug = sorted({w[:n] for w in words for n in (1, 2, 3, 4)})
open(tmp + '/suggest', 'w').write(''.join('/v1/search/suggest?q=%s\n' % urllib.parse.quote(s) for s in sug))
PY
for f in by-id list search suggest; do printf '%-10s %s URLs\n' "urls" "$f: $(wc -l < "$TMP/$f")"; done

load() { # name file
    export BENCH_PATHS="$TMP/$2"
    # warm: every URL once, then a short wrk pass
    while read -r p; do curl -s -o /dev/null "$URL$p"; done < "$TMP/$2"
    taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s bench/catalog.lua "$URL" > /dev/null
    local out
    out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s bench/catalog.lua "$URL" | tail -1)
    printf '%-15s %s\n' "$1" "$out"
}
rss() { awk '/^VmRSS/ { r = $2 } /^RssAnon/ { a = $2 } END { printf "VmRSS=%.1fMB RssAnon=%.1fMB", r / 1024, a / 1024 }' "/proc/$PID/status"; }

echo "# wrk -t1 -c$CONNS -d${DURATION}s; server: 1 event-loop thread on CPU $SERVER_CPU, wrk on CPU $WRK_CPU"
cache() { curl -s "$URL/metrics" | awk '/^mercato_search_cache_requests_total\{result="hit"\}/ { h = $2 }
    /^mercato_search_cache_requests_total\{result="miss"\}/ { m = $2 } END { printf "answer cache hits=%d misses=%d", h, m }'; }
echo "rss            idle: $(rss)"
for c in $CASES; do
    [ "$c" = search-nocache ] || load "$c" "$c"
done
echo "rss            after load, caches warm: $(rss)"
echo "cache          $(cache) (warm-up passes included)"
stop

if [[ " $CASES " == *" search-nocache "* ]]; then
    start --search-cache-mb 0
    load search-nocache search
    stop
fi
