#!/bin/sh
# bench/ss_bench.sh: Shadowsocks AEAD servers with the server as the bottleneck:
# postern's proxy://?ss= against Debian's ss-server (shadowsocks-libev) and v2ray's
# shadowsocks inbound (when v2ray is installed), in one run: iperf3 -> ss-tunnel ->
# {server} -> iperf3 -s, all on loopback, the servers measured in alternating rounds
# (upload, then download with -R).
#
# Server-bound: every server under test runs in a cgroup of its own capped at
# SS_CPU_SHARE % of one CPU (default 5: cpu.max on cgroup v2, cpu.cfs_quota_us on v1,
# a 40 ms period; 3 at least), while ss-tunnel and iperf3 are not capped. Each server then relays
# what its share of a CPU lets it, and the throughput of a row is the server's own
# (client-bound otherwise: the one-thread ss-tunnel costs as much per byte as ss-server,
# so it caps every row at about ss-server's figure). Each row prints the server's CPU
# use over the transfer as a share of one CPU: a row is server-bound when that share is
# the cap (printed "bound"), not when the clients left the server idle. SS_CPU_SHARE=0
# runs without a cap (the old client-bound comparison). The default 5 stays under what the
# scheduler gives each process on a loaded machine (at load 30 on 2 cores a cap of 10 was
# not always reached: those rows were bound by the load, not the cap). Also per row: the server's CPU
# seconds per GiB.
#
# Usage: sh bench/ss_bench.sh [method] [seconds] [rounds]      (as root for the cgroups)
#   POSTERN_BIN (default build/postern), SS_CPU_SHARE (default 5). POSTERN_BASE=<binary>
#   adds a row "postern_base" (another build, for a before/after in the same run). Needs
#   iperf3, ss-server, ss-tunnel, python3; v2ray optional.
# Prints per round Gbit/s, CPU share and s/GiB; then the medians and postern's ratios to
# each peer. The machine's load moves the figures: compare only numbers of one run.
set -eu
METHOD=${1:-chacha20-ietf-poly1305}
SECS=${2:-5}
ROUNDS=${3:-3}
SHARE=${SS_CPU_SHARE:-5}
BIN=${POSTERN_BIN:-build/postern}
D=$(mktemp -d)
PIDS=""
CGS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    for c in $CGS; do rmdir "$c" 2>/dev/null || true; done
    rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A cgroup capped at SHARE % of one CPU, its path on stdout; nothing when impossible.
cg_new() {
    q=$((SHARE * 400))         # microseconds of a 40 ms period; the kernel's least is 1 ms
    if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
        c=/sys/fs/cgroup/ss-bench-$$-$1
        mkdir "$c" 2>/dev/null || return 0
        { echo "$q 40000" >"$c/cpu.max"; } 2>/dev/null || { rmdir "$c"; return 0; }
        echo "$c"
    elif [ -d /sys/fs/cgroup/cpu ]; then
        c=/sys/fs/cgroup/cpu/ss-bench-$$-$1
        mkdir "$c" 2>/dev/null || return 0
        { echo 40000 >"$c/cpu.cfs_period_us" && echo "$q" >"$c/cpu.cfs_quota_us"; } 2>/dev/null ||
            { rmdir "$c"; return 0; }
        echo "$c"
    fi
    return 0
}
# Start "$@" as server <name>, in its capped cgroup when SHARE > 0.
server() {
    name=$1
    shift
    "$@" >"$D/$name.log" 2>&1 &
    pid=$!
    PIDS="$PIDS $pid"
    eval "PID_$name=$pid"
    if [ "$SHARE" -gt 0 ]; then
        c=$(cg_new "$name")
        if [ -z "$c" ]; then
            echo "ss_bench: cannot make a cgroup capped at $SHARE % of a CPU (root, a cgroup cpu controller and SS_CPU_SHARE of 3 or more needed); SS_CPU_SHARE=0 measures without a cap, client-bound" >&2
            exit 1
        fi
        CGS="$CGS $c"
        echo "$pid" >"$c/cgroup.procs"
    fi
}

IP=$(port)
PW=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
NAMES="postern ss_server"
[ -n "${POSTERN_BASE:-}" ] && NAMES="postern postern_base ss_server"
command -v v2ray >/dev/null && NAMES="$NAMES v2ray"
iperf3 -s -B 127.0.0.1 -p "$IP" >/dev/null 2>&1 & PIDS="$PIDS $!"
for n in $NAMES; do
    sp=$(port) tp=$(port)
    eval "TP_$n=$tp"
    printf '{"server":"127.0.0.1","server_port":%s,"local_address":"127.0.0.1","local_port":%s,"password":"%s","method":"%s","tunnel_address":"127.0.0.1:%s","timeout":60}\n' \
        "$sp" "$tp" "$PW" "$METHOD" "$IP" >"$D/tunnel-$n.json"
    case $n in
    postern | postern_base)
        printf '{"users": [{"name": "bench", "key": "%s"}]}\n' "$PW" >"$D/users.json"
        b=$BIN
        [ $n = postern_base ] && b=$POSTERN_BASE
        server $n "$b" "proxy://127.0.0.1:$(port)?users=$D/users.json&allow=127.0.0.0/8&ss=127.0.0.1:$sp&method=$METHOD&log=warn"
        ;;
    ss_server)
        printf '{"server":"127.0.0.1","server_port":%s,"password":"%s","method":"%s","timeout":60}\n' \
            "$sp" "$PW" "$METHOD" >"$D/server.json"
        server ss_server ss-server -c "$D/server.json"
        ;;
    v2ray)
        printf '{"log":{"loglevel":"none"},"inbounds":[{"listen":"127.0.0.1","port":%s,"protocol":"shadowsocks","settings":{"method":"%s","password":"%s","network":"tcp"}}],"outbounds":[{"protocol":"freedom"}]}\n' \
            "$sp" "$METHOD" "$PW" >"$D/v2ray.json"
        server v2ray v2ray -config "$D/v2ray.json"
        ;;
    esac
    ss-tunnel -c "$D/tunnel-$n.json" >/dev/null 2>&1 & PIDS="$PIDS $!"
done
sleep 2
for n in $NAMES; do
    eval "pid=\$PID_$n"
    kill -0 "$pid" 2>/dev/null || { echo "ss_bench: $n did not start:" >&2; cat "$D/$n.log" >&2; exit 1; }
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# One transfer through server <name> (direction flag in $2): "Gbit/s cpu-share s/GiB".
measure() {
    eval "pid=\$PID_$1 tp=\$TP_$1"
    # An iperf3 server still closing the last test says "busy" (a loaded machine):
    # try again, at most 5 times.
    for try in 1 2 3 4 5; do
        a=$(ticks "$pid")
        t0=$(date +%s.%N)
        j=$(timeout $((SECS + 30)) iperf3 -c 127.0.0.1 -p "$tp" -t "$SECS" $2 -J 2>/dev/null || true)
        t1=$(date +%s.%N)
        b=$(ticks "$pid")
        r=$(echo "$j" | /usr/bin/python3 -c '
import json, os, sys
a, b, t0, t1 = (float(x) for x in sys.argv[1:5])
try:
    e = json.load(sys.stdin)["end"]["sum_received"]
except (ValueError, KeyError):
    sys.exit(1)
hz = os.sysconf("SC_CLK_TCK")
cpu = (b - a) / hz
print("%.2f %.2f %.2f" % (e["bits_per_second"] / 1e9, cpu / (t1 - t0), cpu / (e["bytes"] / 2**30)))' \
            "$a" "$b" "$t0" "$t1") && { echo "$r"; return 0; }
        sleep 1
    done
    echo "ss_bench: iperf3 through $1 failed 5 times: $(echo "$j" | tail -c 300)" >&2
    exit 1
}

echo "method=$METHOD, $SECS s a transfer, $ROUNDS rounds, cap: $([ "$SHARE" -gt 0 ] && echo "$SHARE % of one CPU per server" || echo none), load $(cut -d' ' -f1-3 /proc/loadavg)"
for dir in "" "-R"; do
    what=$([ -z "$dir" ] && echo upload || echo download)
    for r in $(seq "$ROUNDS"); do
        line="$what round $r:"
        for n in $NAMES; do
            set -- $(measure "$n" "$dir")
            echo "$n $1 $2 $3" >>"$D/res-$what"
            bound=""
            [ "$SHARE" -gt 0 ] && /usr/bin/python3 -c "import sys; sys.exit(0 if float('$2') >= 0.9 * $SHARE / 100 else 1)" && bound=" bound"
            line="$line $n $1 Gbit/s (CPU $2$bound, $3 s/GiB);"
        done
        echo "$line"
    done
    /usr/bin/python3 - "$D/res-$what" "$what" <<'EOF'
import statistics, sys
rows = {}
for ln in open(sys.argv[1]):
    n, g, s, c = ln.split()
    rows.setdefault(n, []).append((float(g), float(s), float(c)))
med = {n: [statistics.median(v[i] for v in rows[n]) for i in range(3)] for n in rows}
print("  %s medians: " % sys.argv[2] + "; ".join(
    "%s %.2f Gbit/s, CPU %.2f, %.2f s/GiB" % (n, *med[n]) for n in med))
p = med["postern"]
for n in med:
    if n != "postern":
        print("  postern / %s: throughput %.2fx, CPU per GiB %.2fx" % (n, p[0] / med[n][0], p[2] / med[n][2]))
EOF
done
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
