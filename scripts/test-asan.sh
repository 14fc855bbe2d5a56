#!/bin/bash
# test-asan.sh: the tests against the ASan + UBSan builds in build/asan/.
#
#   scripts/test-asan.sh fast   fuzz regressions, the adversarial CLI
#                               tests and the NSM's bad answers (part of
#                               make test, ~40 s)
#   scripts/test-asan.sh all    the same, the unit tests, the CLI suites
#                               (t/cli), then the nginx suites (t/nginx)
#                               with the ASan module in Debian's nginx
#                               (LD_PRELOAD of gcc's runtime)
#
# A sanitizer finding exits 99 (never 1 or 2, which tests expect) and is
# also written to build/asan/reports/: any report there with an error or a
# leak fails the run, even one from an nginx worker no test looked at.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
A=build/asan
reports="$repo/$A/reports"
mode=${1:-fast}
PYTHON=${PYTHON:-/usr/bin/python3}

rm -rf "$reports"
mkdir -p "$reports"

export ASAN_OPTIONS="exitcode=99:detect_leaks=1:abort_on_error=0:\
detect_stack_use_after_return=1:check_initialization_order=1:\
fast_unwind_on_malloc=0:malloc_context_size=30:log_path=$reports/asan"
export UBSAN_OPTIONS="exitcode=99:halt_on_error=1:print_stacktrace=1:\
log_path=$reports/ubsan"
export LSAN_OPTIONS="suppressions=$repo/scripts/lsan-nginx.supp:\
print_suppressions=0"

failed=0

step() {
    local name=$1
    shift
    echo "test-asan: $name"
    "$@"
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "test-asan: $name failed (exit $rc)" >&2
        failed=1
    fi
}

# every truncation of every real document: minutes under ASan
if [ "$mode" = all ]; then
    step "unit tests" $A/test_core t/fixtures
fi

for dir in fuzz/regressions/*/; do
    t=$(basename "$dir")
    files=("$dir"*)
    [ -e "${files[0]}" ] || continue
    step "fuzz regressions: $t" $A/replay_"$t" "${files[@]}"
done

# all: every CLI suite, the adversarial tests among them; fast: those only
if [ "$mode" = all ]; then
    cli_name="CLI suites" cli_tests=t/cli
else
    cli_name="adversarial CLI tests" cli_tests=t/cli/test_adversarial.py
fi
step "$cli_name" env NITRO_ATTEST_CLI="$repo/$A/nitro-attest" \
    "$PYTHON" -m pytest -q -p no:cacheprovider "$cli_tests"

# the NSM's answers are untrusted too: the emulator's faults and hostile
# answers (build/nsm-emu.so, after gcc's runtime in LD_PRELOAD)
if [ "$mode" = fast ]; then
    step "NSM answers" env NITRO_ATTEST_CLI="$repo/$A/nitro-attest" \
        "$PYTHON" -m pytest -q -p no:cacheprovider t/cli/test_cli_nsm.py \
        -k "fault or decode or another_request or missing"
fi

if [ "$mode" = all ]; then
    step "nginx suites" env NITRO_TEST_NGINX="$repo/scripts/nginx-asan" \
        NITRO_ATTEST_MODULE="$repo/$A/ngx_http_nitro_attest_module.so" \
        "$PYTHON" -m pytest -q -p no:cacheprovider t/nginx
fi

findings=$(grep -lE "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: " \
    "$reports"/* 2>/dev/null)
if [ -n "$findings" ]; then
    echo "test-asan: sanitizer findings:" >&2
    for f in $findings; do
        echo "== $f" >&2
        head -60 "$f" >&2
    done
    exit 99
fi

if [ $failed -ne 0 ]; then
    exit 1
fi
echo "test-asan: $mode: no sanitizer findings"
