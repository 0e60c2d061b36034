#!/bin/sh
# Build the libFuzzer harnesses of tests/fuzz (clang, ASan+UBSan, in build-fuzz/)
# and run each for FUZZ_SECONDS (default 20) on a temporary copy of its seed
# corpus, so the repository is never modified. Print each run's last coverage
# line and libFuzzer's "Done" line; exit 1 if any harness crashed, leaked, hung
# or ran out of memory, after printing the input as hex and how to reproduce it.
# Usage: [FUZZ_SECONDS=N] sh scripts/fuzz.sh [harness...]   (default: all)
# See docs/fuzzing.md.
set -eu
cd "$(dirname "$0")/.."

ALL="frame handshake proxy sniff url http sni hubconf ws_head ws_frame h2 socks hproxy users ss scrape mcp
    nodeconf http_acl h2gw rcache quic"
SECS=${FUZZ_SECONDS:-20}
case "$SECS" in
    ''|*[!0-9]*|0) echo "fuzz: FUZZ_SECONDS must be a positive number of seconds" >&2; exit 2 ;;
esac
HARNESSES=${*:-$ALL}
for h in $HARNESSES; do
    [ -f "tests/fuzz/fuzz_$h.c" ] || { echo "fuzz: no harness tests/fuzz/fuzz_$h.c" >&2; exit 2; }
done

echo "== build (clang, libFuzzer + ASan + UBSan)"
CC=clang cmake -S . -B build-fuzz -G Ninja -DWITH_FUZZERS=ON -DWITH_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null
targets=""
for h in $HARNESSES; do targets="$targets fuzz_$h"; done
# shellcheck disable=SC2086
ninja -C build-fuzz $targets

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pn-fuzz.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
KEEP=build-fuzz/artifacts            # crashing inputs outlive $TMP here (git-ignored)

# Findings must stop the run: UBSan aborts (libFuzzer then saves the input), and
# LeakSanitizer runs at the end of every run.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export UBSAN_OPTIONS

# First line of a finding: a sanitizer or libFuzzer report, a UBSan diagnostic,
# a FUZZ_ASSERT (tests/fuzz/fuzz.h), a hang.
REPORT='==[0-9]*== *ERROR\|runtime error:\|invariant failed\|ALARM: working on the last Unit'

failed=""
for h in $HARNESSES; do
    bin="build-fuzz/tests/fuzz/fuzz_$h"
    work="$TMP/$h"
    mkdir -p "$work/corpus" "$work/artifacts"
    [ -d "tests/fuzz/corpus/$h" ] && cp -R "tests/fuzz/corpus/$h/." "$work/corpus/"
    echo "== fuzz_$h (${SECS}s)"
    # max_total_time bounds the fuzzing; timeout(1) bounds a libFuzzer that would
    # not stop (a hang in its own shutdown, a stuck child) with a margin.
    rc=0
    timeout -k 10 $((SECS + 60)) "$bin" -max_total_time="$SECS" -timeout=5 -rss_limit_mb=1024 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" \
        >"$work/log" 2>&1 || rc=$?
    grep -E '^INFO: Seed:' "$work/log" | head -n 1 || true
    grep -E '^#[0-9]+.*cov:.*exec/s:' "$work/log" | tail -n 1 || true
    grep -E '^Done [0-9]+ runs in' "$work/log" | tail -n 1 || true
    found=$(find "$work/artifacts" -type f | sort)
    if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
        echo "fuzz_$h: ok"
        continue
    fi
    failed="$failed $h"
    echo "fuzz_$h: FAILED (exit $rc)"
    # The sanitizer report or broken invariant, from its first line.
    sed -n "/$REPORT/,\$p" "$work/log" | head -n 60
    [ "$rc" -eq 124 ] && echo "fuzz_$h: killed after $((SECS + 60))s"
    mkdir -p "$KEEP/$h"
    for f in $found; do
        cp "$f" "$KEEP/$h/"
        echo "input $(basename "$f") ($(wc -c <"$f") bytes), hex (first 1 KiB):"
        od -An -tx1 -v "$f" | head -n 64
        echo "reproduce: $bin $KEEP/$h/$(basename "$f")"
    done
done

if [ -n "$failed" ]; then
    echo "fuzz: FAILED:$failed (inputs kept in $KEEP/)"
    exit 1
fi
echo "fuzz: all harnesses ok"
