#!/bin/sh
# bench/ss_bench.sh: Shadowsocks throughput, postern's proxy://?ss= against Debian's
# ss-server (shadowsocks-libev), in one run: iperf3 -> ss-tunnel -> {postern | ss-server}
# -> iperf3 -s, all on loopback, each peer measured in alternating rounds (upload, then
# download with -R). Prints Gbit/s per round and the ratio of the medians.
# Usage: sh bench/ss_bench.sh [method] [seconds] [rounds]
#   POSTERN_BIN (default build/postern). Needs iperf3, ss-server, ss-tunnel, python3.
# The machine's load moves the figures: compare only numbers of one run.
set -eu
METHOD=${1:-chacha20-ietf-poly1305}
SECS=${2:-5}
ROUNDS=${3:-3}
BIN=${POSTERN_BIN:-build/postern}
D=$(mktemp -d)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; rm -rf "$D"; }
trap cleanup EXIT INT TERM
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
IP=$(port); PP=$(port); SP=$(port); T1=$(port); T2=$(port)
PW=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '{"users": [{"name": "bench", "key": "%s"}]}\n' "$PW" > "$D/users.json"
for x in "p $PP $T1" "s $SP $T2"; do
    set -- $x
    printf '{"server":"127.0.0.1","server_port":%s,"local_address":"127.0.0.1","local_port":%s,"password":"%s","method":"%s","tunnel_address":"127.0.0.1:%s","timeout":60}\n' \
        "$2" "$3" "$PW" "$METHOD" "$IP" > "$D/t$1.json"
done
printf '{"server":"127.0.0.1","server_port":%s,"password":"%s","method":"%s","timeout":60}\n' \
    "$SP" "$PW" "$METHOD" > "$D/server.json"
iperf3 -s -B 127.0.0.1 -p "$IP" >/dev/null 2>&1 & PIDS="$PIDS $!"
"$BIN" "proxy://127.0.0.1:$(port)?users=$D/users.json&allow=127.0.0.0/8&ss=127.0.0.1:$PP&method=$METHOD&log=warn" \
    >"$D/postern.log" 2>&1 & PIDS="$PIDS $!"
ss-server -c "$D/server.json" >/dev/null 2>&1 & PIDS="$PIDS $!"
ss-tunnel -c "$D/tp.json" >/dev/null 2>&1 & PIDS="$PIDS $!"
ss-tunnel -c "$D/ts.json" >/dev/null 2>&1 & PIDS="$PIDS $!"
sleep 1
gbps() {
    timeout $((SECS + 20)) iperf3 -c 127.0.0.1 -p "$1" -t "$SECS" $2 -J 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
for dir in "" "-R"; do
    P="" S=""
    for r in $(seq "$ROUNDS"); do
        a=$(gbps "$T1" "$dir"); b=$(gbps "$T2" "$dir")
        echo "method=$METHOD $([ -z "$dir" ] && echo upload || echo download) round $r: postern $a Gbit/s, ss-server $b Gbit/s"
        P="$P $a"; S="$S $b"
    done
    /usr/bin/python3 -c 'import statistics,sys; p=[float(x) for x in sys.argv[1].split()]; s=[float(x) for x in sys.argv[2].split()]; print("  median: postern %.2f, ss-server %.2f, ratio %.2f" % (statistics.median(p), statistics.median(s), statistics.median(p)/statistics.median(s)))' "$P" "$S"
done
