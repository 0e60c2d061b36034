#!/bin/sh
# valgrind memcheck over a short master session: a master (under valgrind) on a
# fresh database, one single-end instance created through the API, traffic
# through it, an SSE client, every read endpoint, a tcping, key rotation,
# stop/start/delete, then SIGTERM. Fails when valgrind reports an error or a
# definite/possible leak, or the master does not exit 0. Stops what it starts.
# The session itself is tests/valgrind/master_session.py.
set -eu
cd "$(dirname "$0")/.."
BIN=${POSTERN_BIN:-$PWD/build/postern}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
# The valgrind command line the session starts each postern under: an error or a
# definite/possible leak makes it exit 9 (set POSTERN_VALGRIND to run another).
: "${POSTERN_VALGRIND:=valgrind --quiet --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,possible --show-leak-kinds=definite,possible}"
export POSTERN_VALGRIND
exec "$PY" tests/valgrind/master_session.py "$BIN"
