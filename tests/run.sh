#!/bin/bash
# run.sh — runs the whole suite for one database backend and prints one
# summary line: "N passed, N failed, N skipped".
#
#   tests/run.sh sqlite      unit tests, fuzz corpus replay, API tests on SQLite
#   tests/run.sh postgres    database-layer and API tests on a throw-away PostgreSQL
#
# BUILD selects the build directory (build/debug by default).  Unit tests and
# fuzz replays are backend-independent and run in the sqlite pass only; tests
# that need a database read MERCATO_TEST_DB (sqlite or postgres) and, for
# PostgreSQL, MERCATO_TEST_PG (a server URL without database name).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/debug}
BACKEND=${1:-sqlite}
export MERCATO_BIN="$PWD/$BUILD/mercato"
export MERCATO_TEST_DB="$BACKEND"
PASS=0 FAIL=0 SKIP=0
FAILED_NAMES=()
TMP=$(mktemp -d /tmp/mercato-test.XXXXXX)
trap 'tests/lib/pg.sh stop "$TMP/pg" >/dev/null 2>&1; rm -rf "$TMP"' EXIT

# sanitizer runtime options: fail on the first report, no leak noise from
# libraries' process-lifetime allocations is suppressed (we want to see ours)
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"

note() { printf '%s\n' "$*"; }

if [ "$BACKEND" = postgres ]; then
    if ! tests/lib/pg.sh start "$TMP/pg" > "$TMP/pg.url"; then
        note "could not start a throw-away PostgreSQL"
        echo "0 passed, 1 failed, 0 skipped"
        exit 1
    fi
    export MERCATO_TEST_PG=$(cat "$TMP/pg.url")
    note "PostgreSQL at $MERCATO_TEST_PG"
fi

# ---- C unit tests (cmocka) ----
run_unit() {
    local bin=$1 name=${1#$BUILD/tests/unit/} out
    out=$("$bin" 2>&1)
    local rc=$?
    local p f s
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
    p=${p:-0} f=${f:-0} s=${s:-0}
    if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
    PASS=$((PASS + p)); FAIL=$((FAIL + f)); SKIP=$((SKIP + s))
    if [ "$f" != 0 ]; then
        FAILED_NAMES+=("unit:$name")
        # the assertions that failed (wherever they are), then the tail
        printf '%s\n' "$out" | grep -E '^\[ +(RUN|ERROR|LINE|FAILED) +\]' | grep -B1 -A2 -E 'ERROR|LINE' | head -40
        printf '%s\n' "$out" | tail -40
        { echo "  unit $name:"; printf '%s\n' "$out" | grep -E '^\[ +(ERROR|LINE|FAILED) +\]' | head -8 | sed 's/^/    /'
          [ $rc -gt 128 ] && echo "    died with signal $((rc - 128))"; } >> "$TMP/failures"
    fi
    note "unit  $name: $p passed, $f failed"
}

if [ "$BACKEND" = sqlite ]; then
    for t in $(find "$BUILD/tests/unit" -type f -perm -u+x 2>/dev/null | sort); do
        case "$t" in */db/*) continue ;; esac
        run_unit "$t"
    done
    # ---- fuzz corpus replay ----
    for h in $(find "$BUILD/tests/fuzz" -type f -perm -u+x -name 'fuzz_*' 2>/dev/null | sort); do
        n=$(basename "$h")
        if [ -d "tests/fuzz/corpus/$n" ] && out=$("$h" "tests/fuzz/corpus/$n" 2>&1); then
            PASS=$((PASS + 1)); note "fuzz  $n: $(printf '%s' "$out" | tail -1)"
        else
            FAIL=$((FAIL + 1)); FAILED_NAMES+=("fuzz:$n"); printf '%s\n' "$out" | tail -30
            { echo "  fuzz $n:"; printf '%s\n' "$out" | tail -4 | sed 's/^/    /'; } >> "$TMP/failures"
        fi
    done
fi

# ---- database-layer tests (both backends) ----
for t in $(find "$BUILD/tests/unit/db" -type f -perm -u+x 2>/dev/null | sort); do
    run_unit "$t"
done

# ---- black-box API tests (node:test against the real binary) ----
if command -v node >/dev/null 2>&1; then
    files=$(ls tests/api/*.test.mjs 2>/dev/null)
    if [ -n "$files" ]; then
        node --test --test-reporter=tap --test-concurrency=2 --test-timeout=600000 $files > "$TMP/api.tap" 2>&1
        p=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$TMP/api.tap" | tail -1)
        f=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$TMP/api.tap" | tail -1)
        s=$(sed -n 's/^# skipped \([0-9]*\)/\1/p' "$TMP/api.tap" | tail -1)
        c=$(sed -n 's/^# cancelled \([0-9]*\)/\1/p' "$TMP/api.tap" | tail -1)
        p=${p:-0} f=${f:-0} s=${s:-0} c=${c:-0}
        f=$((f + c))
        if [ "$p" = 0 ] && [ "$f" = 0 ]; then f=1; fi
        PASS=$((PASS + p)); FAIL=$((FAIL + f)); SKIP=$((SKIP + s))
        if [ "$f" != 0 ]; then
            FAILED_NAMES+=("api")
            grep -n -B2 -A30 '^not ok\|^    not ok\|^        not ok' "$TMP/api.tap" | head -300
            # a short list for the end of the output (CI shows its tail):
            # each failed test with its error line
            echo "  api ($BACKEND):" >> "$TMP/failures"
            awk '/^ *not ok /{n=1; print; next}
                 n && /^ *location: /{print; next}
                 n && /^ *error: /{print; m=($0 ~ /[|][-]?$/) ? 2 : 0; n=0; next}
                 m {print; m--}' "$TMP/api.tap" | head -40 | sed 's/^ */  /' >> "$TMP/failures"
        fi
        note "api   ($BACKEND): $p passed, $f failed, $s skipped"
    fi
else
    note "node is not installed: API tests cannot run"
    FAIL=$((FAIL + 1))
fi

[ -s "$TMP/failures" ] && { note "what failed:"; cat "$TMP/failures"; }
[ ${#FAILED_NAMES[@]} -gt 0 ] && note "failed: ${FAILED_NAMES[*]}"
echo "$PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" -eq 0 ]
