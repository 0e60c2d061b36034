#!/bin/sh
# valgrind memcheck over a short master session: a master (under valgrind) on a
# fresh database, one single-end instance created through the API, traffic
# through it, an SSE client, every read endpoint, a tcping, key rotation,
# stop/start/delete, then SIGTERM. Fails when valgrind reports an error or a
# definite/possible leak, or the master does not exit 0. Stops what it starts.
# The session itself is tests/valgrind/master_session.py, run by scripts/valgrind.sh.
exec sh "$(dirname "$0")/valgrind.sh" master
