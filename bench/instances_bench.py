#!/usr/bin/env python3
"""A master with many instances (issue 23, section 4), on loopback.

A `postern master://` (its own database in a temp dir, its own port) gets N instances
through the API: N/2 single-end forwarders (client://...?mode=1) and N/4 reverse tunnel
pairs (server:// + client://, N/2 instances), all to one echo server. Figures:

  1. create: time from the first POST until every instance serves (one byte echoed
     through each forwarder's and each tunnel server's entry port);
  2. restart: the master is stopped (SIGTERM) and started again on the same database;
     time from its start until every instance serves again, and the SSE event rate
     (GET /events opened as soon as the API answers) over that time;
  3. memory: PSS of the master and all its children (/proc/<pid>/smaps_rollup), and the
     mean PSS of one child of each kind;
  4. idle CPU over --idle seconds (time on CPU of the master and every child,
     /proc/<pid>/schedstat; with --perf also perf stat -e task-clock);
  5. GET /instances latency p50/p99 over 200 calls (one kept-alive connection).

Goals of the issue for 1000 instances: <= 256 MiB PSS in all, all serving within 10 s of
the master's start, idle CPU < 2 % of one core, list p99 < 50 ms. Never asserted.
The driver raises its RLIMIT_NOFILE to the hard limit (inherited by the master and its
children: a master holds a pipe per child; a tunnel end holds its pool). Every process
is stopped by PID; every wait is bounded.

    python3 bench/instances_bench.py [--n 100,1000] [--postern build/postern] [--idle 30]
                                     [--env POSTERN_REPORT_INTERVAL=15s] [--perf]
"""
import argparse
import asyncio
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ECHO, alive, pss_kib, tree  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LOOP = "127.0.0.1"


def free_ports(n, start=20000):
    """<n> ports below the ephemeral range that nothing listens on now."""
    out, p = [], start
    while len(out) < n and p < 32768:
        with socket.socket() as s:
            try:
                s.bind((LOOP, p))
                out.append(p)
            except OSError:
                pass
        p += 1
    if len(out) < n:
        raise RuntimeError("not enough free ports below 32768")
    return out


class Api:
    def __init__(self, port, key):
        self.port, self.key, self.c = port, key, None

    def call(self, method, path, body=None):
        for _ in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection(LOOP, self.port, timeout=30)
            try:
                self.c.request(method, "/api/v1" + path, body=json.dumps(body) if body else None,
                               headers={"X-API-Key": self.key, "Content-Type": "application/json"})
                r = self.c.getresponse()
                data = r.read()
                return r.status, data
            except (OSError, http.client.HTTPException):
                self.c.close()
                self.c = None
        raise RuntimeError(f"{method} {path}: no answer")


def start_master(exe, port, db, log, env=None):
    fh = open(log, "ab")
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.Popen([exe, f"master://{LOOP}:{port}?db={db}&log=warn"], stdin=subprocess.DEVNULL,
                         stdout=fh, stderr=fh, env=e)
    fh.close()
    return p


def wait_key(log, p, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        with open(log, errors="replace") as fh:
            m = re.search(r"API key: ([0-9a-f]{64})", fh.read())
        if m:
            return m.group(1)
        if p.poll() is not None:
            raise RuntimeError("master exited")
        time.sleep(0.05)
    raise RuntimeError("no API key")


def wait_api(port, p, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((LOOP, port), timeout=1).close()
            return
        except OSError:
            if p.poll() is not None:
                raise RuntimeError("master exited")
            time.sleep(0.01)
    raise RuntimeError("master API did not open")


def serve_all(ports, timeout):
    """Seconds until one byte is echoed through every port (None when some never did),
    and how many did."""
    t0 = time.monotonic()
    done = set()

    async def one(port, sem):
        while time.monotonic() - t0 < timeout:
            async with sem:
                try:
                    r, w = await asyncio.wait_for(asyncio.open_connection(LOOP, port), 2)
                    try:
                        w.write(b"x")
                        await asyncio.wait_for(r.readexactly(1), 2)
                        done.add(port)
                        return
                    finally:
                        w.close()
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                    pass
            await asyncio.sleep(0.05)

    async def run():
        sem = asyncio.Semaphore(200)
        await asyncio.gather(*(one(p, sem) for p in ports))

    asyncio.run(run())
    dt = time.monotonic() - t0
    return (dt if len(done) == len(ports) else None), len(done)


class Sse(threading.Thread):
    """Counts the events of GET /events and when each came."""

    def __init__(self, port, key):
        super().__init__(daemon=True)
        self.port, self.key, self.times, self.stop = port, key, [], False

    def run(self):
        try:
            c = http.client.HTTPConnection(LOOP, self.port, timeout=60)
            c.request("GET", "/api/v1/events", headers={"X-API-Key": self.key})
            r = c.getresponse()
            while not self.stop:
                line = r.fp.readline()
                if not line:
                    break
                if line.startswith(b"event:"):
                    self.times.append(time.monotonic())
        except OSError:
            pass


def kind(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            a = fh.read().split(b"\0")
    except OSError:
        return None
    if len(a) >= 3 and a[1] == b"--url-from-env":
        u = a[2].decode(errors="replace")
        if u.startswith("server://"):
            return "tunnel server"
        return "forwarder" if "mode=1" in u else "tunnel client"
    if len(a) >= 2 and a[1] == b"--zygote":
        return "zygote"
    return None


def stop_master(p, timeout=60):
    pids = tree([p.pid])
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(10)
    end = time.time() + 10
    left = [q for q in pids if q != p.pid]
    while left and time.time() < end:
        left = [q for q in left if alive(q)]
        time.sleep(0.05)
    for q in left:
        try:
            os.kill(q, signal.SIGKILL)
        except OSError:
            pass
    return len(left)


def run(a, n, echo_port, tmp):
    nf, npair = n // 2, n // 4
    ports = free_ports(nf + 2 * npair + 1)
    mport, ports = ports[0], ports[1:]
    fwd, ports = ports[:nf], ports[nf:]
    tun, entry = ports[:npair], ports[npair:2 * npair]
    db = os.path.join(tmp, f"m{n}.db")
    log = os.path.join(tmp, f"master{n}.log")
    res = {"n": n, "children": nf + 2 * npair}
    m = start_master(a.postern, mport, db, log, a.env)
    try:
        key = wait_key(log, m)
        wait_api(mport, m)
        api = Api(mport, key)
        urls = [f"client://{LOOP}:{e}/{LOOP}:{echo_port}?mode=1" for e in fwd]
        for i, (t, e) in enumerate(zip(tun, entry)):
            urls.append(f"server://k{i}@{LOOP}:{t}/{LOOP}:{e}")
            urls.append(f"client://k{i}@{LOOP}:{t}/{LOOP}:{echo_port}?mode=2")
        t0 = time.monotonic()
        for u in urls:
            st, body = api.call("POST", "/instances", {"url": u})
            if st != 201:
                raise RuntimeError(f"POST {u}: {st} {body[:200]}")
        res["create_calls_s"] = time.monotonic() - t0
        dt, ok = serve_all(fwd + entry, a.timeout)
        res["create_serve_s"] = None if dt is None else time.monotonic() - t0
        res["create_served"] = ok
        api.c and api.c.close()
        left = stop_master(m)
        res["killed_after_stop"] = left

        # restart on the same database
        t0 = time.monotonic()
        m = start_master(a.postern, mport, db, log, a.env)
        wait_api(mport, m)
        res["api_up_s"] = time.monotonic() - t0
        sse = Sse(mport, key)
        sse.start()
        dt, ok = serve_all(fwd + entry, a.timeout)
        t1 = time.monotonic()
        res["restart_serve_s"] = None if dt is None else t1 - t0
        res["restart_served"] = ok
        time.sleep(1)
        sse.stop = True
        ev = [t for t in sse.times if t <= t1]
        res["sse_events"] = len(ev)
        res["sse_rate"] = len(ev) / (t1 - t0)
        res["sse_peak"] = max((sum(1 for u in ev if t <= u < t + 1) for t in ev), default=0)

        time.sleep(a.settle)
        pids = tree([m.pid])
        res["procs"] = len(pids)
        per = {}
        for p in pids:
            k = kind(p) or ("master" if p == m.pid else "other")
            per.setdefault(k, []).append(pss_kib(p))
        res["pss_kib"] = sum(sum(v) for v in per.values())
        res["pss_by_kind"] = {k: (len(v), statistics.mean(v)) for k, v in per.items()}
        api = Api(mport, key)
        api.call("GET", "/instances")
        # Nanoseconds on CPU (/proc/<pid>/schedstat): the clock ticks of /proc/<pid>/stat
        # are each process's total rounded down to 10 ms, and an idle instance that has
        # run 5 ms in all shows 0 for ever (1000 of them would read as no CPU at all).
        pids = tree([m.pid])
        c0, w0 = cpu_ns(pids), time.monotonic()
        mc0 = cpu_ns([m.pid])
        if a.perf:
            res["idle_perf_pct"] = perf_task_clock(pids, a.idle)
        else:
            time.sleep(a.idle)
        c1, w1 = cpu_ns(pids), time.monotonic()
        res["idle_cpu_pct"] = 100.0 * (c1 - c0) / 1e9 / (w1 - w0)
        res["idle_cpu_master_pct"] = 100.0 * (cpu_ns([m.pid]) - mc0) / 1e9 / (w1 - w0)
        lat, size = [], 0
        for _ in range(200):
            s = time.perf_counter()
            st, body = api.call("GET", "/instances")
            lat.append((time.perf_counter() - s) * 1000)
            size = len(body)
        lat.sort()
        res["list_p50_ms"], res["list_p99_ms"] = lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1]
        res["list_bytes"] = size
        api.c and api.c.close()
    finally:
        res["killed_at_end"] = stop_master(m)
    return res


def perf_task_clock(pids, seconds):
    """`perf stat -e task-clock` of <pids> for <seconds>: % of one core, or None."""
    try:
        r = subprocess.run(["perf", "stat", "-x", ",", "-e", "task-clock", "-p",
                            ",".join(str(p) for p in pids), "--", "sleep", str(seconds)],
                           capture_output=True, text=True, timeout=seconds + 60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in r.stderr.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[2].startswith("task-clock"):
            try:
                return float(f[0]) / 1000.0 / seconds * 100.0
            except ValueError:
                return None
    return None


def cpu_ns(pids):
    """Nanoseconds on CPU of the live <pids> (/proc/<pid>/schedstat, first field)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/schedstat") as fh:
                total += int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--n", default="100,1000", help="instance counts, comma-separated")
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measured")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after serving before memory")
    ap.add_argument("--timeout", type=float, default=120.0, help="bound of each wait for serving")
    ap.add_argument("--perf", action="store_true",
                    help="idle CPU also from `perf stat -e task-clock -p <master and children>`")
    ap.add_argument("--env", action="append", default=[],
                    help="NAME=VALUE for the master (and so its instances), e.g. "
                         "POSTERN_REPORT_INTERVAL=15s; repeatable")
    a = ap.parse_args()
    a.env = dict(kv.split("=", 1) for kv in a.env)
    a.postern = os.path.abspath(a.postern)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"# env {a.env}; RLIMIT_NOFILE {hard}, RLIMIT_NPROC {resource.getrlimit(resource.RLIMIT_NPROC)[0]}; "
          f"uptime: {open('/proc/loadavg').read().strip()}", flush=True)
    tmp = tempfile.mkdtemp(prefix="pn-inst-")
    echo = None
    try:
        for _ in range(5):      # another program may take the port first: try another
            echo_port = free_ports(1, start=30000 + 97 * _)[0]
            echo = subprocess.Popen([sys.executable, "-c", ECHO, str(echo_port)],
                                    stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            end = time.time() + 10
            while time.time() < end and echo.poll() is None:
                try:
                    socket.create_connection((LOOP, echo_port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                echo.kill()
                echo.wait()
                echo = None
                continue
            break
        if echo is None:
            raise RuntimeError("the echo server did not start")
        for n in (int(x) for x in a.n.split(",")):
            r = run(a, n, echo_port, tmp)
            print(json.dumps(r), flush=True)
            report(r)
    finally:
        if echo is not None:
            echo.kill()
            echo.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def fmt(v, f="%.2f"):
    return "-" if v is None else f % v


def report(r):
    print(f"| {r['n']} instances ({r['children']} children) | PSS {r['pss_kib'] / 1024:.1f} MiB "
          f"({r['pss_kib'] / r['n']:.0f} KiB/instance) | create->serving {fmt(r['create_serve_s'])} s "
          f"| restart->serving {fmt(r['restart_serve_s'])} s ({r['restart_served']}/{r['n'] // 2 + r['n'] // 4}"
          f" ports) | idle CPU {r['idle_cpu_pct']:.2f} % (master {r['idle_cpu_master_pct']:.2f} %"
          + (f"; perf task-clock {fmt(r['idle_perf_pct'])} %" if "idle_perf_pct" in r else "") + ") "
          f"| list p50 {r['list_p50_ms']:.1f} ms p99 {r['list_p99_ms']:.1f} ms ({r['list_bytes']} B) "
          f"| SSE {r['sse_rate']:.0f}/s (peak {r['sse_peak']}/s, {r['sse_events']} events) |")
    for k, (c, mean) in sorted(r["pss_by_kind"].items()):
        print(f"#   {k}: {c} x {mean:.0f} KiB PSS")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
