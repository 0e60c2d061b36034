#!/usr/bin/env python3
"""Where an HTTP/2 request's time goes in the hub: the costs per request of the processes of
one hub_bench.py --h2 path (its setup reused), for profiling rather than comparing.

Modes (one h2load -c1 -m100 run against the path):
  cpu    CPU time per request of every process that used any (utime and stime from
         /proc/<pid>/stat before and after, h2load's own from /usr/bin/time): robust to a
         loaded machine where req/s is not
  count  system calls per request: strace -c -f on the hub and the agent during exactly
         --requests requests (strace slows them: counts, not times)
  perf   perf record -g on the hub and the agent for --seconds; the reports are
         perf-hub.data and perf-agent.data in --out
  tally  system calls per request as count does, from the kernel's tracepoints (perf stat:
         all calls, splice, recvfrom and those of them that said EAGAIN, epoll_wait),
         which, unlike strace, does not stop the process at each call and so leaves the
         interleaving of the processes (what one read finds) as it is without tracing
  instr  user-space instructions per request of the hub or the agent (--who) under
         valgrind's callgrind: counters zeroed after 2000 requests of warm-up, dumped
         after exactly --requests more; the same figure however loaded the machine is
         (no hardware counters here), the kernel's share not counted; the dump, for
         callgrind_annotate, stays in --out (hub path only)

    python3 bench/hub_h2_cost.py --postern build/postern [--path hub|haproxy|nginx]
                                 [--mode cpu|count|perf|tally|instr] [--size 1k|64k]
                                 [--who hub|agent] [--type 0|3]
--type is the hub's data channel type (hub path only): 0, a TCP connection per exchange in
flight; 3, every exchange a stream of one HTTP/2 connection between the hub and the agent.
Every process is stopped by PID; every wait is bounded.
"""
import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hub_bench as hb  # noqa: E402
from compare import Env, Procs, start_backend  # noqa: E402


def snap():
    """{pid: (name, utime, stime, minor page faults)}, times in clock ticks, for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                raw = fh.read()
        except OSError:
            continue
        f = raw.rsplit(")", 1)[1].split()
        out[int(d)] = (raw[raw.index("(") + 1:raw.rindex(")")], int(f[11]), int(f[12]), int(f[7]))
    return out


# tally mode: (name, perf event, extra perf arguments), in perf stat's output order.
TALLY = [("all", "raw_syscalls:sys_enter"),
         ("splice", "syscalls:sys_exit_splice"),
         ("splice EAGAIN", "syscalls:sys_exit_splice", "--filter", "ret == -11"),
         ("recvfrom", "syscalls:sys_exit_recvfrom"),
         ("recvfrom EAGAIN", "syscalls:sys_exit_recvfrom", "--filter", "ret == -11"),
         ("sendto", "syscalls:sys_exit_sendto"),
         ("epoll_wait", "syscalls:sys_exit_epoll_wait")]


def tally_read(path, requests):
    """perf stat -x , output: 'name n.nn, ...' per request, in TALLY's order."""
    counts = []
    with open(path) as fh:
        for line in fh:
            f = line.strip().split(",")
            if len(f) > 2 and f[2] and not line.startswith("#"):
                counts.append(f[0])
    return ", ".join(f"{e[0]} {int(c) / requests:.2f}" if c.isdigit() else f"{e[0]} {c}"
                     for e, c in zip(TALLY, counts))


def instr_wrapper(tmp, binary, who, out):
    """A postern that runs the <who> process (its URL's scheme) under callgrind, the others
    as they are; the same pid (exec), dumps named callgrind-<who>.<pid>.<n> in <out>."""
    path = os.path.join(tmp, "postern-callgrind")
    with open(path, "w") as fh:
        fh.write(f'#!/bin/sh\ncase "$1" in {who}://*) exec valgrind -q --tool=callgrind '
                 f'--callgrind-out-file={out}/callgrind-{who}.%p "{binary}" "$@";; '
                 f'*) exec "{binary}" "$@";; esac\n')
    os.chmod(path, 0o755)
    return path


def instr(a, pid, h2, url):
    """User-space instructions per request of <pid> (under callgrind) for --requests."""
    subprocess.run(h2 + ["-n", "2000", url], capture_output=True, timeout=600)
    subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, timeout=60, check=True)
    r = subprocess.run(h2 + ["-n", str(a.requests), url], capture_output=True, text=True, timeout=1200)
    done = re.search(r"(\d+) succeeded", r.stdout)
    subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True, timeout=60, check=True)
    total = None
    for _ in range(50):         # the dump is written by the process itself: bounded wait
        dumps = sorted(glob.glob(os.path.join(a.out, f"callgrind-{a.who}.{pid}.*")), key=os.path.getmtime)
        for d in dumps[-1:]:
            with open(d) as fh:
                total = next((int(line.split()[1]) for line in fh if line.startswith(("summary:", "totals:"))), None)
        if total is not None:
            break
        time.sleep(0.2)
    if total is None or done is None or int(done.group(1)) != a.requests:
        sys.exit(f"instr: no dump, or not every request succeeded: {r.stdout[-400:]}")
    print(f"{a.who} /{a.size}: {total / a.requests:.0f} user-space instructions per request "
          f"({a.requests} requests; callgrind dump {dumps[-1]})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(hb.HERE, "..", "build", "postern"))
    ap.add_argument("--path", choices=("hub", "haproxy", "nginx"), default="hub")
    ap.add_argument("--mode", choices=("cpu", "count", "perf", "tally", "instr"), default="cpu")
    ap.add_argument("--who", choices=("hub", "agent"), default="hub", help="instr: which process")
    ap.add_argument("--type", type=int, choices=(0, 3), default=0,
                    help="hub path: the data channels' type (hub ?type=)")
    ap.add_argument("--size", choices=[s for s, _ in hb.SIZES], default="1k")
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="postern-h2-cost-")
    binary = os.path.abspath(a.postern)
    if a.mode == "instr":
        if a.path != "hub":
            ap.error("--mode instr measures the hub path's hub or agent")
        binary = instr_wrapper(tmp, binary, a.who, os.path.abspath(a.out))
    env = Env(binary, tmp)
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    for name, size in hb.SIZES:
        with open(os.path.join(www, name), "wb") as fh:
            fh.write(b"x" * size)
    back, procs, tools = Procs(), Procs(), []
    try:
        tg = {"http": start_backend("http", back, tmp)}
        setup = {"hub": hb.h2_hub, "haproxy": hb.h2_haproxy, "nginx": hb.h2_nginx}[a.path]
        if a.path == "hub":
            port, pids = hb.h2_hub(env, procs, tg, hb.h2_cert(env), xtype=a.type)
        else:
            if a.type:
                ap.error("--type is the hub path's data channel type")
            port, pids = setup(env, procs, tg, hb.h2_cert(env))
        named = [(label.split()[0], pid) for label, pid in pids]
        url = f"https://{hb.HOST}:{port}/{a.size}"
        h2 = ["h2load", "-c", "1", "-m", "100", f"--connect-to={hb.LOOP}:{port}"]
        if a.mode == "instr":
            instr(a, dict(named)[a.who], h2, url)
            return
        if a.mode == "cpu":
            b0 = snap()
            r = subprocess.run(["/usr/bin/time", "-f", "%U %S"] + h2 + ["-D", str(a.seconds), "--warm-up-time=1", url],
                               capture_output=True, text=True, timeout=a.seconds + 60)
            b1 = snap()
            m = re.search(r"finished in ([0-9.]+)s, ([0-9.]+) req/s", r.stdout)
            n = float(m.group(1)) * float(m.group(2))
            hu, hs = (float(v) for v in r.stderr.strip().splitlines()[-1].split())
            print(f"{a.path} /{a.size}: {float(m.group(2)):.0f} req/s, load {os.getloadavg()[0]:.2f}; "
                  f"CPU microseconds per request (user, sys, total), minor page faults per request:")
            print(f"  h2load: {hu * 1e6 / n:.1f} {hs * 1e6 / n:.1f} {(hu + hs) * 1e6 / n:.1f}")
            tick = os.sysconf("SC_CLK_TCK")
            mine = {pid: label for label, pid in named}
            rows = []
            for pid, (name, u, s, flt) in b1.items():
                o = b0.get(pid, (name, 0, 0, 0))
                if (u - o[1]) + (s - o[2]) > 0:
                    rows.append(((u - o[1]) + (s - o[2]), mine.get(pid, name), pid, u - o[1], s - o[2],
                                 flt - o[3]))
            for t, name, pid, u, s, flt in sorted(rows, reverse=True)[:10]:
                print(f"  {name} ({pid}): {u * 1e6 / tick / n:.1f} {s * 1e6 / tick / n:.1f} "
                      f"{t * 1e6 / tick / n:.1f}, {flt / n:.2f} faults")
            return
        cmd = {"count": lambda lbl, pid: ["strace", "-f", "-c", "-o", os.path.join(a.out, f"strace-{lbl}.txt"),
                                          "-p", str(pid)],
               "perf": lambda lbl, pid: ["perf", "record", "-g", "-o", os.path.join(a.out, f"perf-{lbl}.data"),
                                         "-p", str(pid), "--", "sleep", str(a.seconds)],
               "tally": lambda lbl, pid: ["perf", "stat", "-x", ",", "-o", os.path.join(a.out, f"tally-{lbl}.csv"),
                                          "-p", str(pid)] + [w for e in TALLY for w in ("-e", e[1]) + e[2:]]}[a.mode]
        for label, pid in named:
            tools.append(subprocess.Popen(cmd(label, pid), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1)
        run = h2 + (["-n", str(a.requests)] if a.mode in ("count", "tally") else ["-D", str(a.seconds)]) + [url]
        r = subprocess.run(run, capture_output=True, text=True, timeout=a.seconds + 120)
        print("\n".join(line for line in r.stdout.splitlines() if "requests:" in line or "finished" in line))
        time.sleep(0.5)
        if a.mode in ("count", "tally"):
            for t in tools:
                t.send_signal(signal.SIGINT)
        for t in tools:
            t.wait(timeout=60)
        if a.mode == "tally":
            for label, _ in named:
                print(f"{label}: calls per request: " + tally_read(os.path.join(a.out, f"tally-{label}.csv"), a.requests))
            return
        print(f"wrote {'strace' if a.mode == 'count' else 'perf'}-<process>.* in {a.out}")
    finally:
        for t in tools:
            if t.poll() is None:
                t.kill()
                t.wait()
        procs.stop_all()
        back.stop_all()


if __name__ == "__main__":
    main()
