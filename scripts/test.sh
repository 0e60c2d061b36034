#!/bin/sh
# Build postern and run every test. This is the README's test command and what
# .ci/run calls:
#   1. the include layering check (and the tests of that check);
#   2. unit tests (cmocka via CTest) on an ASan+UBSan build;
#   3. the integration suite (pytest, real binary) against the release build, then
#      the chaos suite's short form (tests/chaos);
#   4. a sanitizer pass: a named subset of the integration suite against the
#      ASan+UBSan binary (a leak or an error there makes it exit non-zero): the files
#      named by -k, without the tests marked asan_skip (slow ones whose code a shorter
#      test runs there; asan_keep keeps one or a few parameter sets of a parametrized
#      test; tests/README.md);
#   5. valgrind memcheck over short tunnel, master, hub and proxy sessions;
#   6. the web checks: the OpenAPI document against the OpenAPI 3 schema, and the
#      dashboard driven in headless Chromium by Playwright against the real master;
#   7. every libFuzzer harness for FUZZ_SECONDS (default 10) seconds (longer runs:
#      docs/fuzzing.md).
# Extra arguments go to the main pytest run (e.g. -k tunnel).
set -eu
cd "$(dirname "$0")/.."

sh scripts/deps.sh
# Every program a test needs is installed now: a missing one fails its test, not skips it.
export POSTERN_REQUIRE_TOOLS=1

# Debian's interpreter, where python3-pytest lives (a pyenv shim may shadow it).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

echo "== layering"
sh scripts/check-layers.sh
sh tests/scripts/check_layers_test.sh
echo "== bash completion (contrib/bash-completion/postern)"
bash tests/scripts/completion_test.sh

echo "== build (release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build
echo "== systemd units (contrib/systemd, systemd-analyze verify)"
sh tests/scripts/systemd_units_test.sh
echo "== man page (scdoc, man --warnings, every --help name in it)"
sh tests/scripts/man_test.sh
echo "== build (debug, ASan+UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWITH_SANITIZERS=ON >/dev/null
ninja -C build-asan

echo "== npm packages of the web checks (tests/web/package-lock.json)"
# Before the integration tests: one of them runs the OpenAPI check on the served document.
# --engine-strict: a package whose "engines" refuses this Node.js stops the run (npm only
# warns without it). check_engines.mjs: every package must also accept the oldest Node.js
# that tests/web/package.json allows (Debian 12's nodejs, 18), even on a newer Node.js.
(cd tests/web && npm ci --engine-strict --no-audit --no-fund --loglevel=error)
node tests/web/check_engines.mjs

echo "== unit tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j2

echo "== integration tests"
POSTERN_BIN="$PWD/build/postern" "$PY" -m pytest -q -p no:cacheprovider --durations=12 tests/integration "$@"

echo "== chaos suite, short form (tests/chaos: slowloris, kill -9, SIGSTOP, EMFILE)"
POSTERN_BIN="$PWD/build/postern" "$PY" -m pytest -q -p no:cacheprovider -c tests/chaos/pytest.ini tests/chaos

echo "== integration subset on the ASan+UBSan build"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
POSTERN_BIN="$PWD/build-asan/postern" "$PY" -m pytest -q -p no:cacheprovider --durations=12 tests/integration \
    -m "not asan_skip" -k "single_basic or newuser or logfmt or drain or reload or np_env or np_tunables or notify or halfclose or signals or tunnel_flow or tunnel_auth or tunnel_tls or udp_datagram or udp_session or udp_paths or limits_block or limits_proxy or limits_slot or proxy_socks_http or proxy_users or proxy_ss or proxy_egress or relay_paths or master_api or master_supervise or master_openapi or hub or admission or early_refusal or abortive_end or master_halted or master_mcp or transport_ or 21_metrics or master_states or master_history"

echo "== valgrind memcheck: a short tunnel session, a master session, a hub session, a proxy session"
POSTERN_BIN="$PWD/build/postern" sh scripts/valgrind.sh
POSTERN_BIN="$PWD/build/postern" sh scripts/valgrind-master.sh
POSTERN_BIN="$PWD/build/postern" sh scripts/valgrind-hub.sh
POSTERN_BIN="$PWD/build/postern" sh scripts/valgrind-proxy.sh

echo "== web: OpenAPI document, dashboard in headless Chromium"
node tests/web/openapi_check.mjs src/master/openapi.json
POSTERN_BIN="$PWD/build/postern" node tests/web/dashboard.test.mjs

echo "== fuzzing (${FUZZ_SECONDS:=10} s per harness)"
FUZZ_SECONDS=$FUZZ_SECONDS sh scripts/fuzz.sh

# Each stage above stops the run on failure (set -e): reaching here means all passed.
echo "checks: 7 passed, 0 failed (layering, unit, integration, ASan subset, valgrind, web, fuzzing)"
