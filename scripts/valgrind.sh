#!/bin/sh
# valgrind memcheck over a short tunnel session: a tls=1 reverse tunnel with
# rate, slot, block and proxy set, TCP and UDP traffic through it, then
# SIGTERM. Fails when valgrind reports an error or a definite/possible leak,
# or either end does not exit 0. Bounded in time; stops what it starts by PID.
# The session itself is tests/valgrind/tunnel_session.py.
set -eu
cd "$(dirname "$0")/.."
BIN=${POSTERN_BIN:-$PWD/build/postern}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# The valgrind command line the session starts each postern under: an error or a
# definite/possible leak makes it exit 9 (set POSTERN_VALGRIND to run another).
: "${POSTERN_VALGRIND:=valgrind --quiet --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,possible --show-leak-kinds=definite,possible}"
export POSTERN_VALGRIND
exec "$PY" tests/valgrind/tunnel_session.py "$BIN"
