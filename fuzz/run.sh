#!/bin/bash
# run.sh: runs each fuzz target for FUZZ_SECONDS on its accumulated corpus
# (build/fuzz/corpus/T, kept between runs) plus the fresh seeds
# (build/fuzz/seeds/T; a T_fastcrypto target shares T's seeds but keeps a
# corpus of its own), FUZZ_JOBS targets at a time (default: one per core),
# and logs the executions of each run to build/fuzz/executions.log (summed
# in fuzz/EXECUTIONS.md).
# A crash leaves build/fuzz/artifacts/T-crash-* and fails the run: turn
# it into fuzz/regressions/T/<name> (replayed by `make test`).
#
#   fuzz/run.sh BUILD_FUZZ_DIR SECONDS TARGET...
set -uo pipefail

dir=$1 seconds=$2
shift 2
jobs=${FUZZ_JOBS:-$(nproc)}
mkdir -p "$dir/artifacts" "$dir/logs"

max_len() {
    case $1 in
        policy) echo 4096 ;;
        misc) echo 8192 ;;
        nsm) echo 12800 ;;
        *) echo 32768 ;;
    esac
}

one() {
    local t=$1 log="$dir/logs/$1.log" runs
    mkdir -p "$dir/corpus/$t"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$dir/fuzz_$t" -max_total_time="$seconds" -timeout=20 \
        -rss_limit_mb=2048 -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/$t-" \
        "$dir/corpus/$t" "$dir/seeds/${t%_fastcrypto}" >"$log" 2>&1
    local rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    printf '%s %s runs=%s seconds=%s exit=%d\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$t" "${runs:-0}" "$seconds" "$rc" \
        >> "$dir/executions.log"
    printf 'fuzz_%-20s %10s executions in %ss, exit %d\n' \
        "$t" "${runs:-0}" "$seconds" "$rc"
    if [ $rc -ne 0 ]; then
        tail -40 "$log" >&2
    fi
    return $rc
}

export -f one max_len
export dir seconds
printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'one {}'
