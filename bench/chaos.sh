#!/bin/sh
# The chaos suite's long form (tests/chaos/README.md): 2000 slowloris attackers from 16
# loopback addresses for 20 s against each listener (the hub's HTTP and HTTPS/SNI ports, a
# hub tcp route, the tunnel port, the master's API), each process at ulimit -n 1024, a
# good client measuring its success rate and p99; kill -9 and SIGSTOP/SIGCONT of every
# kind of process mid-transfer (64 MiB transfers, sha256 checked), the master and its
# instances included; stalled readers, a target that never reads, a blackhole target
# (root: a network namespace); the hub's quotas under load; descriptor exhaustion and
# recovery. Figures: one JSON line per test in bench/results/chaos-<date>.jsonl
# (git-ignored) and on the output. About 4 minutes; the machine's load shows in the
# figures (the load average is recorded first).
set -eu
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
mkdir -p bench/results
out="bench/results/chaos-$(date -u +%Y%m%d-%H%M%S).jsonl"
: > "$out"
printf '{"test": "machine", "loadavg": "%s", "cpus": %s}\n' \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" >> "$out"
# The attackers need descriptors of their own: 2000 sockets and the harness's.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
CHAOS_LONG=1 CHAOS_REPORT="$PWD/$out" POSTERN_BIN="${POSTERN_BIN:-$PWD/build/postern}" \
    "$PY" -m pytest -q -s -p no:cacheprovider -c tests/chaos/pytest.ini tests/chaos "$@"
echo "figures: $out"
