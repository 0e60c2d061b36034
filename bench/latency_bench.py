#!/usr/bin/env python3
"""First-byte latency through a reverse tunnel, with a warm pool and without one.

A user connects to the server's public port and sends an HTTP request at once; the service
behind the client is nginx serving a tiny page. We time connect() to the answer's first
byte (asyncio, one thread):

- direct:  nginx itself, no relay;
- warm:    the client keeps min=64 idle data connections; users arrive one at a time,
           20 ms apart, so each finds a pooled connection ready;
- cold:    min=1 and users arrive in bursts of 16 at once after 300 ms of quiet: the
           first takes the one pooled connection, the others wait while the client opens
           new data connections on demand (the cost a tunnel without a pool pays on
           every connection: the signal, a TCP connect, the proof, and for tls=1 a TLS
           handshake).

for tls=0 and tls=1. Prints a markdown table (p50, p90, p99 in ms); nothing is asserted.
Every process it starts is stopped by PID; every wait is bounded.

    python3 bench/latency_bench.py [--postern build/postern] [--samples 400]
"""
import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from udp_bench import LOOP, Procs, free_port, wait_tcp  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
BURST = 16


class Nginx:
    """nginx (one worker) serving a tiny page on a free loopback port."""

    def __init__(self, procs):
        self.dir = tempfile.mkdtemp(prefix="pn-lat-")
        os.chmod(self.dir, 0o755)      # the worker runs as nobody
        self.port = free_port()
        with open(os.path.join(self.dir, "index.html"), "w") as f:
            f.write("<html><body>postern bench</body></html>\n")
        cfg = os.path.join(self.dir, "nginx.conf")
        with open(cfg, "w") as f:
            f.write(f"""daemon off; worker_processes 1; pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; server {{ listen {LOOP}:{self.port}; root {self.dir}; }} }}
""")
        procs.start(["nginx", "-c", cfg])
        wait_tcp(self.port)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


async def first_byte_ms(port, timeout=10.0):
    """connect(), send a request, time until the answer's first byte."""
    t0 = time.perf_counter()
    r, w = await asyncio.wait_for(asyncio.open_connection(LOOP, port), timeout)
    try:
        w.write(REQUEST)
        data = await asyncio.wait_for(r.read(16), timeout)
        t1 = time.perf_counter()
    finally:
        w.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected first bytes {data!r}")
    return (t1 - t0) * 1000


async def burst_ms(port, n):
    return list(await asyncio.gather(*(first_byte_ms(port) for _ in range(n))))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def tunnel(postern, procs, backend, tls, minpool):
    tp, up = free_port(), free_port()
    env = {"POSTERN_REPORT_INTERVAL": "60s"}
    procs.start([postern, f"server://bench@{LOOP}:{tp}/{LOOP}:{up}?tls={tls}&log=warn"], env)
    wait_tcp(tp)
    procs.start([postern, f"client://bench@{LOOP}:{tp}/{LOOP}:{backend}?mode=2&min={minpool}&log=warn"],
                env)
    wait_tcp(up)
    time.sleep(1.0)                 # let the pool fill
    return up


async def measure_async(kind, port, samples):
    lat = []
    if kind == "cold":
        while len(lat) < samples:
            await asyncio.sleep(0.3)    # quiet: the pool shrinks back to min=1
            lat += await burst_ms(port, BURST)
    else:
        for _ in range(samples):
            lat.append(await first_byte_ms(port))
            await asyncio.sleep(0.02)
    return lat


def measure(kind, port, samples):
    return asyncio.run(measure_async(kind, port, samples))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(os.path.dirname(__file__), "..", "build", "postern"))
    ap.add_argument("--samples", type=int, default=400)
    a = ap.parse_args()
    top = Procs()
    backend = Nginx(top)
    rows = []
    try:
        rows.append(("direct", "-", measure("warm", backend.port, a.samples)))
        for tls in (0, 1):
            for kind, minpool in (("warm", 64), ("cold", 1)):
                procs = Procs()
                try:
                    port = tunnel(a.postern, procs, backend.port, tls, minpool)
                    rows.append((f"reverse tunnel, {kind} pool (min={minpool})", str(tls),
                                 measure(kind, port, a.samples)))
                finally:
                    procs.stop_all()
    finally:
        top.stop_all()
        backend.close()
    print(f"## First-byte latency ({time.strftime('%Y-%m-%d')}, {platform.node()}, "
          f"{os.cpu_count()} cores, {a.samples} samples each, bursts of {BURST} when cold)\n")
    print("| path | tls | p50 ms | p90 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|---|")
    for name, tls, lat in rows:
        print(f"| {name} | {tls} | {pct(lat, .5):.3f} | {pct(lat, .9):.3f} | {pct(lat, .99):.3f} "
              f"| {statistics.mean(lat):.3f} |")


if __name__ == "__main__":
    main()
