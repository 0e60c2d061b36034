#!/usr/bin/env python3
"""postern hubs in a cluster (docs/hub.md §7), on loopback: what the hop between hubs costs
and how the shared registry scales.

Set-up: redis-server of its own (port, directory, no persistence), hub A (public=127.0.1.1)
and hub B (public=127.0.1.2) on it, one agent on A with tcp routes to an iperf3 server, an
echo server and a sha256 server.

Figures:
  1. forwarding: the tcp route on A's port (direct) against the same route on B's port
     (B -> A over the TLS-PSK hub link): iperf3 1 stream, Gbit/s (median of the runs);
     new connections per second (compare.py's connrate: connect, 1 byte echoed, close)
  2. 256 MiB (--mib) through the cross-hub route, byte for byte (sha256 both ends), time
  3. registry at scale: an agent with --routes http routes (a routes file) attaches to A:
     claims per second until all are registered (each one a Lua script in Redis); RSS of
     hub A per route, Redis used_memory per route; hub B restarted: time until its cache
     holds every route again (SCAN + MGET); a lookup on B for a host no hub holds (the
     404 path: the cache is in memory, Redis is never on a user's path), p50/p99 over 2000
     requests on one keep-alive connection

Figures are never asserted. Every process is stopped by PID; every wait is bounded.
Writes a markdown table to stdout and to bench/results/cluster-<date>.md (git-ignored).

    python3 bench/cluster_bench.py [--quick] [--registry] [--routes 20000] [--mib 256] [--postern build/postern]

--registry: the registry figures (3) only, not the forwarding ones (1, 2).
--hubs N (N >= 2): the claiming agents of figure 3 are spread over N - 1 hubs (A, then C,
D, ... of their own, on the same Redis), round robin, so the claims run on several hubs at
once; B holds none of them and is the hub restarted. RSS per route is given per claiming
hub (its growth / the routes it holds).
"""
import argparse
import hashlib
import http.client
import json
import os
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from compare import HERE, Procs, free_port, start, stop, up  # noqa: E402

DIGEST = r"""
import hashlib, socket, sys, threading
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(64)
def serve(c):
    h, n = hashlib.sha256(), 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(f"{n} {h.hexdigest()}\n".encode())
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

TOKEN = "bench-token-" + "b" * 24
SECRET = "bench-cluster-secret-" + "s" * 16
ENV = {"POSTERN_REPORT_INTERVAL": "1s", "POSTERN_CLUSTER_TTL": "3s"}


def rss_kib(pid):
    return compare.status_kib(pid, "VmRSS")


def redis_routes(port):
    """The route keys (pn:r:*) Redis holds."""
    out = os.popen(f"redis-cli -p {port} --scan --pattern 'pn:r:*' | wc -l").read()
    return int(out.strip() or 0)


def redis_used(port):
    out = os.popen(f"redis-cli -p {port} info memory").read()
    for line in out.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    return 0


def wait_log(path, needle, count=1, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        with open(path, errors="replace") as fh:
            if fh.read().count(needle) >= count:
                return True
        time.sleep(0.05)
    return False


def last_state(path):
    with open(path, errors="replace") as fh:
        lines = [ln for ln in fh.read().splitlines() if "HUB_STATE|" in ln]
    for ln in reversed(lines):      # the last one may be half written
        try:
            return json.loads(ln.split("HUB_STATE|", 1)[1])
        except ValueError:
            continue
    return None


def hub(procs, tmp, name, redis_port, public, extra=""):
    ctl, http, peer = free_port(), free_port(), free_port()
    with open(os.path.join(tmp, "secret"), "w") as fh:
        fh.write(SECRET + "\n")
    url = (f"hub://127.0.0.1:{ctl}?accounts={tmp}/accounts.json&http=127.0.0.1:{http}"
           f"&ports={BASE}-{BASE + 9}&domain=bench.test&cluster=redis://127.0.0.1:{redis_port}"
           f"&id={name}&peer=127.0.0.1:{peer}&cluster_secret={tmp}/secret&public={public}{extra}")
    log = os.path.join(tmp, f"{name}.log")
    p = start(procs, [ARGS.postern, url], log, ENV)
    up(ctl, p)
    p.ctl, p.http, p.url = ctl, http, url
    return p


def cross_vs_direct(a_public, b_public, port, fn):
    compare.LOOP = a_public
    direct = fn(port)
    compare.LOOP = b_public
    cross = fn(port)
    compare.LOOP = "127.0.0.1"
    return direct, cross


def transfer(host, port, mib):
    block = hashlib.sha256(b"postern").digest() * 32768      # 1 MiB
    want = hashlib.sha256()
    t0 = time.time()
    with socket.create_connection((host, port), timeout=120) as s:
        for _ in range(mib):
            s.sendall(block)
            want.update(block)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    dt = time.time() - t0
    return got.decode().strip() == f"{mib << 20} {want.hexdigest()}", dt


def lookups(port, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        c.request("GET", "/", headers={"Host": f"none-{i}.bench.test"})
        r = c.getresponse()
        r.read()
        lat.append((time.perf_counter() - t0) * 1000)
        if r.getheader("connection", "").lower() == "close":
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.close()
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99)]


def forwarding(rows, runs, secs):
    """Figures 1 and 2: the tcp routes direct on A and through B."""
    d, c = cross_vs_direct("127.0.1.1", "127.0.1.2", BASE + 1,
                           lambda p: compare.throughput(p, 1, runs, secs))
    rows.append(("iperf3 1 stream, Gbit/s", d, c))
    d, c = cross_vs_direct("127.0.1.1", "127.0.1.2", BASE + 2,
                           lambda p: compare.connrate(p, secs)[0])
    rows.append(("new connections/s (connect, 1 byte echoed, close)", d, c))
    ok, dt = transfer("127.0.1.2", BASE + 3, ARGS.mib)
    rows.append((f"{ARGS.mib} MiB through B -> A, sha256 {'equal' if ok else 'DIFFERENT'}, s", None, dt))


def main():
    global ARGS, BASE
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--registry", action="store_true", help="the registry figures only")
    ap.add_argument("--routes", type=int, default=20000)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--hubs", type=int, default=2, help="hubs in all (the claims on all but B)")
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ARGS = ap.parse_args()
    if ARGS.quick:
        ARGS.routes, ARGS.mib = min(ARGS.routes, 2000), min(ARGS.mib, 32)
    secs, runs = (2, 1) if ARGS.quick else (5, 3)
    BASE = free_port()           # the hubs' ports= start there
    tmp = tempfile.mkdtemp(prefix="pn-cluster-bench-")
    procs = Procs()
    rows, roots = [], []
    try:
        with open(os.path.join(tmp, "accounts.json"), "w") as fh:
            json.dump({"accounts": [{"name": "bench", "token": TOKEN}]}, fh)
        rport = free_port()
        rd = start(procs, ["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--dir", tmp,
                           "--save", "", "--appendonly", "no"], os.path.join(tmp, "redis.log"))
        up(rport, rd)
        a = hub(procs, tmp, "hub-a", rport, "127.0.1.1")
        b = hub(procs, tmp, "hub-b", rport, "127.0.1.2")
        roots += [a.pid, b.pid]
        iperf_port, echo_port, dig_port = free_port(), free_port(), free_port()
        start(procs, ["iperf3", "-s", "-p", str(iperf_port), "--bind", "127.0.0.1"], os.path.join(tmp, "iperf.log"))
        for _ in range(2):
            start(procs, [sys.executable, "-c", compare.ECHO, str(echo_port)], os.path.join(tmp, "echo.log"))
        start(procs, [sys.executable, "-c", DIGEST, str(dig_port)], os.path.join(tmp, "digest.log"))
        for p in (iperf_port, echo_port, dig_port):
            up(p)
        alog = os.path.join(tmp, "agent.log")
        ag = start(procs, [ARGS.postern, f"agent://{TOKEN}@127.0.0.1:{a.ctl}?tcp=127.0.0.1:{iperf_port},port={BASE + 1}"
                           f"&tcp=127.0.0.1:{echo_port},port={BASE + 2}&tcp=127.0.0.1:{dig_port},port={BASE + 3}"],
                   alog, ENV)
        roots.append(ag.pid)
        if not wait_log(alog, "registered on the hub's port", 3, 20):
            raise RuntimeError("the agent's routes were not registered")
        time.sleep(2)           # B learns the routes and opens its forwarding listeners
        if not ARGS.registry:
            forwarding(rows, runs, secs)
        # registry at scale
        # agents of at most 5000 routes each (a routes file is at most 1 MiB), all at once
        claimers = [a]
        for j in range(max(ARGS.hubs, 2) - 2):
            h = hub(procs, tmp, f"hub-{chr(ord('c') + j)}", rport, f"127.0.1.{3 + j}")
            roots.append(h.pid)
            claimers.append(h)
        held = [0] * len(claimers)
        rss0 = [rss_kib(h.pid) for h in claimers]
        rss_b0 = rss_kib(b.pid)
        mem0 = redis_used(rport)
        logs = []
        t0 = time.time()
        for k in range(0, ARGS.routes, 5000):
            j = (k // 5000) % len(claimers)
            held[j] += min(k + 5000, ARGS.routes) - k
            routes = [{"type": "http", "local": f"127.0.0.1:{echo_port}", "host": f"r{i}"}
                      for i in range(k, min(k + 5000, ARGS.routes))]
            rfile = os.path.join(tmp, f"routes-{k}.json")
            with open(rfile, "w") as fh:
                json.dump({"routes": routes}, fh)
            logs.append(os.path.join(tmp, f"scale-agent-{k}.log"))
            sa = start(procs, [ARGS.postern, f"agent://{TOKEN}@127.0.0.1:{claimers[j].ctl}?config={rfile}&min=4"],
                       logs[-1], ENV)
            roots.append(sa.pid)
        end = time.time() + 600
        done = False
        while time.time() < end and not done:
            n = 0
            for lg in logs:
                with open(lg, errors="replace") as fh:
                    n += fh.read().count("registered as")
            done = n >= ARGS.routes
            time.sleep(0.05)
        dt = time.time() - t0
        time.sleep(1)
        mem1 = redis_used(rport)
        rows.append(("route keys in Redis once every agent registered (tcp routes included)", None,
                     redis_routes(rport)))
        late = 0
        for lg in logs:
            with open(lg, errors="replace") as fh:
                late += fh.read().count("did not answer within 2 s")
        rows.append(("claims refused past the 2 s deadline (asked again by their agents)", None, late))
        for j, h in enumerate(claimers):
            st = last_state(os.path.join(tmp, f"hub-{'a' if j == 0 else chr(ord('c') + j - 1)}.log"))
            rows.append((f"hub {'A' if j == 0 else chr(ord('C') + j - 1)}: heartbeats found expired "
                         "(its routes claimed again)", None,
                         st["cluster"].get("lapses", float("nan")) if st else float("nan")))
        time.sleep(5)
        rows.append(("route keys in Redis 5 s later", None, redis_routes(rport)))
        where = f" on {len(claimers)} hubs" if len(claimers) > 1 else ""
        rows.append((f"{ARGS.routes} claims{where}{'' if done else ' (NOT all registered)'}: claims/s",
                     None, ARGS.routes / dt))
        # B claims nothing: its growth is the cache of the others' routes, per route
        cached = (rss_kib(b.pid) - rss_b0) * 1024 / ARGS.routes
        rows.append(("hub B RSS growth per cached route (it holds none), bytes", None, cached))
        for j, h in enumerate(claimers):
            name = "A" if j == 0 else chr(ord("C") + j - 1)
            grown = (rss_kib(h.pid) - rss0[j]) * 1024
            rows.append((f"hub {name} RSS growth / the routes it holds ({held[j]}), bytes", None,
                         grown / max(held[j], 1)))
            if len(claimers) > 1:
                rows.append((f"hub {name}, less the cache of the others' routes at B's rate, bytes "
                             "per route it holds", None,
                             (grown - (ARGS.routes - held[j]) * cached) / max(held[j], 1)))
        rows.append(("Redis used_memory per route, bytes", None, (mem1 - mem0) / ARGS.routes))
        # B restarted: its cache rebuilt
        blog = os.path.join(tmp, "hub-b.log")
        b.terminate()
        b.wait(10)
        open(blog, "w").close()
        t0 = time.time()
        b2 = start(procs, [ARGS.postern, b.url], blog, ENV)
        roots.append(b2.pid)
        rebuilt = None
        end = time.time() + 120
        while time.time() < end:
            st = last_state(blog)
            if st and st["cluster"]["remote_routes"] >= ARGS.routes + 3:
                rebuilt = time.time() - t0
                break
            time.sleep(0.05)
        rows.append(("hub B restarted: cache holds every route after, s (state lines every 1 s)", None,
                     rebuilt if rebuilt is not None else float("nan")))
        if rebuilt is None:
            st = last_state(blog)
            print(f"hub B after 120 s: {st['cluster']['remote_routes'] if st else 'no state line'}"
                  f" remote routes; Redis holds {redis_routes(rport)} route keys", file=sys.stderr)
        rows.append(("hub B RSS with the cache, KiB", None, rss_kib(b2.pid)))
        p50, p99 = lookups(b.http, 200 if ARGS.quick else 2000)
        rows.append(("unknown host on B (404, no Redis on the path): p50 ms", None, p50))
        rows.append(("unknown host on B (404, no Redis on the path): p99 ms", None, p99))
    finally:
        stop(procs, roots)
        shutil.rmtree(tmp, ignore_errors=True)
    load = open("/proc/loadavg").read().split()[:3]
    out = ["| figure | direct (hub A) | cross-hub (B -> A) | ratio |", "|---|---|---|---|"]
    for name, d, c in rows:
        ratio = f"{c / d:.2f}" if d else ""
        out.append(f"| {name} | {'' if d is None else f'{d:.2f}'} | {c:.2f} | {ratio} |")
    text = "\n".join(out)
    print(f"machine load (1/5/15 min): {' '.join(load)}\n")
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", f"cluster-{time.strftime('%Y-%m-%d')}.md"), "w") as fh:
        fh.write(f"load {' '.join(load)}\n\n{text}\n")


if __name__ == "__main__":
    main()
