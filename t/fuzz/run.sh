#!/usr/bin/env bash
# t/fuzz/run.sh SECONDS [HARNESS ...]: each libFuzzer harness (built by
# `make -C t/fuzz`) for SECONDS, from its committed seeds (t/fuzz/corpus/
# NAME, read only) and what earlier runs found (build/fuzz/corpus/NAME).
# A crash leaves its input in build/fuzz/crashes/ and fails the run.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT="$ROOT/build/fuzz"
SECONDS_EACH=${1:?usage: run.sh SECONDS [HARNESS ...]}
shift
HARNESSES=("$@")
[ ${#HARNESSES[@]} -gt 0 ] || HARNESSES=(jwt json_body csv template webhook query)

failed=()
mkdir -p "$OUT/crashes"

for name in "${HARNESSES[@]}"; do
    bin="$OUT/fuzz_$name"
    log="$OUT/fuzz_$name.log"
    mkdir -p "$OUT/corpus/$name"

    # libFuzzer's own sanitizer settings, not those of ../../build.sh test-asan
    env -u ASAN_OPTIONS -u UBSAN_OPTIONS -u LSAN_OPTIONS \
        "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
            -max_len=16384 -print_final_stats=1 \
            -artifact_prefix="$OUT/crashes/$name-" \
            "$OUT/corpus/$name" "$ROOT/t/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?

    # stat::number_of_executed_units: N ... stat::average_exec_per_sec: N
    printf '%-10s %3ss  %9s execs  %6s exec/s  corpus %4s  %s\n' "$name" \
        "$SECONDS_EACH" \
        "$(awk '/number_of_executed_units/ {print $2}' "$log")" \
        "$(awk '/average_exec_per_sec/ {print $2}' "$log")" \
        "$(find "$OUT/corpus/$name" "$ROOT/t/fuzz/corpus/$name" -type f | wc -l)" \
        "$([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)")"

    if [ $rc -ne 0 ]; then
        failed+=("$name")
        grep -E 'check failed|ERROR:|SUMMARY:|Test unit written' "$log" \
            | head -10
    fi
done

[ ${#failed[@]} -eq 0 ] || { echo "fuzz failures: ${failed[*]} (logs: $OUT)"; exit 1; }
