#!/bin/sh
# valgrind memcheck over a short session of postern:
#   sh scripts/valgrind.sh [tunnel|master|hub|proxy]      (default: tunnel)
# tunnel: a tls=1 reverse tunnel with rate, slot, block and proxy set, TCP and UDP
#   traffic through it, then SIGTERM (tests/valgrind/tunnel_session.py);
# master: scripts/valgrind-master.sh (tests/valgrind/master_session.py);
# hub: scripts/valgrind-hub.sh (tests/valgrind/hub_session.py);
# proxy: scripts/valgrind-proxy.sh (tests/valgrind/proxy_session.py).
# Fails when valgrind reports an error or a definite/possible leak, or an end does not
# exit 0. Bounded in time; stops what it starts by PID. POSTERN_BIN is the binary
# (default build/postern).
set -eu
cd "$(dirname "$0")/.."
BIN=${POSTERN_BIN:-$PWD/build/postern}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# The valgrind command line the session starts each postern under: an error or a
# definite/possible leak makes it exit 9 (set POSTERN_VALGRIND to run another).
: "${POSTERN_VALGRIND:=valgrind --quiet --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,possible --show-leak-kinds=definite,possible}"
export POSTERN_VALGRIND
case "${1:-tunnel}" in
    tunnel|master|hub|proxy) exec "$PY" "tests/valgrind/${1:-tunnel}_session.py" "$BIN" ;;
    *) echo "usage: sh scripts/valgrind.sh [tunnel|master|hub|proxy]" >&2; exit 2 ;;
esac
