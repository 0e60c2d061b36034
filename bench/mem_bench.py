#!/usr/bin/env python3
"""Memory of postern's processes idle and holding connections, in one run (issue 23, section 3).

For a forwarder (single-end client://, mode=1) and a reverse tunnel (tls=0 and tls=1;
server end = the users' entry, client end = next to the target):
  1. idle: Rss, Pss, private (clean + dirty) and anonymous memory of each process, from
     /proc/<pid>/smaps_rollup, once its ports are open and the tunnel's pool is full
  2. held: <n> connections opened through it (each sends one byte and reads its echo
     from an echo server, then stays open); the growth of each process's Rss and
     anonymous memory divided by <n>: bytes per held connection per relay process
  3. after closing: Rss five seconds after the held connections were closed (what the
     process keeps of a burst)

Each held connection costs a tunnel end two descriptors (the user's or target's socket and
the data connection), so one process holds at most (open-file limit - a few) / 2. The driver
raises its own limit to the hard limit (inherited by everything it starts) and lowers <n>
when that does not allow it, saying so. Figures are never asserted; every process is
stopped by PID.

    python3 bench/mem_bench.py [--postern build/postern] [--n 5000]
"""
import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from compare import Env, Procs, hold, start_backend, stop  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty", "Anonymous")


def rollup(pid):
    """{field: KiB} of /proc/<pid>/smaps_rollup for FIELDS."""
    out = dict.fromkeys(FIELDS, 0)
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            k = line.split(":")[0]
            if k in out:
                out[k] = int(line.split()[1])
    return out


def mappings(pid, top=6):
    """The <top> mappings of <pid> by Rss: [(name, Rss KiB, Pss KiB, private dirty KiB)]."""
    agg, name = {}, None
    with open(f"/proc/{pid}/smaps") as fh:
        for line in fh:
            f = line.split()
            if "-" in f[0] and len(f) >= 5 and ":" not in f[0]:
                name = os.path.basename(f[5]) if len(f) > 5 else "[anon]"
                agg.setdefault(name, [0, 0, 0])
            elif f[0] in ("Rss:", "Pss:", "Private_Dirty:"):
                agg[name][("Rss:", "Pss:", "Private_Dirty:").index(f[0])] += int(f[1])
    return sorted(((n, *v) for n, v in agg.items()), key=lambda t: -t[1])[:top]


PATHS = [
    ("forwarder (single-end)", compare.p_postern_single, ("forwarder",)),
    ("reverse tunnel tls=0", compare.p_reverse(0), ("server end", "client end")),
    ("reverse tunnel tls=1", compare.p_reverse(1), ("server end", "client end")),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--n", type=int, default=5000, help="connections held")
    ap.add_argument("--only", default="", help="comma-separated substrings of the path names")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    n = a.n
    if 2 * n + 200 > hard:
        n = (hard - 200) // 2
        print(f"mem_bench: the open-file limit is {hard} (not raisable here): holding {n} "
              f"connections, not {a.n}", file=sys.stderr)
    print(f"# mem_bench {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"load {' '.join(open('/proc/loadavg').read().split()[:3])}, {n} held connections")
    tmp = tempfile.mkdtemp(prefix="mem-bench-")
    env = Env(os.path.abspath(a.postern), tmp)
    procs = Procs()
    rows = []
    wanted = [w.strip() for w in a.only.split(",") if w.strip()]
    try:
        target = start_backend("echo", procs, tmp)
        for name, fn, ends in PATHS:
            if wanted and not any(w in name for w in wanted):
                continue
            sub, roots = Procs(), []
            try:
                port, roots = fn(env, sub, target)
                time.sleep(1.0)
                idle = [rollup(p) for p in roots]
                maps = [mappings(p) for p in roots]
                held, fails = hold(port, n, 120)
                time.sleep(1.0)
                busy = [rollup(p) for p in roots]
                for s in held:
                    s.close()
                k = len(held)
                time.sleep(5.0)         # the relays see the ends and free what they held
                after = [rollup(p) for p in roots]
                for end, i, b, af, mp in zip(ends, idle, busy, after, maps):
                    rows.append((name, end, i, b, af, k, fails, mp))
            finally:
                stop(sub, roots)
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    print("\n| path | process | idle Rss KiB | idle Pss KiB | idle private KiB | idle anon KiB "
          "| held | Rss KiB held | bytes/conn (Rss) | bytes/conn (anon) | Rss KiB after closing |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, end, i, b, af, k, fails, _ in rows:
        per = (b["Rss"] - i["Rss"]) * 1024 / k if k else 0
        per_anon = (b["Anonymous"] - i["Anonymous"]) * 1024 / k if k else 0
        print(f"| {name} | {end} | {i['Rss']} | {i['Pss']} | "
              f"{i['Private_Clean'] + i['Private_Dirty']} | {i['Anonymous']} | {k}"
              f"{f' ({fails} failed)' if fails else ''} | {b['Rss']} | {per:.0f} | {per_anon:.0f} | {af['Rss']} |")

    print("\nIdle, the largest mappings (Rss / Pss / private dirty KiB):")
    for name, end, *_, mp in rows:
        print(f"- {name}, {end}: " + ", ".join(f"{m} {r}/{p}/{d}" for m, r, p, d in mp))


if __name__ == "__main__":
    main()

