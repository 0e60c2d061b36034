#!/bin/sh
# valgrind memcheck over a short session of the proxy entrance: an entrance with
# direct egress and a Shadowsocks port (aes-256-gcm), an entrance through two nodes
# (relay and reverse) and the relay node under valgrind. Traffic: curl through SOCKS5,
# HTTP and CONNECT, ss-local, UDP ASSOCIATE (direct and through a node); refusals
# (password, user, disabled, allow=, quota mid-transfer, a node's allow=); malformed
# input on both ports; SIGHUP with a broken users file, then a user disabled with a
# connection open; then SIGTERM of every end. Fails when valgrind reports an error or
# a definite/possible leak, a step does not behave as docs/proxy.md says, or an end
# does not exit 0. Bounded in time; stops what it starts by PID.
# The session itself is tests/valgrind/proxy_session.py, run by scripts/valgrind.sh.
exec sh "$(dirname "$0")/valgrind.sh" proxy
