#!/usr/bin/env python3
"""The tunnel's TCP pool (type=0) against its QUIC transport (type=1) on a lossy path
(issue 15): request/response latency under a parallel bulk transfer, and bulk throughput.

The path (tests/harness/netns.py): two network namespaces joined by a veth pair, 1 % of
the packets dropped at random each way (nftables, on each receiving end), a tbf cap of
200 Mbit/s on each end. A reverse tunnel: server:// in namespace a (users on a's
127.0.0.1), client:// in namespace b, the service behind it in b (this script with
--serve: a forking TCP server, one process per connection, whose first byte says sink,
source or echo). A "direct" row runs the same clients against the service's veth address,
no tunnel: the kernel's TCP alone on the same path.

Per path and bulk direction (up: a -> b, the users' side sending; down: b -> a):
  bulk alone          one connection for --seconds: goodput (Mbit/s)
  rr alone            request/response: --size bytes echoed, one at a time on one
                      connection, and on a new connection each; p50/p99/max (ms)
  rr under bulk       the same while one bulk connection runs in the same tunnel (for
                      type=1 the same QUIC connection), and the bulk's goodput meanwhile
Every client is its own process (this script with --bulk or --rr, in namespace a), so
no interpreter lock is shared. Ratios type=1/type=0 and the issue's goals: rr p99 under
bulk at most 0.5x type=0's, bulk throughput at least type=0's. Figures are never
asserted; every process is started in a namespace by PID and stopped by PID, the
namespaces are deleted at the end (also on Ctrl-C). Needs root, ip, tc, nft.

    nice -n 19 python3 bench/lossy_bench.py [--postern build/postern] [--quick]
        [--rounds 2] [--seconds 8] [--rr-seconds 12] [--dirs up,down] [--paths direct,type=0,type=1]
(a path type=1:bbr runs type=1 with POSTERN_QUIC_CC=bbr: any of cubic, bbr, bbr2, reno)
"""
import argparse
import json
import os
import select
import shutil
import signal
import socket
import socketserver
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from harness.netns import LossyPath  # noqa: E402
from harness.procs import Unavailable  # noqa: E402

TUNNEL_PORT, USER_PORT, SERVICE_PORT = 7100, 7101, 7200
BLOCK = 256 << 10


# --------------------------------------------------------------------------------------
# the helpers run inside the namespaces (this script with --serve, --bulk, --rr)
# --------------------------------------------------------------------------------------

class Service(socketserver.BaseRequestHandler):
    """First byte: S sink (read to EOF, answer the count), G source (send until the
    peer's EOF), E echo."""

    def handle(self):
        c = self.request
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        kind = c.recv(1)
        if kind == b"S":
            n = 0
            while True:
                b = c.recv(1 << 20)
                if not b:
                    break
                n += len(b)
            c.sendall(f"{n}\n".encode())
        elif kind == b"G":                     # until the peer's EOF (a half-close)
            block = os.urandom(BLOCK)
            c.settimeout(30)
            try:
                while True:
                    r, _, _ = select.select([c], [], [], 0)
                    if r and not c.recv(1):
                        break
                    c.sendall(block)
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        elif kind == b"E":
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b)


class ForkingServer(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    request_queue_size = 256
    max_children = 4096


def serve(host, port):
    with ForkingServer((host, port), Service) as srv:
        print("serving", flush=True)
        # the children must not hold the driver's pipe open (its reader would wait)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 1)
        os.dup2(null, 2)
        srv.serve_forever()


def dial(host, port, timeout=30):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def bulk(host, port, direction, seconds):
    """One connection: send (up) or receive (down) for <seconds>; print the goodput."""
    s = dial(host, port)
    t0 = time.monotonic()
    if direction == "up":
        s.sendall(b"S")
        block = os.urandom(BLOCK)
        while time.monotonic() - t0 < seconds:
            s.sendall(block)
        s.shutdown(socket.SHUT_WR)
        n = int(s.recv(100).decode().strip() or 0)     # what the sink received
        took = time.monotonic() - t0
    else:
        s.sendall(b"G")
        n = 0
        while time.monotonic() - t0 < seconds:
            b = s.recv(1 << 20)
            if not b:
                break
            n += len(b)
        took = time.monotonic() - t0
        # a clean end: half-close, the source stops and half-closes, read what was in
        # flight (a reset instead would measure how each type handles one)
        s.shutdown(socket.SHUT_WR)
        while s.recv(1 << 20):
            pass
    s.close()
    print(json.dumps({"bytes": n, "seconds": took}), flush=True)


def rr(host, port, size, seconds, max_one, max_new):
    """Request/response: <size> bytes echoed, one at a time on one connection for half of
    <seconds> (at most <max_one>), then on a new connection each (at most <max_new>).
    Print the latencies (ms) and the failures."""
    out = {"one": [], "new": [], "errors": []}
    req = os.urandom(size)
    s = dial(host, port)
    s.sendall(b"E")
    t_end = time.monotonic() + seconds / 2
    while time.monotonic() < t_end and len(out["one"]) < max_one:
        t0 = time.perf_counter()
        s.sendall(req)
        got = b""
        while len(got) < size:
            b = s.recv(size - len(got))
            if not b:
                raise SystemExit("echo closed")
            got += b
        out["one"].append((time.perf_counter() - t0) * 1000)
        if got != req:
            out["errors"].append("reply differs")
    s.close()
    t_end = time.monotonic() + seconds / 2
    while time.monotonic() < t_end and len(out["new"]) < max_new:
        t0 = time.perf_counter()
        try:
            with dial(host, port, timeout=10) as c:
                c.sendall(b"E" + req)
                got = b""
                while len(got) < size:
                    b = c.recv(size - len(got))
                    if not b:
                        break
                    got += b
        except OSError as e:
            out["errors"].append(str(e))
            continue
        out["new"].append((time.perf_counter() - t0) * 1000)
        if got != req:
            out["errors"].append(f"reply {len(got)} of {size} bytes")
    print(json.dumps(out), flush=True)


# --------------------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------------------

def helper(path, side, args, name):
    return path.start(side, [sys.executable, os.path.abspath(__file__)] + [str(a) for a in args],
                      name=name)


def result(p, timeout, what):
    rc = p.wait_exit(timeout)
    if rc is None:
        p.cleanup()
        raise RuntimeError(f"{what}: no end within {timeout:.0f}s")
    lines = [ln for ln in p.lines() if ln.startswith("{")]
    if rc != 0 or not lines:
        raise RuntimeError(f"{what}: exit {rc}: {p.output()[-800:]}")
    return json.loads(lines[-1])


def start_path(path, kind, postern):
    """The service in b and, for a tunnel, the server in a and the client in b. Return
    the (host, port) the clients in a dial."""
    svc = helper(path, "b", ["--serve", "127.0.0.1" if kind != "direct" else path.addr["b"],
                             SERVICE_PORT], "service")
    svc.wait_for_log("serving", timeout=10)
    if kind == "direct":
        return path.addr["b"], SERVICE_PORT
    typ, _, cc = kind.split("=")[1].partition(":")    # type=1:bbr: POSTERN_QUIC_CC=bbr
    a = path.addr["a"]
    env = {"POSTERN_REPORT_INTERVAL": "5s"}
    if cc:
        env["POSTERN_QUIC_CC"] = cc
    s = path.start("a", [postern, f"server://bench@{a}:{TUNNEL_PORT}/127.0.0.1:{USER_PORT}"
                                  f"?type={typ}"], env=env, name="server")
    s.wait_for_log(r"listening for clients on", timeout=10)
    c = path.start("b", [postern, f"client://bench@{a}:{TUNNEL_PORT}/127.0.0.1:{SERVICE_PORT}"
                                  f"?mode=2"], env=env, name="client")
    m = c.wait_for_log(r"connected to .* type=(\d)", timeout=20)
    if m.group(1) != typ:
        raise RuntimeError(f"the client runs type={m.group(1)}, not {typ}")
    path.listening("a", USER_PORT, proc=s)
    time.sleep(1.5)                                 # the pool fills
    return "127.0.0.1", USER_PORT


def measure(path, host, port, direction, a):
    r = {}
    b = helper(path, "a", ["--bulk", host, port, direction, a.seconds], "bulk")
    x = result(b, a.seconds + 60, "bulk alone")
    r["bulk"] = x["bytes"] * 8 / x["seconds"] / 1e6
    q = helper(path, "a", ["--rr", host, port, a.size, a.rr_idle_seconds, 2000, 400], "rr")
    r["idle"] = result(q, a.rr_idle_seconds + 60, "rr alone")
    b = helper(path, "a", ["--bulk", host, port, direction, a.rr_seconds + 2], "bulk")
    time.sleep(1.0)                                 # the bulk ramps up
    q = helper(path, "a", ["--rr", host, port, a.size, a.rr_seconds, 20000, 4000], "rr")
    r["busy"] = result(q, a.rr_seconds + 60, "rr under bulk")
    x = result(b, a.rr_seconds + 60, "bulk under rr")
    r["bulk_busy"] = x["bytes"] * 8 / x["seconds"] / 1e6
    r["lost"] = {side: path.counters(side) for side in ("a", "b")}
    return r


def pct(v, q):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def fmt(x, d=1):
    return "-" if x != x else f"{x:.{d}f}"


def table(runs, kinds, dirs):
    """runs[(kind, dir)] = [measure() per round]: medians of throughput, pooled samples
    for the percentiles."""
    agg = {}
    for key, rs in runs.items():
        if not rs:
            continue
        g = {"bulk": statistics.median(r["bulk"] for r in rs),
             "bulk_busy": statistics.median(r["bulk_busy"] for r in rs)}
        for phase in ("idle", "busy"):
            for mode in ("one", "new"):
                v = [x for r in rs for x in r[phase][mode]]
                g[f"{phase}_{mode}"] = (len(v), pct(v, 50), pct(v, 99), max(v) if v else float("nan"))
        g["errors"] = sum(len(r[p]["errors"]) for r in rs for p in ("idle", "busy"))
        lost = [r["lost"] for r in rs]
        g["lost"] = {s: (sum(x[s]["lost"][0] for x in lost), sum(x[s]["seen"][0] for x in lost))
                     for s in ("a", "b")}
        agg[key] = g
    print()
    print("| path | bulk | bulk alone Mbit/s | bulk under rr Mbit/s | rr alone 1 conn p50/p99 ms "
          "| rr under bulk 1 conn n, p50/p99/max ms | rr under bulk new conn n, p50/p99/max ms "
          "| errors | dropped a / b (of packets) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in dirs:
        for k in kinds:
            g = agg.get((k, d))
            if not g:
                continue
            io, bo, bn = g["idle_one"], g["busy_one"], g["busy_new"]
            la, lb = g["lost"]["a"], g["lost"]["b"]
            print(f"| {k} | {d} | {fmt(g['bulk'])} | {fmt(g['bulk_busy'])} | {fmt(io[1], 2)} / "
                  f"{fmt(io[2], 2)} | {bo[0]}, {fmt(bo[1], 2)} / {fmt(bo[2], 2)} / {fmt(bo[3])} | "
                  f"{bn[0]}, {fmt(bn[1], 2)} / {fmt(bn[2], 2)} / {fmt(bn[3])} | {g['errors']} | "
                  f"{la[0]}/{la[1]} ({100 * la[0] / max(1, la[1]):.2f} %), "
                  f"{lb[0]}/{lb[1]} ({100 * lb[0] / max(1, lb[1]):.2f} %) |")
    for q in (k for k in kinds if k.startswith("type=1")):
        if ("type=0", dirs[0]) not in agg or (q, dirs[0]) not in agg:
            continue
        print()
        print(f"| bulk | {q}/type=0: bulk alone | bulk under rr | rr under bulk p99, 1 conn "
              "| rr under bulk p99, new conn | rr under bulk p50, 1 conn | goal p99 <= 0.5x "
              "| goal bulk >= 1.0x |")
        print("|---|---|---|---|---|---|---|---|")
        for d in dirs:
            z, o = agg.get(("type=0", d)), agg.get((q, d))
            if not z or not o:
                continue
            rb = o["bulk"] / z["bulk"]
            rbb = o["bulk_busy"] / z["bulk_busy"]
            p1 = o["busy_one"][2] / z["busy_one"][2]
            pn = o["busy_new"][2] / z["busy_new"][2]
            p50 = o["busy_one"][1] / z["busy_one"][1]
            goal_p = "met" if max(p1, pn) <= 0.5 else "not met"
            goal_b = "met" if rb >= 1.0 else "not met"
            print(f"| {d} | {rb:.2f}x | {rbb:.2f}x | {p1:.2f}x | {pn:.2f}x | {p50:.2f}x | "
                  f"{goal_p} | {goal_b} |")
    return agg


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("--serve", "--bulk", "--rr"):
        role, rest = sys.argv[1], sys.argv[2:]
        if role == "--serve":
            serve(rest[0], int(rest[1]))
        elif role == "--bulk":
            bulk(rest[0], int(rest[1]), rest[2], float(rest[3]))
        else:
            rr(rest[0], int(rest[1]), int(rest[2]), float(rest[3]), int(rest[4]), int(rest[5]))
        return 0

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--quick", action="store_true", help="1 round, 4 s bulk, 6 s rr")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, paths alternated (default 2)")
    ap.add_argument("--seconds", type=float, default=8, help="bulk alone (default 8)")
    ap.add_argument("--rr-seconds", type=float, default=12,
                    help="rr under bulk, half one connection, half new ones (default 12)")
    ap.add_argument("--rr-idle-seconds", type=float, default=4, help="rr alone (default 4)")
    ap.add_argument("--size", type=int, default=64, help="request and reply bytes (default 64)")
    ap.add_argument("--dirs", default="up,down", help="bulk directions (default up,down)")
    ap.add_argument("--paths", default="direct,type=0,type=1")
    ap.add_argument("--loss", type=int, default=1, help="percent dropped each way (default 1)")
    ap.add_argument("--rate", default="200mbit", help="tbf rate on each end (default 200mbit)")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds, a.rr_seconds, a.rr_idle_seconds = 1, 4, 6, 2
    a.postern = os.path.abspath(a.postern)
    missing = [t for t in ("ip", "tc", "nft", "ss") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        print(f"lossy_bench needs root and ip, tc, nft, ss (sh scripts/deps.sh installs "
              f"iproute2 and nftables); missing: {missing or 'root'}", file=sys.stderr)
        return 2
    kinds = [k for k in a.paths.split(",") if k]
    dirs = [d for d in a.dirs.split(",") if d]

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    with open("/proc/loadavg") as f:
        load0 = f.read().split()[:3]
    t_start = time.monotonic()
    print(f"lossy path: {a.loss} % loss each way, tbf {a.rate}; load average at start "
          f"{' '.join(load0)}; {os.cpu_count()} CPUs; postern {a.postern}", flush=True)
    runs = {(k, d): [] for k in kinds for d in dirs}
    try:
        for rnd in range(a.rounds):
            order = kinds if rnd % 2 == 0 else list(reversed(kinds))
            for d in dirs:
                for k in order:
                    with LossyPath(tag="lossyb", loss=a.loss, rate=a.rate) as path:
                        host, port = start_path(path, k, a.postern)
                        r = measure(path, host, port, d, a)
                    runs[(k, d)].append(r)
                    print(f"round {rnd + 1} {k} {d}: bulk {r['bulk']:.0f} Mbit/s, under rr "
                          f"{r['bulk_busy']:.0f}; rr under bulk 1 conn p50/p99 "
                          f"{pct(r['busy']['one'], 50):.2f}/{pct(r['busy']['one'], 99):.2f} ms "
                          f"(n={len(r['busy']['one'])}), new conn "
                          f"{pct(r['busy']['new'], 50):.2f}/{pct(r['busy']['new'], 99):.2f} ms "
                          f"(n={len(r['busy']['new'])})", flush=True)
    except KeyboardInterrupt:
        print("interrupted: the figures so far", flush=True)
    except (Unavailable, RuntimeError) as e:
        print(f"stopped: {e}", flush=True)
    table(runs, kinds, dirs)
    with open("/proc/loadavg") as f:
        load1 = f.read().split()[:3]
    print(f"\nload average at end {' '.join(load1)}; {time.monotonic() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
