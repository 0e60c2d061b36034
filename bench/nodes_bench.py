#!/usr/bin/env python3
"""The manager (docs/master.md "Manager") with many nodes and users, on loopback.

A `postern master://` manages N light stand-in nodes (one asyncio process serving N ports,
speaking the node protocol: PUT <prefix>/v1/node/config answers the version it was given,
GET <prefix>/v1/node/stats a list of every user with counters that grow each round) and U
users. Figures, from the manager's own debug lines ("push round done in X ms", "pull round
done in X ms") and /proc:

  1. a full push round: every node pushed the whole state (U users), after a user changed
     (median and max of the rounds);
  2. a pull round: every node's counters of U users read and added (median and max);
  3. the manager's memory (VmRSS, VmHWM) and CPU seconds over the measured part.

Goals of the issue: a push round under 2 s, a pull round under 1 s, memory under 64 MiB.
Never asserted. Every process is stopped by PID; every wait is bounded.

    python3 bench/nodes_bench.py [--nodes 50] [--users 10000] [--rounds 5] [--postern build/postern]
"""
import argparse
import asyncio
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LOOP = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((LOOP, 0))
        return s.getsockname()[1]


# ---- the stand-in nodes (run in a child process: --standin) -----------------------------

def standin(ports, users):
    names = [f"u{i}" for i in range(users)]
    state = {"round": 0, "body": b"", "at": 0.0, "version": 0}

    def stats():
        now = time.monotonic()
        if now - state["at"] > 0.25:        # counters grow by 100 bytes a user a round
            state["round"] += 1
            r = state["round"]
            us = ",".join('["%s",%d,0,1,0,0]' % (n, 100 * r) for n in names)    # form=rows
            state["body"] = ('{"version":%d,"updated_at":"","updated_by":"","applied_at":null,'
                             '"boot":"standin","time":0,"entrances":[],"tunnels":[],"users":[%s]}'
                             % (state["version"], us)).encode()
            state["at"] = now
        return state["body"]

    async def serve(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].split()
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                body = await reader.readexactly(int(m.group(1))) if m else b""
                if line[0] == b"PUT":
                    v = re.search(rb'"version":(\d+)', body)
                    state["version"] = int(v.group(1)) if v else 0
                    out = b'{"version":%d,"created":[],"changed":[],"removed":[],"reloaded":[],' \
                          b'"unchanged":0,"users":%d}' % (state["version"], users)
                else:
                    out = stats()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(out) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main():
        servers = [await asyncio.start_server(serve, LOOP, p, limit=1 << 16) for p in ports]
        print("ready", flush=True)
        await asyncio.gather(*(s.serve_forever() for s in servers))
    asyncio.run(main())


# ---- the manager's side ------------------------------------------------------------------

class Api:
    def __init__(self, port, key):
        self.c = http.client.HTTPConnection(LOOP, port, timeout=30)
        self.key = key

    def call(self, method, path, body=None):
        for attempt in (0, 1):      # a kept-alive connection idle for 30 s is closed by the master
            try:
                self.c.request(method, "/api/v1" + path,
                               body=json.dumps(body) if body is not None else None,
                               headers={"X-API-Key": self.key, "Content-Type": "application/json"})
                r = self.c.getresponse()
                break
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                if attempt:
                    raise
                self.c.close()
                self.c = http.client.HTTPConnection(self.c.host, self.c.port, timeout=30)
        data = r.read()
        assert r.status < 300, (method, path, r.status, data[:200])
        return json.loads(data) if data else None


def proc_figures(pid):
    st = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.strip()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return st.get("VmRSS", "?"), st.get("VmHWM", "?"), cpu


def setup(a, ports, tmp, pull, procs):
    """A manager on a fresh database with <a.users> users and the nodes on <ports>, caught up."""
    mport = free_port()
    env = dict(os.environ, POSTERN_NODE_PULL=pull, POSTERN_NODE_SYNC="10s",
               POSTERN_NODE_DEADLINE="20s", POSTERN_NODE_DOWN="600s")
    db = tempfile.mkdtemp(dir=tmp)
    mp = subprocess.Popen([a.postern, f"master://{LOOP}:{mport}?db={db}/m.db&log=debug"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    procs.append(mp)
    lines = []
    key = re.search(r"API key: ([0-9a-f]{64})", mp.stdout.readline()).group(1)

    def reader():
        for line in mp.stdout:
            lines.append((time.monotonic(), line))
    threading.Thread(target=reader, daemon=True).start()
    api = Api(mport, key)
    t = time.monotonic()
    for i in range(a.users):
        api.call("POST", "/users", {"name": f"u{i}", "password": f"pw{i}", "quota": 1 << 40})
    t_users = time.monotonic() - t
    for p in ports:
        api.call("POST", "/nodes", {"address": LOOP, "port": p, "token": "t"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if all(n["acked"] == n["version"] for n in api.call("GET", "/nodes")):
            break
        time.sleep(0.2)
    return mp, api, lines, t_users


def rounds(lines, what, since):
    return [int(m.group(1)) for at, l in list(lines) if at >= since
            for m in [re.search(what + r" round done in (\d+) ms", l)] if m]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--standin", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.standin:
        standin([int(p) for p in a.standin.split(",")], a.users)
        return
    tmp = tempfile.mkdtemp(prefix="nodes-bench-")
    ports = [free_port() for _ in range(a.nodes)]
    procs = []
    lines = []
    try:
        sp = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--standin",
                               ",".join(map(str, ports)), "--users", str(a.users)],
                              stdout=subprocess.PIPE, text=True)
        procs.append(sp)
        assert sp.stdout.readline().strip() == "ready"
        # phase 1: pushes alone (no pull in the hour): one full round per user changed
        mp, api, lines, t_users = setup(a, ports, tmp, "3600s", procs)
        push, push_cpu = [], []
        for r in range(a.rounds):
            _, _, c0 = proc_figures(mp.pid)
            since = time.monotonic()
            api.call("PATCH", f"/users/u{r}", {"rate": r + 1})
            end = time.monotonic() + 60
            while not rounds(lines, "push", since) and time.monotonic() < end:
                time.sleep(0.02)
            _, _, c1 = proc_figures(mp.pid)
            push += rounds(lines, "push", since)[:1]
            push_cpu.append(c1 - c0)
        rss1, hwm1, _ = proc_figures(mp.pid)
        mp.send_signal(signal.SIGTERM)
        mp.wait(30)
        # phase 2: pulls alone, every 2 s
        mp, api, lines, _ = setup(a, ports, tmp, "2s", procs)
        _, _, c0 = proc_figures(mp.pid)
        t0 = time.monotonic()
        end = t0 + 2 * a.rounds * 2 + 60
        while len(rounds(lines, "pull", t0)) < a.rounds and time.monotonic() < end:
            time.sleep(0.1)
        _, _, c1 = proc_figures(mp.pid)
        pull = rounds(lines, "pull", t0)
        rss2, hwm2, _ = proc_figures(mp.pid)
        usage = api.call("GET", "/users/u0")["usage"]
        load = open("/proc/loadavg").read().split()[:3]
        print(f"manager: {a.nodes} stand-in nodes, {a.users} users; load {' '.join(load)} "
              f"({os.cpu_count()} cores)")
        print(f"  users added through the API in {t_users:.1f} s")
        print("| figure | median | max | rounds | manager CPU a round |")
        print("|---|---|---|---|---|")
        for name, v, cpu in (("full push round (ms)", push, statistics.median(push_cpu) if push_cpu else 0),
                             ("pull round (ms)", pull, (c1 - c0) / max(len(pull), 1))):
            if v:
                print(f"| {name} | {statistics.median(v):.0f} | {max(v)} | {len(v)} | {cpu:.2f} s |")
            else:
                print(f"| {name} | - | - | 0 | |")
        print(f"| manager VmRSS / VmHWM, pushing | {rss1} | {hwm1} | | |")
        print(f"| manager VmRSS / VmHWM, pulling | {rss2} | {hwm2} | | |")
        print(f"  (u0's usage counted over the pulls: {usage} bytes)")
    except Exception:
        print("failed; the manager's last lines:", file=sys.stderr)
        for _, line in lines[-15:]:
            print("  " + line.rstrip(), file=sys.stderr)
        raise
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
