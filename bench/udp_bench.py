#!/usr/bin/env python3
"""UDP through postern, measured on loopback, one run, side by side with direct and peers.

1. iperf3 -u throughput and loss: direct, single-end (with and without GSO/GRO), nginx
   stream's UDP proxy (1 worker, its own config in a temporary directory), socat (a child
   per user), reverse tunnel, forward tunnel, both again over type=1 (QUIC: 1400-byte
   datagrams travel as DATAGRAM frames). Each relay also carries iperf3's TCP control
   connection on the same port.
2. Head-of-line blocking: the round trip of a small "ping" session, idle and while another
   session floods the same tunnel (each UDP session rides its own data connection, so the
   flood should not hold the pings up).

Prints a markdown table; figures are not asserted anywhere. Every process it starts is
stopped by PID; every wait is bounded.

    python3 bench/udp_bench.py [--postern build/postern] [--seconds 5] [--rate 1G]
                               [--kinds direct,single-end,...] [--hol-seconds 4] [--len 1400]
"""
import argparse
import json
import os
import platform
import socket
import statistics
import shutil
import subprocess
import sys
import tempfile
import time

LOOP = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((LOOP, 0))
        return s.getsockname()[1]


class Procs:
    """Processes started by this run, stopped by PID at the end."""

    def __init__(self):
        self.procs = []
        self.dirs = []              # temporary directories, removed at the end

    def start(self, argv, env=None):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=e)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs = []
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs = []


def listening(port):
    """True when a TCP socket listens on <port> (read from /proc: connecting to probe
    would count as a client of iperf3 or of the tunnel)."""
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                next(fh)
                for line in fh:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def wait_tcp(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if listening(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


NGINX_CONF = """load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes 1;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 1024; }}
stream {{
    server {{
        listen {loop}:{entry};
        listen {loop}:{entry} udp;
        proxy_pass {loop}:{target};
        proxy_timeout 30s;
    }}
}}
"""


def setup(kind, postern, procs, backend_port):
    """Start <kind> (postern or a peer) in front of <backend_port>; return the port users hit."""
    env = {"POSTERN_REPORT_INTERVAL": "60s"}
    if kind == "direct":
        return backend_port
    entry = free_port()
    if kind.startswith("single-end"):
        if "NO_GSO" in kind:
            env["POSTERN_NO_GSO"] = "1"
        procs.start([postern, f"client://{LOOP}:{entry}/{LOOP}:{backend_port}?mode=1&log=warn"], env)
    elif kind == "nginx stream":
        d = tempfile.mkdtemp(prefix="udp-bench-nginx-")
        procs.dirs.append(d)
        cfg = os.path.join(d, "nginx.conf")
        with open(cfg, "w") as fh:
            fh.write(NGINX_CONF.format(d=d, loop=LOOP, entry=entry, target=backend_port))
        procs.start(["nginx", "-p", d, "-c", cfg, "-e", f"{d}/error.log"])
    elif kind == "socat":
        procs.start(["socat", f"UDP4-LISTEN:{entry},bind={LOOP},reuseaddr,fork",
                     f"UDP4:{LOOP}:{backend_port}"])
        procs.start(["socat", f"TCP4-LISTEN:{entry},bind={LOOP},reuseaddr,fork",
                     f"TCP4:{LOOP}:{backend_port}"])
    elif kind.startswith("reverse tunnel"):
        tun = free_port()
        typ = "&type=1" if kind.endswith("type=1") else ""
        procs.start([postern, f"server://bench@{LOOP}:{tun}/{LOOP}:{entry}?log=warn{typ}"], env)
        wait_tcp(tun)
        procs.start([postern, f"client://bench@{LOOP}:{tun}/{LOOP}:{backend_port}?min=16&mode=2&log=warn"], env)
    elif kind.startswith("forward tunnel"):
        tun = free_port()
        typ = "&type=1" if kind.endswith("type=1") else ""
        procs.start([postern, f"server://bench@{LOOP}:{tun}/{LOOP}:{backend_port}?mode=2&log=warn{typ}"],
                    env)
        wait_tcp(tun)
        procs.start([postern, f"client://bench@{LOOP}:{tun}/{LOOP}:{entry}?min=16&mode=2&log=warn"], env)
    wait_tcp(entry)
    time.sleep(0.5)         # let the pool fill
    return entry


def cpu_seconds(pids):
    """User + system CPU seconds of <pids> and their descendants (nginx's worker, socat's
    children), from /proc."""
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    f = fh.read().rsplit(")", 1)[1].split()
                stats[int(d)] = (int(f[1]), int(f[11]) + int(f[12]))   # ppid, utime + stime
            except (OSError, IndexError, ValueError):
                pass
    tree, todo = set(), list(pids)
    while todo:
        p = todo.pop()
        if p in tree:
            continue
        tree.add(p)
        todo.extend(c for c, (pp, _) in stats.items() if pp == p)
    return sum(stats[p][1] for p in tree if p in stats) / os.sysconf("SC_CLK_TCK")


def iperf_udp(postern, kind, seconds, rate, length):
    procs = Procs()
    try:
        sport = free_port()
        procs.start(["iperf3", "-s", "-p", str(sport), "--bind", LOOP])
        wait_tcp(sport)
        port = setup(kind, postern, procs, sport)
        relays = [p.pid for p in procs.procs[1:]]
        cpu0 = cpu_seconds(relays)
        out = subprocess.run(["iperf3", "-u", "-c", LOOP, "-p", str(port), "-b", rate, "-l", str(length),
                              "-t", str(seconds), "--json"], capture_output=True, text=True,
                             timeout=seconds + 30)
        cpu = cpu_seconds(relays) - cpu0
        r = json.loads(out.stdout)
        if "error" in r:
            return None, None, None
        e = r["end"]
        got = e.get("sum_received", e["sum"])      # what reached the iperf3 server
        gib = got["bytes"] / (1 << 30)
        return (got["bits_per_second"] / 1e9, e["sum"]["lost_percent"],
                cpu / gib if relays and gib > 0 else None)
    finally:
        procs.stop_all()


# Run as separate processes, so the flood, the backend and the pings do not share
# one interpreter lock (which would measure Python, not the relay).
ECHO_SMALL = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(65535)
    if len(d) <= 64:
        s.sendto(d, a)
"""

FLOOD = """
import os, socket, sys, time
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
p = os.urandom(1400)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        c.sendto(p, ("127.0.0.1", int(sys.argv[1])))
    except OSError:
        pass
"""


def pings(port, seconds):
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(1)
    rtts, lost = [], 0
    end = time.time() + seconds
    i = 0
    while time.time() < end:
        i += 1
        msg = b"%08d" % i
        t0 = time.perf_counter()
        c.sendto(msg, (LOOP, port))
        try:
            while True:
                d, _ = c.recvfrom(128)
                if d == msg:
                    break
            rtts.append((time.perf_counter() - t0) * 1e3)
        except socket.timeout:
            lost += 1
        time.sleep(0.005)
    c.close()
    return rtts, lost


def hol(postern, kind, seconds):
    procs = Procs()
    bport = free_port()
    try:
        procs.start([sys.executable, "-c", ECHO_SMALL, str(bport)])
        time.sleep(0.3)
        port = setup(kind, postern, procs, bport)
        idle, _ = pings(port, seconds / 2)
        procs.start([sys.executable, "-c", FLOOD, str(port), str(seconds / 2 + 1)])
        time.sleep(0.3)
        busy, lost = pings(port, seconds / 2)
        q = lambda v, p: statistics.quantiles(v, n=100)[p - 1] if len(v) >= 2 else float("nan")
        return (statistics.median(idle), q(idle, 99), statistics.median(busy) if busy else float("nan"),
                q(busy, 99), lost)
    finally:
        procs.stop_all()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(os.path.dirname(__file__), "..", "build", "postern"))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rate", default="1G", help="iperf3 -b offered rate (0 = as fast as it goes)")
    ap.add_argument("--len", type=int, default=1400, help="iperf3 -l datagram size")
    ap.add_argument("--kinds", default="", help="comma-separated paths to run (default: all)")
    ap.add_argument("--hol-seconds", type=float, default=4,
                    help="length of the ping/flood part per path (0: skip it)")
    a = ap.parse_args()
    postern = os.path.abspath(a.postern)
    kinds = ["direct", "single-end", "single-end POSTERN_NO_GSO=1", "nginx stream", "socat",
             "reverse tunnel", "forward tunnel", "reverse tunnel type=1", "forward tunnel type=1"]
    if a.kinds:
        kinds = [k for k in kinds if k in a.kinds.split(",")]
        assert kinds, f"--kinds: none of {a.kinds!r}"
    for tool in ("iperf3", "nginx", "socat"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing (scripts/deps.sh)")

    print(f"## UDP on loopback ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
          f"{os.cpu_count()} cores, iperf3 -u -b {a.rate} -l {a.len} -t {a.seconds})\n")
    print("| path | delivered Gbit/s | ÷ direct | loss % | relay CPU s/GiB delivered | "
          "ping p50 idle ms | p99 idle | p50 under flood | p99 under flood | pings lost |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    direct = None
    for k in kinds:
        bps, loss, cpg = iperf_udp(postern, k, a.seconds, a.rate, a.len)
        h = hol(postern, k, a.hol_seconds) if a.hol_seconds > 0 else [float("nan")] * 4 + ["-"]
        if k == "direct":
            direct = bps
        tp = f"{bps:.2f}" if bps is not None else "n/a"
        ratio = f"{bps / direct:.2f}x" if bps is not None and direct else "-"
        ls = f"{loss:.1f}" if loss is not None else "n/a"
        cp = f"{cpg:.2f}" if cpg is not None else "-"
        print(f"| {k} | {tp} | {ratio} | {ls} | {cp} | {h[0]:.3f} | {h[1]:.3f} | {h[2]:.3f} | {h[3]:.3f} | {h[4]} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
