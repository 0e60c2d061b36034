#!/usr/bin/env python3
"""postern's transports (type=) against each other and against v2ray's WebSocket and HTTP/2
transports, on loopback, in one run on one machine.

Paths (all a tunnel from an entry port to the target, both ends on this machine):
  direct                         no relay
  postern reverse type=0         the TCP pool (tls=0)
  postern reverse type=1         every channel a stream of one QUIC connection (TLS 1.3
                                 always, a certificate not checked with tls=0)
  postern reverse type=1 tls=1   the same, the certificate pinned
  postern reverse type=2         every connection a WebSocket (tls=0)
  postern reverse type=2 tls=1   WebSocket inside TLS 1.3 (wss), fingerprint pinned
  postern reverse type=3         every channel a stream of one HTTP/2 connection (h2c)
  postern reverse type=3 tls=1   the same inside TLS 1.3 (h2, ALPN), fingerprint pinned
  v2ray vless+ws                 v2ray (Debian's package): dokodemo-door -> VLESS over
                                 WebSocket (no encryption, like type=2 tls=0) -> freedom
  v2ray vless+h2 tls             VLESS over v2ray's HTTP/2 transport, which requires TLS
                                 (a self-signed certificate, like type=3 tls=1); Debian's
                                 v2ray 4.34 has no gRPC transport
  v2ray vless+quic               VLESS over v2ray's QUIC transport (TLS, a self-signed
                                 certificate, like type=1 tls=1)

Figures: iperf3 TCP throughput with 1 and 8 streams (median of the runs), new connections
per second (connect, 1 byte echoed, close; compare.py's driver). Ratios: each postern
row against type=0 and against v2ray's same transport (type=1 against vless+quic, type=2
against vless+ws, type=3 against vless+h2). With --cpu, also the CPU seconds per GiB of
the path's relay processes (both ends, children included) while 8 streams move 2 GiB, and
its ratio against v2ray's same transport (v2ray / postern: above 1 means postern spends
less): a figure that a machine shared with other work disturbs less than throughput.
Figures are never asserted; every process is stopped by PID.

    python3 bench/transport_bench.py [--quick] [--cpu] [--postern build/postern] [--only type=1,type=0]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import (CLK_TCK, Env, Procs, connrate, cpu_ticks, iperf, p_direct,  # noqa: E402
                     postern, start, start_backend, stop, throughput, up)
from udp_bench import LOOP, free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WARM = 1.5                  # let a tunnel client's pool fill


def p_postern(xtype, tls):
    def f(env, procs, target):
        tun, e = free_port(), free_port()
        path = f"postern reverse type={xtype}" + (f" tls={tls}" if tls else "")
        s = postern(env, procs, path,
                    f"server://bench@{LOOP}:{tun}/{LOOP}:{e}?tls={tls}&type={xtype}&log=warn")
        up(tun, s)
        c = postern(env, procs, path, f"client://bench@{LOOP}:{tun}/{LOOP}:{target}?mode=2&min=64&log=warn")
        up(e, s, c)
        time.sleep(WARM)
        return e, [s.pid, c.pid]
    return f


def v2ray_pair(env, procs, target, kind, server_stream, client_stream, udp=False):
    """v2ray's client (dokodemo-door -> VLESS) and server (VLESS -> freedom) over the
    transport <kind> that the two streamSettings describe: (entry port, [PIDs])."""
    e, port = free_port(), free_port()
    uid = str(uuid.uuid4())
    server = {
        "log": {"loglevel": "none"},
        "inbounds": [{"listen": LOOP, "port": port, "protocol": "vless",
                      "settings": {"clients": [{"id": uid}], "decryption": "none"},
                      "streamSettings": server_stream}],
        "outbounds": [{"protocol": "freedom"}]}
    client = {
        "log": {"loglevel": "none"},
        "inbounds": [{"listen": LOOP, "port": e, "protocol": "dokodemo-door",
                      "settings": {"address": LOOP, "port": target, "network": "tcp"}}],
        "outbounds": [{"protocol": "vless", "settings": {"vnext": [
            {"address": LOOP, "port": port, "users": [{"id": uid, "encryption": "none"}]}]},
            "streamSettings": client_stream}]}
    ps = []
    for name, conf in (("server", server), ("client", client)):
        cfg = os.path.join(env.tmp, f"v2ray-{kind}-{name}.json")
        with open(cfg, "w") as fh:
            json.dump(conf, fh, indent=1)
        ps.append(start(procs, ["v2ray", "-config", cfg], env.log(f"v2ray {kind} {name}")))
        if udp and name == "server":
            time.sleep(1.0)     # a UDP port: nothing to connect to; give it a moment
        else:
            up(port if name == "server" else e, *ps)
    return e, [p.pid for p in ps]


def p_v2ray_ws(env, procs, target):
    stream = {"network": "ws", "wsSettings": {"path": "/t"}}
    return v2ray_pair(env, procs, target, "ws", stream, stream)


def v2ray_cert(env):
    crt, key = os.path.join(env.tmp, "v2ray.crt"), os.path.join(env.tmp, "v2ray.key")
    if not os.path.exists(crt):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-keyout", key, "-out", crt], check=True,
                       capture_output=True)
    return crt, key


def p_v2ray_quic(env, procs, target):
    crt, key = v2ray_cert(env)
    quic = {"security": "none", "key": "", "header": {"type": "none"}}
    server = {"network": "quic", "security": "tls", "quicSettings": quic,
              "tlsSettings": {"certificates": [{"certificateFile": crt, "keyFile": key}]}}
    client = {"network": "quic", "security": "tls", "quicSettings": quic,
              "tlsSettings": {"serverName": "localhost", "allowInsecure": True}}
    return v2ray_pair(env, procs, target, "quic", server, client, udp=True)


def p_v2ray_h2(env, procs, target):
    crt, key = v2ray_cert(env)
    http = {"path": "/t", "host": ["localhost"]}
    server = {"network": "h2", "security": "tls", "httpSettings": http,
              "tlsSettings": {"certificates": [{"certificateFile": crt, "keyFile": key}]}}
    client = {"network": "h2", "security": "tls", "httpSettings": http,
              "tlsSettings": {"serverName": "localhost", "allowInsecure": True}}
    return v2ray_pair(env, procs, target, "h2", server, client)


PATHS = [
    ("direct", p_direct),
    ("postern reverse type=0", p_postern(0, 0)),
    ("postern reverse type=1", p_postern(1, 0)),
    ("postern reverse type=1 tls=1", p_postern(1, 1)),
    ("postern reverse type=2", p_postern(2, 0)),
    ("postern reverse type=2 tls=1", p_postern(2, 1)),
    ("postern reverse type=3", p_postern(3, 0)),
    ("postern reverse type=3 tls=1", p_postern(3, 1)),
    ("v2ray vless+ws", p_v2ray_ws),
    ("v2ray vless+h2 tls", p_v2ray_h2),
    ("v2ray vless+quic", p_v2ray_quic),
]
PEER = {"type=1": "v2ray vless+quic", "type=2": "v2ray vless+ws", "type=3": "v2ray vless+h2 tls"}


def with_path(env, setup, backend, body):
    procs = Procs()
    roots = []
    try:
        target = start_backend(backend, procs, env.tmp)
        entry, roots = setup(env, procs, target)
        return body(entry, roots) if body is cpu8 else body(entry)
    finally:
        stop(procs, roots)


def cpu8(port, roots):
    """CPU seconds per GiB of <roots> (and their children) while 8 streams move 2 GiB."""
    time.sleep(0.3)
    before = cpu_ticks(roots)
    got = iperf(port, ["-n", "2G", "-P", "8"], 160)
    time.sleep(0.5)
    return (cpu_ticks(roots) - before) / CLK_TCK / (got["bytes"] / 2 ** 30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--quick", action="store_true", help="1 run of 2 s per figure")
    ap.add_argument("--only", default="", help="comma-separated substrings: the paths to run")
    ap.add_argument("--cpu", action="store_true",
                    help="also CPU s/GiB of the relay processes with 8 streams (2 GiB)")
    a = ap.parse_args()
    only = [w for w in a.only.split(",") if w]
    paths = [(n, fn) for n, fn in PATHS
             if not only or any(w in n if not w.startswith("type=") else n.endswith(" " + w)
                                or (" " + w + " ") in n for w in only)]
    runs, secs = (1, 2) if a.quick else (3, 4)
    for tool in ("iperf3", "v2ray"):
        if not shutil.which(tool):
            sys.exit(f"transport_bench: {tool} missing: sh bench/deps.sh")
    tmp = tempfile.mkdtemp(prefix="postern-transport-")
    env = Env(os.path.abspath(a.postern), tmp)
    res = {}
    t0 = time.time()
    try:
        for name, fn in paths:
            r = res[name] = {}
            for k, streams in (("tp1", 1), ("tp8", 8)):
                try:
                    r[k] = with_path(env, fn, "iperf",
                                     lambda e, s=streams: throughput(e, s, runs, secs))
                except Exception as ex:  # noqa: BLE001 - a figure that fails is reported
                    r[k] = None
                    print(f"  {name} {k}: {ex}", file=sys.stderr)
            if a.cpu and name != "direct":
                try:
                    r["cpu8"] = with_path(env, fn, "iperf", cpu8)
                except Exception as ex:  # noqa: BLE001
                    r["cpu8"] = None
                    print(f"  {name} cpu8: {ex}", file=sys.stderr)
            try:
                r["conn"], r["errs"] = with_path(env, fn, "echo", lambda e: connrate(e, secs))
            except Exception as ex:  # noqa: BLE001
                r["conn"], r["errs"] = None, None
                print(f"  {name} conn/s: {ex}", file=sys.stderr)
            print(f"  {name}: {r}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def f(v, fmt):
        return "-" if v is None else fmt % v

    def ratio(a_, b_):
        return "-" if a_ is None or b_ in (None, 0) else "%.2fx" % (a_ / b_)

    base = res.get("postern reverse type=0", {})
    print(f"## transports ({time.strftime('%Y-%m-%d')}, {runs} run(s) of {secs} s, "
          f"{(time.time() - t0) / 60:.1f} min)\n")
    print("| path | 1 stream Gbit/s | 8 streams Gbit/s | conn/s | conn errors |"
          " 1 / type=0 | 8 / type=0 | conn/s / type=0 | 1 / v2ray same | 8 / v2ray same |"
          " conn/s / v2ray same |" + (" 8 streams CPU s/GiB | v2ray same / this CPU |" if a.cpu else ""))
    print("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if a.cpu else ""))
    for name, _ in paths:
        r = res.get(name, {})
        cells = [f(r.get("tp1"), "%.2f"), f(r.get("tp8"), "%.2f"), f(r.get("conn"), "%.0f"),
                 f(r.get("errs"), "%d")]
        if name.startswith("postern"):
            cells += [ratio(r.get(k), base.get(k)) for k in ("tp1", "tp8", "conn")]
            peer = next((res.get(v, {}) for t, v in PEER.items() if t in name), {})
            cells += [ratio(r.get(k), peer.get(k)) for k in ("tp1", "tp8", "conn")]
        else:
            peer = {}
            cells += [""] * 6
        if a.cpu:
            cells += [f(r.get("cpu8"), "%.3f"), ratio(peer.get("cpu8"), r.get("cpu8"))
                      if name.startswith("postern") else ""]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
