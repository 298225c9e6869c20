#!/bin/bash
# fuzz.sh — runs the libFuzzer harnesses and minimises their corpora.
#
#   tests/fuzz/fuzz.sh [SECONDS] [HARNESS...]      (after `make fuzz`)
#
# Each harness fuzzes for SECONDS (default 300) starting from its committed
# corpus (tests/fuzz/corpus/<name>/) in a scratch directory, then the
# scratch and committed inputs are merged (-merge=1: keep only inputs that
# add coverage) back into the committed corpus.  Crashes are left in
# build/fuzz/crashes/<name>/ and make the script exit non-zero.
set -u
cd "$(dirname "$0")/../.."
SECS=${1:-300}
shift || true
NAMES=("$@")
[ ${#NAMES[@]} -eq 0 ] && NAMES=(fuzz_uri fuzz_router fuzz_json_body fuzz_rfc3339)
rc=0
for n in "${NAMES[@]}"; do
    bin=build/fuzz/$n
    [ -x "$bin" ] || { echo "$bin missing: run make fuzz"; exit 2; }
    case $n in
        fuzz_rfc3339) maxlen=64 ;;
        fuzz_json_body) maxlen=2048 ;;
        *) maxlen=512 ;;
    esac
    work=build/fuzz/work/$n crashes=build/fuzz/crashes/$n
    rm -rf "$work"; mkdir -p "$work" "$crashes" "tests/fuzz/corpus/$n"
    cp tests/fuzz/corpus/$n/* "$work"/ 2>/dev/null
    echo "== $n: ${SECS}s"
    if ! "$bin" -max_total_time="$SECS" -max_len=$maxlen -timeout=5 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$crashes/" "$work" > "build/fuzz/$n.log" 2>&1; then
        echo "$n: crash or error, see build/fuzz/$n.log and $crashes/"; rc=1
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "build/fuzz/$n.log"
    grep -E '#[0-9]+ *DONE' "build/fuzz/$n.log" | tail -1
    if [ "$n" = fuzz_json_body ]; then
        # jansson is Debian's shared library, built without coverage
        # instrumentation: libFuzzer sees only the harness's few branches and
        # a -merge would keep 2 files.  The committed corpus is curated by
        # hand (JSON edge cases); new inputs that add coverage are added.
        "$bin" -merge=1 -max_len=$maxlen "tests/fuzz/corpus/$n" "$work" > "build/fuzz/$n.merge.log" 2>&1
    else
        min=build/fuzz/min/$n
        rm -rf "$min"; mkdir -p "$min"
        "$bin" -merge=1 -max_len=$maxlen "$min" "tests/fuzz/corpus/$n" "$work" > "build/fuzz/$n.merge.log" 2>&1
        rm -rf "tests/fuzz/corpus/$n"; mv "$min" "tests/fuzz/corpus/$n"
    fi
    echo "$n: corpus $(ls tests/fuzz/corpus/$n | wc -l) files, $(du -sk tests/fuzz/corpus/$n | cut -f1) KiB"
done
exit $rc
