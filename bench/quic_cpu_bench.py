#!/usr/bin/python3
"""CPU per GiB at each end of a reverse tunnel, type=0 against type=1, iperf3 streams

Each run starts an iperf3 server, a tunnel server (the entry, where iperf3 -c sends: it
sends over the tunnel) and a tunnel client (it receives and writes to iperf3 -s), moves
bytes for --seconds, and reads each postern's user+system CPU time from /proc/<pid>/stat
before and after: seconds of CPU per GiB moved, at the sending and at the receiving end.
Less sensitive to a loaded machine than Gbit/s (a process waiting for a core costs no
CPU time), though a loaded machine still adds cache misses and wake-ups. The paths
alternate run by run; the table gives the median of each figure.

    python3 bench/quic_cpu_bench.py [--postern build/postern] [--runs 5] [--seconds 3]
        [--paths type=0,type=1] [--compare OTHER_BINARY] [--streams 1]

--compare runs a second binary's type=1 in the same alternation (before/after).
--streams N runs iperf3 with N parallel streams (-P N): N tunnel streams at once.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import start, stop, up  # noqa: E402
from udp_bench import LOOP, Procs, free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu(pid):
    """User + system CPU seconds of <pid> so far."""
    with open(f"/proc/{pid}/stat") as fh:
        f = fh.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def one(binary, xtype, secs, tmp, streams=1):
    """(Gbit/s, sender s/GiB, receiver s/GiB) of one run."""
    procs = Procs()
    roots = []
    try:
        ip, tun, e = free_port(), free_port(), free_port()
        log = os.path.join(tmp, "log")
        start(procs, ["iperf3", "-s", "-p", str(ip), "--bind", LOOP], log)
        s = start(procs, [binary, f"server://b@{LOOP}:{tun}/{LOOP}:{e}?tls=0&type={xtype}&log=warn"], log)
        up(tun, s)
        c = start(procs, [binary, f"client://b@{LOOP}:{tun}/{LOOP}:{ip}?mode=2&min=64&log=warn"], log)
        up(e, s, c)
        up(ip)
        roots = [s.pid, c.pid]
        time.sleep(1.5)         # the client's pool fills
        c0 = (cpu(s.pid), cpu(c.pid))
        r = subprocess.run(["iperf3", "-c", LOOP, "-p", str(e), "--json", "-t", str(secs),
                            "-P", str(streams)],
                           capture_output=True, text=True, timeout=secs + 30)
        c1 = (cpu(s.pid), cpu(c.pid))
        res = json.loads(r.stdout)
        if "error" in res:
            raise RuntimeError("iperf3: " + res["error"])
        got = res["end"]["sum_received"]
        gib = got["bytes"] / 2**30
        return got["bits_per_second"] / 1e9, (c1[0] - c0[0]) / gib, (c1[1] - c0[1]) / gib
    finally:
        stop(procs, roots)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--compare", default="", help="another binary: its type=1 too")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--paths", default="type=0,type=1")
    ap.add_argument("--streams", type=int, default=1, help="iperf3 parallel streams (-P)")
    a = ap.parse_args()
    if not shutil.which("iperf3"):
        sys.exit("quic_cpu_bench: iperf3 missing: sh bench/deps.sh")
    paths = [(p, os.path.abspath(a.postern), p.split("=")[1]) for p in a.paths.split(",")]
    if a.compare:
        paths.append(("type=1 --compare", os.path.abspath(a.compare), "1"))
    tmp = tempfile.mkdtemp(prefix="postern-quic-cpu-")
    res = {name: [] for name, _, _ in paths}
    load0 = os.getloadavg()
    try:
        for _ in range(a.runs):
            for name, binary, xtype in paths:
                res[name].append(one(binary, xtype, a.seconds, tmp, a.streams))
                print(f"  {name}: %.2f Gbit/s, %.3f / %.3f s/GiB" % res[name][-1], file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load1 = os.getloadavg()
    print(f"load average {load0[0]:.2f} -> {load1[0]:.2f}; {a.runs} runs of {a.seconds} s, {a.streams} stream(s), medians\n")
    print("| path | Gbit/s | sending end s/GiB | receiving end s/GiB | both ends s/GiB |")
    print("|---|---|---|---|---|")
    for name, _, _ in paths:
        g, snd, rcv = (statistics.median(x[i] for x in res[name]) for i in range(3))
        both = statistics.median(x[1] + x[2] for x in res[name])
        print(f"| {name} | {g:.2f} | {snd:.3f} | {rcv:.3f} | {both:.3f} |")


if __name__ == "__main__":
    main()
