#!/usr/bin/env python3
"""What batching requests per segment would save on the hub's second hop: HTTP/1.1 through a
hub tcp= route (the hub and one agent relay bytes, no parsing, no TLS) to nginx (1 worker),
h2load --h1 for /1k in two shapes with as many requests in flight:

  100 x 1    100 connections, one request each in flight: every request is its own segment
             on each hop (as the HTTP router's exchanges are today, one per data connection)
  1 x 100    one connection, 100 pipelined requests: a window's requests share segments

CPU microseconds per request of the hub, the agent, nginx and h2load (utime+stime from /proc
before and after each run, h2load's from /usr/bin/time), shapes alternating --rounds times.

    python3 bench/hub_batch_bench.py --postern build/postern [--seconds 4] [--rounds 2]
Every process is stopped by PID; every wait is bounded. About 30 s.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hub_bench as hb  # noqa: E402
import compare  # noqa: E402
from compare import Env, Procs, free_port, postern, start_backend, up  # noqa: E402
from hub_h2_cost import snap  # noqa: E402

SHAPES = [("100 x 1", 100, 1), ("1 x 100", 1, 100)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(hb.HERE, "..", "build", "postern"))
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="postern-hub-batch-")
    env = Env(os.path.abspath(a.postern), tmp)
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    for name, size in hb.SIZES:
        with open(os.path.join(www, name), "wb") as fh:
            fh.write(b"x" * size)
    back, procs = Procs(), Procs()
    try:
        tg = {"http": start_backend("http", back, tmp)}
        ctl, port = free_port(), free_port()
        token = os.urandom(16).hex()
        accounts = os.path.join(tmp, "accounts.json")
        with open(accounts, "w") as fh:
            fh.write('{"accounts": [{"name": "bench", "token": "%s"}]}\n' % token)
        h = postern(env, procs, "hub", f"hub://{hb.LOOP}:{ctl}?accounts={accounts}"
                                       f"&ports={port}-{port}&log=warn")
        up(ctl, h)
        ag = postern(env, procs, "hub", f"agent://{token}@{hb.LOOP}:{ctl}?tcp={hb.LOOP}:{tg['http']},"
                                        f"port={port}&log=warn")
        up(port, h, ag)
        time.sleep(compare.WARM)
        mine = {h.pid: "hub", ag.pid: "agent"}
        tick = os.sysconf("SC_CLK_TCK")
        for _ in range(a.rounds):
            for label, conns, depth in SHAPES:
                b0 = snap()
                r = subprocess.run(["/usr/bin/time", "-f", "%U %S", "h2load", "--h1", "-c", str(conns),
                                    "-m", str(depth), "-D", str(a.seconds), "--warm-up-time=1",
                                    f"http://{hb.LOOP}:{port}/1k"],
                                   capture_output=True, text=True, timeout=a.seconds + 60)
                b1 = snap()
                m = re.search(r"finished in ([0-9.]+)s, ([0-9.]+) req/s", r.stdout)
                if m is None:
                    sys.exit(f"h2load: {r.stdout[-400:]} {r.stderr[-400:]}")
                n = float(m.group(1)) * float(m.group(2))
                hu, hs = (float(v) for v in r.stderr.strip().splitlines()[-1].split())
                row = {"hub": 0.0, "agent": 0.0, "nginx": 0.0, "h2load": (hu + hs) * 1e6 / n}
                for pid, (name, u, s) in b1.items():
                    o = b0.get(pid, (name, 0, 0))
                    key = mine.get(pid, name)
                    if key in ("hub", "agent", "nginx"):
                        row[key] += ((u - o[1]) + (s - o[2])) * 1e6 / tick / n
                print(f"{label}: {float(m.group(2)):.0f} req/s, load {os.getloadavg()[0]:.1f}; "
                      "CPU us per request: " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()),
                      flush=True)
    finally:
        procs.stop_all()
        back.stop_all()


if __name__ == "__main__":
    main()
