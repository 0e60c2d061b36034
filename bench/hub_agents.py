#!/usr/bin/env python3
"""A hub with many agents (processes), each publishing one tcp route, with type=0 (the TCP
pool, min=64) and type=3 (one HTTP/2 connection per agent), on loopback.

For each type: start the hub, note its memory, start N agents (one account and one route
each, to one echo backend), wait until every route answers an echo, let the pools fill,
then note the hub's memory again and the TCP connections it holds on its tunnel port
(ss -p). Figures: hub VmRSS and PSS per idle connected agent, connections per agent.
The integration test 94_transport_h2_test.py runs 20 agents; this script 200.

    python3 bench/hub_agents.py [--agents 200] [--min 64] [--types 0,3] [--untyped]
                                [--postern build/postern]

--min 0 gives the agents no min= (their default: 64, or 8 for an agent of a type=3 hub).
--untyped gives the agents of the type=3 hub no type= (they learn it from HELLO and move
their control channel onto HTTP/2).

Every process is stopped by PID; every wait is bounded. Figures are never asserted.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import (HERE, LOOP, Env, Procs, free_port, pss_kib, start, start_backend,  # noqa: E402
                     status_kib, stop, up)

ENV = {"POSTERN_REPORT_INTERVAL": "60s", "POSTERN_BACKOFF_MAX": "1s"}
MIN = 64            # each agent's pool (idle data channels: connections or streams); 0: no min=
UNTYPED = False     # agents of the type=3 hub given no type=
SETTLE = 3.0        # seconds for the agents' pools to fill once every route answers


def port_block(n):
    """<n> consecutive ports free now (best effort: probed one by one)."""
    for base in range(30000, 60000 - n, n + 7):
        ok = True
        for p in range(base, base + n):
            with socket.socket() as s:
                try:
                    s.bind((LOOP, p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port block")


def echo_ok(port, timeout=2.0):
    try:
        with socket.create_connection((LOOP, port), timeout=timeout) as s:
            s.sendall(b"hub agents")
            s.shutdown(socket.SHUT_WR)
            got = b""
            while len(got) < 10:
                d = s.recv(64)
                if not d:
                    break
                got += d
            return got == b"hub agents"
    except OSError:
        return False


def connections(pid, port):
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if f"pid={pid}," in line)


def run(env, xtype, n):
    procs = Procs()
    roots = []
    try:
        echo = start_backend("echo", procs, env.tmp)
        base = port_block(n)
        accts = [{"name": f"a{i}", "token": f"a{i}-" + os.urandom(12).hex(),
                  "ports": [f"{base + i}-{base + i}"]} for i in range(n)]
        path = os.path.join(env.tmp, f"accounts-{xtype}.json")
        with open(path, "w") as fh:
            json.dump({"accounts": accts}, fh)
        ctl = free_port()
        hub = start(procs, [env.postern, f"hub://{LOOP}:{ctl}?accounts={path}&ports={base}-"
                            f"{base + n - 1}&type={xtype}&log=warn"], env.log(f"hub {xtype}"), ENV)
        roots.append(hub.pid)
        up(ctl, hub)
        time.sleep(0.5)
        rss0, pss0 = status_kib(hub.pid, "VmRSS"), pss_kib(hub.pid)
        given = "&type=3" if xtype == 3 and not UNTYPED else ""
        given += f"&min={MIN}" if MIN else ""
        for i, a in enumerate(accts):
            p = start(procs, [env.postern, f"agent://{a['token']}@{LOOP}:{ctl}?tcp={LOOP}:{echo},"
                              f"port={base + i}&log=warn{given}"],
                      env.log(f"agent {xtype} {i}"), ENV)
            roots.append(p.pid)
        t0 = time.time()
        left = set(range(n))
        while left and time.time() - t0 < 60 + n * 0.5:
            left = {i for i in left if not echo_ok(base + i)}
            if left:
                time.sleep(0.5)
        up_s = time.time() - t0
        time.sleep(SETTLE)
        rss1, pss1 = status_kib(hub.pid, "VmRSS"), pss_kib(hub.pid)
        conns = connections(hub.pid, ctl)
        return {"answered": n - len(left), "up_s": up_s, "conns": conns,
                "rss_kib": (rss1 - rss0) / n, "pss_kib": (pss1 - pss0) / n,
                "rss0": rss0, "rss1": rss1}
    finally:
        stop(procs, roots)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--min", type=int, default=64,
                    help="each agent's min= (pool size); 0: none given (the agents' default)")
    ap.add_argument("--types", default="0,3", help="the hub's type= values to run, in turn")
    ap.add_argument("--untyped", action="store_true",
                    help="the type=3 hub's agents are given no type= (learned from HELLO)")
    a = ap.parse_args()
    global MIN, UNTYPED
    MIN = a.min
    UNTYPED = a.untyped
    if not shutil.which("ss"):
        sys.exit("hub_agents: ss missing (iproute2)")
    tmp = tempfile.mkdtemp(prefix="postern-hub-agents-")
    env = Env(os.path.abspath(a.postern), tmp)
    res = {}
    try:
        for xtype in (int(t) for t in a.types.split(",")):
            res[xtype] = run(env, xtype, a.agents)
            print(f"  type={xtype}: {res[xtype]}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"## hub with {a.agents} agents, min={a.min or 'default'}"
          f"{', agents given no type=' if a.untyped else ''} ({time.strftime('%Y-%m-%d')})\n")
    print("| type | routes answering | all up in s | hub connections | per agent |"
          " hub VmRSS KiB per idle agent | hub PSS KiB per idle agent |")
    print("|---|---|---|---|---|---|---|")
    for xtype, r in res.items():
        print(f"| {xtype} | {r['answered']}/{a.agents} | {r['up_s']:.1f} | {r['conns']} |"
              f" {r['conns'] / a.agents:.1f} | {r['rss_kib']:.0f} | {r['pss_kib']:.0f} |")


if __name__ == "__main__":
    main()
