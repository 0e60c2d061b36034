#!/bin/sh
# valgrind memcheck over a short hub session: a hub (tls=1, http, https, a port
# range, timeout=2s, two accounts, one with rps/mbps/max_conns/ports/hosts set)
# and an agent (tcp, udp, http with an http probe, https, and http routes from a
# config= file), both under valgrind, the backends in threads of this script.
# Traffic: UDP and TCP echoes (paced by mbps), keep-alive HTTP changing Host
# between two routes, 404, 504, 429, HTTPS by SNI (and an unknown SNI), a
# WebSocket upgrade; SIGHUP of the agent (a bad routes file, then one route
# removed and one added) and of the hub (a bad accounts file, then a limit
# changed); a probed backend stopped until its route is offline (502); a response
# over the bandwidth's burst; then SIGTERM of both. Fails when valgrind reports an
# error or a definite/possible leak, a step does not behave as docs/hub.md says,
# or either end does not exit 0. Bounded in time (about 15-25 s when it passes);
# stops what it starts by PID; keeps the logs when it fails.
# The session itself is tests/valgrind/hub_session.py, run by scripts/valgrind.sh.
exec sh "$(dirname "$0")/valgrind.sh" hub
