#!/usr/bin/env python3
"""The hub's h2c routes (docs/hub.md §1.2) against the same HTTP/2 service reached directly.

nghttpd (Debian's nghttp2-server) serves a 1 KiB and a 64 KiB file over HTTP/2 without TLS;
h2load -c1 -m100 (one connection, 100 concurrent streams, 1 s warm-up) measures it directly
(h2c) and through the postern hub (https= with a test certificate, one agent, an http route
with proto=h2c): req/s and p99 (from h2load --log-file). Each hub stream costs a data
connection and an HTTP/2 connection to the service, which this measures. Builds its hub and
agent with the integration tests' harness (tests/integration/hub_util.py); every process is
stopped by PID. Figures are printed, never asserted; run it under nice -n 19 on a shared
machine and give the load it prints.

    POSTERN_BIN=build/postern python3 bench/hub_h2c_bench.py [--seconds 5]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests", "integration"), os.path.join(ROOT, "tests")]

from harness.net import free_port  # noqa: E402
from hub_util import Route, TlsHub, account  # noqa: E402


def h2load(args, seconds, log):
    """(req/s, p99 ms, h2load's requests line) of one h2load -c1 -m100 run."""
    r = subprocess.run(["h2load", "-c", "1", "-m", "100", "-D", str(seconds), "--warm-up-time=1",
                        f"--log-file={log}", *args], capture_output=True, text=True,
                       timeout=seconds + 60)
    rps = re.search(r"finished in [^,]+, ([0-9.]+) req/s", r.stdout)
    line = re.search(r"requests: .*", r.stdout)
    durs = []
    with open(log) as f:
        for row in f:
            cols = row.split()
            if len(cols) >= 3 and cols[1].isdigit():
                durs.append(int(cols[2]))
    durs.sort()
    p99 = durs[min(len(durs) - 1, int(len(durs) * 0.99))] / 1000 if durs else float("nan")
    return float(rps.group(1)) if rps else 0.0, p99, line.group(0) if line else r.stdout[-200:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    a = ap.parse_args()
    for tool in ("nghttpd", "h2load"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (scripts/deps.sh: nghttp2-server, nghttp2-client)")
    tmp = tempfile.mkdtemp(prefix="postern-h2c-bench-")
    www = os.path.join(tmp, "www")
    os.mkdir(www)
    sizes = [("1k", 1024), ("64k", 65536)]
    for name, n in sizes:
        with open(os.path.join(www, name), "wb") as f:
            f.write(os.urandom(n))
    port = free_port()
    ng = subprocess.Popen(["nghttpd", "--no-tls", "-d", www, str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hub = None
    try:
        time.sleep(0.5)
        hub = TlsHub(os.path.join(tmp, "hub"), "w", "*.b.hub.test", [account("b")])
        hub.st.agent(hub.hub, hub.acct["token"], [Route("http", port, host="g.b.hub.test", proto="h2c")])
        hp = hub.hub.https_port
        with open("/proc/loadavg") as f:
            print(f"load average before: {f.read().split()[0]}")
        print("| path | size | req/s | p99 ms | requests |\n|---|---|---|---|---|")
        for name, _ in sizes:
            for label, args in (("nghttpd h2c direct", [f"http://127.0.0.1:{port}/{name}"]),
                                ("postern hub, h2c route", [f"--connect-to=127.0.0.1:{hp}",
                                                            f"https://g.b.hub.test:{hp}/{name}"])):
                rps, p99, line = h2load(args, a.seconds, os.path.join(tmp, f"{label[:4]}-{name}.log"))
                print(f"| {label} | {name} | {rps:.0f} | {p99:.2f} | {line} |", flush=True)
        with open("/proc/loadavg") as f:
            print(f"load average after: {f.read().split()[0]}")
    finally:
        if hub is not None:
            hub.cleanup()
        ng.terminate()
        ng.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
