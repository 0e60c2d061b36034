#!/bin/sh
# Build postern and run every test: unit tests (cmocka via CTest) on an
# ASan+UBSan build, then the integration suite (pytest) against the release
# binary. This is the README's test command and what .ci/run calls.
set -eu
cd "$(dirname "$0")/.."

sh scripts/deps.sh

# Debian's interpreter, where python3-pytest lives (a pyenv shim may shadow it).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

echo "== layering"
sh scripts/check-layers.sh

echo "== build (release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build
echo "== build (debug, ASan+UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWITH_SANITIZERS=ON >/dev/null
ninja -C build-asan

echo "== unit tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j2

echo "== integration tests"
POSTERN_BIN="$PWD/build/postern" "$PY" -m pytest -q -p no:cacheprovider tests/integration "$@"
