#!/usr/bin/env python3
"""The proxy entrance (proxy://) against Debian's peers doing the same job, on loopback,
in one run on one machine (issue 16).

Groups, each compared within itself:
  SOCKS5:       postern proxy:// (user/password), v2ray's socks inbound (password
                accounts), ssh -D through a private sshd (openssh-server started here with
                its own config and host key, stopped by PID); and postern's HTTP CONNECT
                on the same entrance
  Shadowsocks:  postern proxy://?ss= , ss-server (shadowsocks-libev), v2ray's shadowsocks
                inbound; one method for all (--method)

The measurements are bench/compare.py's (iperf3 1 and 8 streams, conn/s, wrk p50/p99,
memory per held connection, CPU per GiB), through a plain TCP port that a client puts in
front of each proxy: v2ray (dokodemo-door inbound, socks or http outbound) for the SOCKS5
and CONNECT rows, ss-tunnel (shadowsocks-libev) for the Shadowsocks rows. The client is
the same for every row of a group and is not counted in memory or CPU (only the proxy's
processes are: ssh -D counts ssh and sshd); it is in the throughput path, so a group's
throughput is at most what its client reaches.

    python3 bench/proxy_bench.py [--quick] [--only socks,ss] [--method aes-256-gcm]
"""
import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402
from udp_bench import LOOP, free_port  # noqa: E402

USER = "bench"
PW = secrets.token_hex(8)
KEY = secrets.token_hex(8)
METHOD = "chacha20-ietf-poly1305"


def users(env):
    f = os.path.join(env.tmp, "users.json")
    if not os.path.exists(f):
        with open(f, "w") as fh:
            json.dump({"users": [{"name": USER, "password": PW, "key": KEY}]}, fh)
    return f


def v2ray_client(env, procs, path, target, outbound):
    """A plain TCP port forwarding to <target> through <outbound> (the proxy under test)."""
    e = free_port()
    conf = {"log": {"loglevel": "none"},
            "inbounds": [{"listen": LOOP, "port": e, "protocol": "dokodemo-door",
                          "settings": {"address": LOOP, "port": target, "network": "tcp"}}],
            "outbounds": [outbound]}
    p = C.v2ray_start(env, procs, path, f"client-{e}", conf)
    C.up(e, p)
    return e


def socks_out(port, auth=True):
    srv = {"address": LOOP, "port": port}
    if auth:
        srv["users"] = [{"user": USER, "pass": PW}]
    return {"protocol": "socks", "settings": {"servers": [srv]}}


def ss_tunnel(env, procs, path, server_port, target):
    e = free_port()
    cfg = os.path.join(env.tmp, f"ss-tunnel-{e}.json")
    with open(cfg, "w") as fh:
        json.dump({"server": LOOP, "server_port": server_port, "local_address": LOOP,
                   "local_port": e, "password": KEY, "method": METHOD,
                   "tunnel_address": f"{LOOP}:{target}", "timeout": 60}, fh)
    argv = ["ss-tunnel", "-c", cfg]
    env.note(path, argv)
    p = C.start(procs, argv, env.log(f"{path} ss-tunnel"))
    C.up(e, p)
    return e


def entrance(env, procs, path, ss=False):
    port, sp = free_port(), free_port()
    url = f"proxy://{LOOP}:{port}?users={users(env)}&allow=127.0.0.0/8&log=warn"
    if ss:
        url += f"&ss={LOOP}:{sp}&method={METHOD}"
    p = C.postern(env, procs, path, url)
    C.up(port, p)
    if ss:
        C.up(sp, p)
    return port, sp, p


def p_postern_socks(env, procs, target):
    port, _, p = entrance(env, procs, "postern socks5")
    return v2ray_client(env, procs, "postern socks5", target, socks_out(port)), [p.pid]


def p_postern_connect(env, procs, target):
    port, _, p = entrance(env, procs, "postern http CONNECT")
    out = {"protocol": "http", "settings": {"servers": [{"address": LOOP, "port": port,
                                                         "users": [{"user": USER, "pass": PW}]}]}}
    return v2ray_client(env, procs, "postern http CONNECT", target, out), [p.pid]


def p_v2ray_socks(env, procs, target):
    port = free_port()
    conf = {"log": {"loglevel": "none"},
            "inbounds": [{"listen": LOOP, "port": port, "protocol": "socks",
                          "settings": {"auth": "password", "accounts": [{"user": USER, "pass": PW}],
                                       "udp": False}}],
            "outbounds": [{"protocol": "freedom"}]}
    p = C.v2ray_start(env, procs, "v2ray socks", f"server-{port}", conf)
    C.up(port, p)
    return v2ray_client(env, procs, "v2ray socks", target, socks_out(port)), [p.pid]


def p_ssh_d(env, procs, target):
    sport, d, key = C.sshd(env, procs, "ssh -D")
    port = free_port()
    argv = C.ssh_argv(sport, key, ["-D", f"{LOOP}:{port}"])
    env.note("ssh -D", argv)
    p = C.start(procs, argv, env.log("ssh -D"))
    C.up(port, p, d)
    return v2ray_client(env, procs, "ssh -D", target, socks_out(port, auth=False)), [p.pid, d.pid]


def p_postern_ss(env, procs, target):
    _, sp, p = entrance(env, procs, "postern ss", ss=True)
    return ss_tunnel(env, procs, "postern ss", sp, target), [p.pid]


def p_ss_server(env, procs, target):
    port = free_port()
    cfg = os.path.join(env.tmp, f"ss-server-{port}.json")
    with open(cfg, "w") as fh:
        json.dump({"server": LOOP, "server_port": port, "password": KEY, "method": METHOD,
                   "timeout": 60}, fh)
    argv = ["ss-server", "-c", cfg]
    env.note("ss-server", argv)
    p = C.start(procs, argv, env.log("ss-server"))
    C.up(port, p)
    return ss_tunnel(env, procs, "ss-server", port, target), [p.pid]


def p_v2ray_ss(env, procs, target):
    port = free_port()
    conf = {"log": {"loglevel": "none"},
            "inbounds": [{"listen": LOOP, "port": port, "protocol": "shadowsocks",
                          "settings": {"method": METHOD, "password": KEY, "network": "tcp"}}],
            "outbounds": [{"protocol": "freedom"}]}
    p = C.v2ray_start(env, procs, "v2ray shadowsocks", f"server-{port}", conf)
    C.up(port, p)
    return ss_tunnel(env, procs, "v2ray shadowsocks", port, target), [p.pid]


GROUPS = [
    ("socks", [("postern socks5", p_postern_socks), ("postern http CONNECT", p_postern_connect),
               ("v2ray socks", p_v2ray_socks), ("ssh -D", p_ssh_d)]),
    ("ss", [("postern ss", p_postern_ss), ("ss-server", p_ss_server),
            ("v2ray shadowsocks", p_v2ray_ss)]),
]


def main():
    global METHOD
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(C.HERE, "..", "build", "postern"))
    ap.add_argument("--quick", action="store_true",
                    help="1 run per figure, 2 s each, 512M for CPU, 1000 held connections")
    ap.add_argument("--only", default="", help="groups to run: socks, ss (default both)")
    ap.add_argument("--method", default=METHOD, help="the Shadowsocks method of every row")
    ap.add_argument("--budget", type=float, default=20, help="minutes (figures past it are skipped)")
    a = ap.parse_args()
    METHOD = a.method
    a.runs, a.seconds, a.conn_seconds, a.size, a.hold_max = (1, 2, 2, "512M", 1000) if a.quick else \
        (3, 5, 5, "2G", 10000)
    env = C.Env(os.path.abspath(a.postern), tempfile.mkdtemp(prefix="postern-proxy-bench-"))
    for tool in ("iperf3", "wrk", "nginx", "v2ray", "ss-server", "ss-tunnel", "ssh", "/usr/sbin/sshd"):
        if not shutil.which(tool):
            sys.exit(f"proxy_bench: {tool} missing: sh bench/deps.sh")
    if os.geteuid() != 0:
        sys.exit("proxy_bench: needs root (the private sshd of ssh -D)")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (C.NOFILE, C.NOFILE))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 2 * a.hold_max + 100:
        a.hold_max = 1000
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    wanted = [w.strip() for w in a.only.split(",") if w.strip()]
    run = C.Run(a, env)
    t0 = time.time()
    print(f"## proxy entrance against its peers ({time.strftime('%Y-%m-%d')}, "
          f"{'quick' if a.quick else 'full'}: {a.runs} run(s) of {a.seconds} s; Shadowsocks "
          f"{METHOD}; load {os.getloadavg()[0]:.1f})\n", flush=True)
    try:
        for g, paths in GROUPS:
            if wanted and g not in wanted:
                continue
            results = {}
            try:
                for name, fn in paths:
                    print(f"  {name} ...", file=sys.stderr, flush=True)
                    results[name] = run.measure(name, fn)
            finally:
                names = [n for n, _ in paths if n in results]
                print(C.table(results, names) + "\n")
                print(C.mem_table(run, names) + "\n", flush=True)
    except KeyboardInterrupt:
        print("proxy_bench: interrupted", file=sys.stderr)
    finally:
        for p, n in run.notes:
            print(f"- {p}: {n}")
        print(f"\n(ran {(time.time() - t0) / 60:.1f} min, load now {os.getloadavg()[0]:.1f})")
        shutil.rmtree(env.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
