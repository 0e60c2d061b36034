#!/bin/sh
# 256 MiB each way through type=2 (WebSocket) and type=3 (HTTP/2), both flows, tls=0/1/2,
# compared by sha256: the bulk tests of tests/integration/94_transport_{ws,h2}_test.py
# (32 MiB in CI) at a size too long for CI on a loaded 2-core machine. Prints pytest's
# durations of each case.
#
#   sh bench/transport_bulk.sh [MiB [CASES]]     (from the checkout; build/postern built)
#
# CASES narrows the cases by pytest -k, e.g. 'reverse-0' (reverse flow, tls=0).
set -eu
MIB=${1:-256}
CASES=${2:-}
cd "$(dirname "$0")/.."
K="bulk_each_way"
[ -n "$CASES" ] && K="$K and $CASES"
POSTERN_BULK_MIB=$MIB POSTERN_BIN=$PWD/build/postern POSTERN_REQUIRE_TOOLS=1 \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider --durations=0 -k "$K" \
    tests/integration/94_transport_ws_test.py tests/integration/94_transport_h2_test.py
