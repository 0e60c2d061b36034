#!/usr/bin/env python3
"""Encrypted tunnels against the cipher's own cost and the peers, in one run (issue 23).

Figures, all from one run on one machine:
  1. the cipher alone: `openssl speed -evp <cipher> -bytes 16384` sealing and opening
     (-decrypt) on one core; its seal+open cost in CPU seconds per GiB (each byte of a
     tunnel is sealed once and opened once)
  2. one iperf3 stream through a postern reverse tunnel with tls=0, tls=1 and tls=2 (a
     certificate from files, verified by the client), the stunnel pair and ssh -R
     (bench/compare.py's paths, reused)
  3. CPU seconds per GiB of each postern end (and of each peer's processes), from
     /proc/<pid>/stat before and after a fixed-size iperf3 transfer
  4. with --strace: `strace -c -f` of each end of a tls=1 tunnel during a short transfer,
     system calls per 16 KiB moved

Prints markdown tables and the goals' checks (issue 23, section 1). Figures are never
asserted. Every process is stopped by PID; every wait is bounded.

    python3 bench/tls_bench.py [--postern build/postern] [--size 1G] [--seconds 5] [--strace]
    python3 bench/tls_bench.py --base /tmp/postern-before [--ab 4]   # before/after, one run
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from compare import (CLK_TCK, LOOP, Env, Procs, cpu_ticks, free_port, iperf, start_backend,  # noqa: E402
                     stop, throughput, tunnel, up)

HERE = os.path.dirname(os.path.abspath(__file__))
CIPHERS = ["aes-128-gcm", "aes-256-gcm", "chacha20-poly1305"]


def cipher_rate(cipher, decrypt, seconds):
    """Bytes per second `openssl speed` seals (or opens) in 16 KiB blocks on one core."""
    argv = ["openssl", "speed", "-mr", "-seconds", str(seconds), "-evp", cipher, "-bytes", "16384"]
    if decrypt:
        argv.insert(2, "-decrypt")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds * 4 + 30).stdout
    m = re.search(r"^\+F:\d+:[^:]+:([\d.]+)$", out, re.M)
    if not m:
        raise RuntimeError(f"openssl speed {cipher}: no figure in its output")
    return float(m.group(1))


def p_reverse_tls2(env, procs, target):
    """A reverse tunnel whose server presents certificate files (tls=2), verified by the
    client against them as its CA (sni=localhost: the certificate's name)."""
    crt, key = env.cert()
    tun, e = free_port(), free_port()
    return tunnel(env, procs, "postern reverse tls=2",
                  f"server://bench@{LOOP}:{tun}/{LOOP}:{e}?tls=2&crt={crt}&key={key}&log=warn",
                  f"client://bench@{LOOP}:{tun}/{LOOP}:{target}?min=64&mode=2&ca={crt}"
                  f"&sni=localhost&log=warn", e)


PATHS = [
    ("postern reverse tls=0", compare.p_reverse(0), None),
    ("postern reverse tls=1", compare.p_reverse(1), None),
    ("postern reverse tls=2", p_reverse_tls2, None),
    ("stunnel pair", compare.p_stunnel, "stunnel"),
    ("ssh -R", compare.p_ssh_r, "sshd"),
]


def cpu_per_gib_each(port, roots, size):
    """CPU seconds per GiB of each of <roots> (its tree) over one fixed-size transfer."""
    time.sleep(0.3)
    before = [cpu_ticks([r]) for r in roots]
    got = iperf(port, ["-n", size], 300)
    time.sleep(0.5)
    after = [cpu_ticks([r]) for r in roots]
    gib = got["bytes"] / 2 ** 30
    return [(a - b) / CLK_TCK / gib for a, b in zip(after, before)]


def strace_calls(port, roots, size, tmp):
    """`strace -c -f` each of <roots> during a transfer of <size>: [(calls per 16 KiB,
    the busiest calls)] per root."""
    outs, tracers = [], []
    for r in roots:
        out = os.path.join(tmp, f"strace-{r}.txt")
        outs.append(out)
        tracers.append(subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(r)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)             # attached
    got = iperf(port, ["-n", size], 300)
    for t in tracers:
        t.send_signal(2)        # SIGINT: strace detaches and writes its summary
    res = []
    for t, out in zip(tracers, outs):
        try:
            t.wait(20)
        except subprocess.TimeoutExpired:
            t.kill()
            t.wait(5)
        calls = {}
        with open(out) as fh:
            for line in fh:
                f = line.split()
                if len(f) >= 5 and f[0][0].isdigit() and f[-1] not in ("total",):
                    n = int(f[3])
                    calls[f[-1]] = n
        recs = got["bytes"] / 16384
        total = sum(calls.values())
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:4]
        res.append((total / recs, ", ".join(f"{k} {v / recs:.2f}" for k, v in top)))
    return res


def ab_rounds(env, base_env, rounds, size, seconds):
    """tls=0 and tls=1 tunnels of this binary and of --base, interleaved for <rounds>
    rounds (a loaded machine drifts: alternating spreads the drift over both); the
    medians of each end's CPU s/GiB and of one stream's throughput."""
    runs = {}
    for _ in range(rounds):
        for label, e in (("base", base_env), ("this", env)):
            for tls in (0, 1):
                sub, roots = Procs(), []
                try:
                    target = start_backend("iperf", sub, env.tmp)
                    port, roots = compare.p_reverse(tls)(e, sub, target)
                    c = cpu_per_gib_each(port, roots, size)
                    tp = throughput(port, 1, 1, seconds)
                    runs.setdefault(f"{label} tls={tls}", []).append((c[0], c[1], tp))
                except Exception as ex:  # noqa: BLE001
                    print(f"ab: {label} tls={tls}: {ex}", file=sys.stderr)
                finally:
                    stop(sub, roots)
    print(f"\n{rounds} rounds interleaved, medians:\n")
    print("| binary, tunnel | server (entry) end s/GiB | client end s/GiB | total s/GiB | 1 stream Gbit/s |")
    print("|---|---:|---:|---:|---:|")
    for k, v in runs.items():
        def med(i):
            return statistics.median(x[i] for x in v)
        print(f"| {k} | {med(0):.2f} | {med(1):.2f} | "
              f"{statistics.median(x[0] + x[1] for x in v):.2f} | {med(2):.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--size", default="1G", help="bytes of the CPU transfer (iperf3 -n)")
    ap.add_argument("--seconds", type=int, default=5, help="seconds of each throughput run")
    ap.add_argument("--runs", type=int, default=3, help="throughput runs per path (median)")
    ap.add_argument("--strace", action="store_true", help="also strace -c a tls=1 tunnel's ends")
    ap.add_argument("--only", default="", help="comma-separated substrings of the path names")
    ap.add_argument("--base", help="another postern binary (e.g. before a change): its tls=0 and "
                    "tls=1 tunnels are measured in the same run, rows marked (base)")
    ap.add_argument("--ab", type=int, default=0, metavar="ROUNDS",
                    help="with --base: only compare the two binaries' tls=0 and tls=1 tunnels, "
                    "ROUNDS rounds interleaved, medians")
    a = ap.parse_args()
    postern_bin = os.path.abspath(a.postern)
    if not os.access(postern_bin, os.X_OK):
        sys.exit(f"tls_bench: {postern_bin} missing: build it first")

    print(f"# tls_bench {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"uptime: {open('/proc/loadavg').read().split()[:3]}")
    print(f"cpu: {compare.cpu_model()}; openssl: {compare.version(['openssl', 'version'])}")
    print("\n| cipher (openssl speed, 16 KiB, one core) | seal GB/s | open GB/s | seal+open s/GiB |")
    print("|---|---:|---:|---:|")
    cipher_cost = {}
    for c in CIPHERS:
        s, o = cipher_rate(c, False, 2), cipher_rate(c, True, 2)
        cipher_cost[c] = 2 ** 30 / s + 2 ** 30 / o
        print(f"| {c} | {s / 1e9:.2f} | {o / 1e9:.2f} | {cipher_cost[c]:.3f} |")
    sys.stdout.flush()

    tmp = tempfile.mkdtemp(prefix="tls-bench-")
    env = Env(postern_bin, tmp)
    if a.ab and a.base:
        try:
            ab_rounds(env, Env(os.path.abspath(a.base), tmp), a.ab, a.size, a.seconds)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    procs = Procs()
    rows = {}
    wanted = [w.strip() for w in a.only.split(",") if w.strip()]
    paths = list(PATHS)
    if a.base:
        base_env = Env(os.path.abspath(a.base), tmp)

        def on_base(fn):
            return lambda env, procs, target: fn(base_env, procs, target)
        paths[2:2] = [(f"{n} (base)", on_base(fn), b) for n, fn, b in PATHS[:2]]
    try:
        for name, fn, binary in paths:
            if wanted and not any(w in name for w in wanted):
                continue
            if binary and not shutil.which(binary):
                rows[name] = f"not installed ({binary})"
                continue
            sub, roots = Procs(), []
            try:
                # An iperf3 server of its own: one that a stopped path's test left
                # busy would refuse the next path's.
                target = start_backend("iperf", sub, tmp)
                port, roots = fn(env, sub, target)
                tp = throughput(port, 1, a.runs, a.seconds)
                cpus = cpu_per_gib_each(port, roots, a.size)
                st = strace_calls(port, roots, "256M", tmp) if a.strace and "tls=1" in name \
                    else None
                rows[name] = (tp, cpus, st)
            except Exception as e:  # noqa: BLE001 (a peer that fails is reported, not fatal)
                rows[name] = f"failed: {e}"
            finally:
                stop(sub, roots)
            print(f"{name}: {rows[name]}", file=sys.stderr)
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    print("\n| path | 1 stream Gbit/s | CPU s/GiB, each process (server/entry end first) | CPU s/GiB total |")
    print("|---|---:|---|---:|")
    for name, r in rows.items():
        if isinstance(r, str):
            print(f"| {name} | {r} | | |")
            continue
        tp, cpus, _ = r
        print(f"| {name} | {tp:.2f} | {' + '.join(f'{c:.2f}' for c in cpus)} | {sum(cpus):.2f} |")
    for name, r in rows.items():
        if not isinstance(r, str) and r[2]:
            print(f"\nstrace -c -f, {name}, system calls per 16 KiB moved:")
            for end, (per, top) in zip(("server", "client"), r[2]):
                print(f"- {end} end: {per:.2f} ({top})")

    t0, t1 = rows.get("postern reverse tls=0"), rows.get("postern reverse tls=1")
    if isinstance(t0, tuple) and isinstance(t1, tuple):
        aes = cipher_cost["aes-128-gcm"]
        lim = sum(t0[1]) + 1.3 * aes
        print("\nGoals (issue 23, section 1), tls=1 against this run's figures:")
        print(f"- CPU: {sum(t1[1]):.2f} s/GiB against tls=0's {sum(t0[1]):.2f} + 1.3 x "
              f"{aes:.3f} (AES-128-GCM seal+open) = {lim:.2f}: "
              f"{'met' if sum(t1[1]) <= lim else 'not met'}")
        print(f"- throughput: {t1[0]:.2f} Gbit/s = {t1[0] / t0[0]:.2f}x tls=0 (goal 0.5x)")
        for peer in ("stunnel pair", "ssh -R"):
            p = rows.get(peer)
            if isinstance(p, tuple):
                print(f"- against {peer}: {t1[0] / p[0]:.2f}x (goal 2x)")


if __name__ == "__main__":
    main()
