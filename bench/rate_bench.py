#!/usr/bin/env python3
"""rate=<Mbps> measured: iperf3 TCP through postern with a bandwidth limit, single-end and
a reverse tunnel (limit on the server), one stream and 4 streams, upload and download.
Prints the limit, the measured rate and the deviation; asserts nothing.

    python3 bench/rate_bench.py [--postern build/postern] [--seconds 8]
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from udp_bench import LOOP, Procs, free_port, wait_tcp  # noqa: E402


def run(postern, kind, rate, seconds, streams, reverse):
    procs = Procs()
    try:
        sport = free_port()
        procs.start(["iperf3", "-s", "-p", str(sport), "--bind", LOOP])
        wait_tcp(sport)
        env = {"POSTERN_REPORT_INTERVAL": "60s"}
        entry = free_port()
        if kind == "single-end":
            procs.start([postern, f"client://{LOOP}:{entry}/{LOOP}:{sport}?mode=1&rate={rate}&log=warn"], env)
        else:
            tun = free_port()
            procs.start([postern, f"server://bench@{LOOP}:{tun}/{LOOP}:{entry}?rate={rate}&log=warn"], env)
            wait_tcp(tun)
            procs.start([postern, f"client://bench@{LOOP}:{tun}/{LOOP}:{sport}?min=8&mode=2&log=warn"], env)
        wait_tcp(entry)
        time.sleep(0.5)
        argv = ["iperf3", "-c", LOOP, "-p", str(entry), "-t", str(seconds), "-P", str(streams),
                "--json", "-O", "1"]
        if reverse:
            argv.append("-R")
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
        r = json.loads(out.stdout)
        return r["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        procs.stop_all()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(os.path.dirname(__file__), "..", "build", "postern"))
    ap.add_argument("--seconds", type=int, default=8)
    a = ap.parse_args()
    postern = os.path.abspath(a.postern)
    print(f"## rate= on loopback ({time.strftime('%Y-%m-%d')}, iperf3 TCP, {a.seconds} s, first second omitted)\n")
    print("| path | limit Mbit/s | streams | direction | measured Mbit/s | deviation |")
    print("|---|---|---|---|---|---|")
    for kind, rate in (("single-end", 100), ("single-end", 400), ("reverse tunnel", 200)):
        for streams in (1, 4):
            for reverse in (False, True):
                m = run(postern, kind, rate, a.seconds, streams, reverse)
                print(f"| {kind} | {rate} | {streams} | {'download' if reverse else 'upload'} | "
                      f"{m:.1f} | {100 * (m - rate) / rate:+.1f} % |")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
