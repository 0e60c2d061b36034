#!/usr/bin/env python3
"""postern's hub against Host-routing reverse proxies and its own reverse tunnel, on loopback.

Paths:
  - direct: no relay
  - nginx proxy: nginx http, Host-based server blocks, proxy_pass to an upstream with
    keepalive, proxy_http_version 1.1
  - haproxy http: mode http, use_backend on hdr(host)
  - postern reverse tls=0: server:// + client:// (TCP only, as compare.py starts it)
  - postern hub: `postern hub://` (http= and ports=) and one `postern agent://` with an http
    route (host app.test) to the nginx backend and a tcp route to the iperf3 server

Figures per path:
  1. keep-alive HTTP: wrk -t2 -c32 --latency -H 'Host: app.test' against nginx (1 worker)
     serving a 1 KiB and a 64 KiB file: requests/s, p50 and p99 latency
  2. TCP throughput, 1 and 8 streams: iperf3, median of the runs (end.sum_received)
  3. memory: VmRSS and PSS of the relay processes idle after the runs (the hub and the
     agent apart in the detail table, with their figures right after start-up)

With --h2, instead: HTTPS with HTTP/2 from the users, TLS terminated by the relay, in front of
the same nginx backend (HTTP/1.1): nginx (ssl http2, proxy_pass with keepalive), haproxy
(bind ssl alpn h2, mode http) and the postern hub (https= certs=, one agent), twice: with
its default data connections (type=0, a TCP connection per exchange in flight) and with
type=3 (every exchange a stream of one HTTP/2 connection to the agent); h2load -c1
-m100 (one connection, 100 concurrent streams) for a 1 KiB and a 64 KiB file: requests/s and
mean request time, p99 (from h2load --log-file), and the hub's ratios to the better of
nginx and haproxy (req/s: the higher; p99: the lower). --h2-runs N repeats the whole round
(every path in turn) N times and gives each figure's median; --h2-sizes 1k keeps one file.

Prints one markdown table with each postern row's ratio to direct, to the best peer (nginx
or haproxy) and, for the hub, to the reverse tunnel; writes it with the machine and the
versions to bench/results/hub-<date>.md (and with --docs into docs/benchmarks.md, between
its hub_bench.py markers). Figures are never asserted. Every process is stopped by PID;
every wait is bounded. Shares its helpers with compare.py.

    python3 bench/hub_bench.py [--quick] [--docs] [--h2] [--postern build/postern]
"""
import argparse
import http.client
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
from compare import (HERE, LOOP, Env, Procs, Run, cpu_model, fmt, free_port, memory, p_reverse,  # noqa: E402
                     postern, start, start_backend, stop, throughput, up, version)

HOST = "app.test"
SIZES = [("1k", 1024), ("64k", 65536)]     # files of the nginx backend: /1k, /64k
CONNS = 32                                  # wrk connections
TOOLS = [("nginx", ["nginx", "-v"]), ("haproxy", ["haproxy", "-v"]), ("iperf3", ["iperf3", "--version"]),
         ("wrk", ["wrk", "-v"])]
DOCS_BEGIN = "<!-- hub_bench.py:begin (written by bench/hub_bench.py --docs) -->"
DOCS_END = "<!-- hub_bench.py:end -->"


# ---------------------------------------------------------------------------------------
# paths: each starts its relays in front of the backends <tg> ({"http": port, "tcp": port})
# and returns ({"http"/"tcp": entry port}, [(process label, PID)] of the relay)


def p_direct(env, procs, tg):
    return dict(tg), []


def nginx_relay(env, procs, label, e, servers):
    """Start an nginx relay (worker_processes auto) on port <e> whose http block holds the
    upstream "app" (the backend, keepalive 64) and <servers>; return its process."""
    d = os.path.join(env.tmp, f"nginx-{label.replace(' ', '-')}-{e}")
    os.makedirs(d)
    cfg = os.path.join(d, "nginx.conf")
    temps = "".join(f"    {t}_temp_path {d}/{t};\n" for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = f"""daemon off;
master_process on;
worker_processes auto;
worker_rlimit_nofile {compare.NOFILE};
user root;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temps}    keepalive_requests 1000000;
    upstream app {{
        server {LOOP}:{servers[0]};
        keepalive 64;
        keepalive_requests 1000000;
    }}
{servers[1]}}}
"""
    with open(cfg, "w") as fh:
        fh.write(conf)
    argv = ["nginx", "-p", d, "-c", cfg, "-e", f"{d}/error.log"]
    env.note(label, argv, conf)
    p = start(procs, argv, env.log(label))
    up(e, p)
    return p


def p_nginx_proxy(env, procs, tg):
    e = free_port()
    servers = f"""    server {{
        listen {LOOP}:{e} default_server backlog=4096;
        return 404;
    }}
    server {{
        listen {LOOP}:{e};
        server_name {HOST};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
        }}
    }}
"""
    p = nginx_relay(env, procs, "nginx proxy", e, (tg["http"], servers))
    return {"http": e}, [("nginx (master + workers)", p.pid)]


def p_haproxy_http(env, procs, tg):
    e = free_port()
    cfg = os.path.join(env.tmp, f"haproxy-http-{e}.cfg")
    conf = f"""global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 1m
    timeout server 1m
    timeout http-keep-alive 1m
frontend web
    bind {LOOP}:{e}
    use_backend app if {{ hdr(host) -i {HOST} }}
    default_backend none
backend app
    server s1 {LOOP}:{tg["http"]}
backend none
    http-request deny deny_status 404
"""
    with open(cfg, "w") as fh:
        fh.write(conf)
    argv = ["haproxy", "-db", "-f", cfg]
    env.note("haproxy http", argv, conf)
    p = start(procs, argv, env.log("haproxy http"))
    up(e, p)
    return {"http": e}, [("haproxy", p.pid)]


def p_reverse0(env, procs, tg):
    e, (s, c) = p_reverse(0)(env, procs, tg["tcp"])
    return {"tcp": e}, [("server://", s), ("client://", c)]


def p_hub(env, procs, tg):
    path = "postern hub"
    ctl, web, port = free_port(), free_port(), free_port()
    token = os.urandom(16).hex()
    accounts = os.path.join(env.tmp, "accounts.json")
    with open(accounts, "w") as fh:
        fh.write('{"accounts": [{"name": "bench", "token": "%s"}]}\n' % token)
    h = postern(env, procs, path, f"hub://{LOOP}:{ctl}?accounts={accounts}&http={LOOP}:{web}"
                                  f"&ports={port}-{port}&log=warn")
    up(ctl, h)
    a = postern(env, procs, path, f"agent://{token}@{LOOP}:{ctl}?http={LOOP}:{tg['http']},host={HOST}"
                                  f"&tcp={LOOP}:{tg['tcp']},port={port}&log=warn")
    up(port, h, a)              # the tcp route's port opens once the agent registered it
    time.sleep(compare.WARM)    # let the agent's pool fill
    return {"http": web, "tcp": port}, [("hub", h.pid), ("agent", a.pid)]


PATHS = [  # name, setup, binary it needs
    ("direct", p_direct, None),
    ("nginx proxy", p_nginx_proxy, "nginx"),
    ("haproxy http", p_haproxy_http, "haproxy"),
    ("postern reverse tls=0", p_reverse0, None),
    ("postern hub", p_hub, None),
]


# ---------------------------------------------------------------------------------------
# --h2: TLS terminated by the relay, HTTP/2 from the users (h2load), HTTP/1.1 to nginx

H2_DOCS_BEGIN = "<!-- hub_bench.py --h2:begin (written by bench/hub_bench.py --h2 --docs) -->"
H2_DOCS_END = "<!-- hub_bench.py --h2:end -->"


def h2_cert(env):
    """A self-signed certificate for app.test: (crt, key, crt+key in one file for haproxy)."""
    d = os.path.join(env.tmp, "tls")
    os.makedirs(d, exist_ok=True)
    crt, key, pem = (os.path.join(d, n) for n in ("app.crt", "app.key", "app.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=DNS:{HOST}"], check=True, capture_output=True, timeout=30)
    with open(pem, "w") as fh:
        fh.write(open(crt).read() + open(key).read())
    return crt, key, pem


def h2_nginx(env, procs, tg, tls):
    e = free_port()
    servers = f"""    server {{
        listen {LOOP}:{e} ssl http2 backlog=4096;
        server_name {HOST};
        ssl_certificate {tls[0]};
        ssl_certificate_key {tls[1]};
        ssl_protocols TLSv1.3;
        http2_max_concurrent_streams 128;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
"""
    p = nginx_relay(env, procs, "nginx h2", e, (tg["http"], servers))
    return e, [("nginx (master + workers)", p.pid)]


def h2_haproxy(env, procs, tg, tls):
    e = free_port()
    cfg = os.path.join(env.tmp, f"haproxy-h2-{e}.cfg")
    conf = f"""global
    maxconn 4096
    ssl-default-bind-options ssl-min-ver TLSv1.3
defaults
    mode http
    timeout connect 5s
    timeout client 1m
    timeout server 1m
    timeout http-keep-alive 1m
frontend web
    bind {LOOP}:{e} ssl crt {tls[2]} alpn h2,http/1.1
    default_backend app
backend app
    http-reuse always
    server s1 {LOOP}:{tg["http"]}
"""
    with open(cfg, "w") as fh:
        fh.write(conf)
    argv = ["haproxy", "-db", "-f", cfg]
    env.note("haproxy h2", argv, conf)
    p = start(procs, argv, env.log("haproxy h2"))
    up(e, p)
    return e, [("haproxy", p.pid)]


def h2_hub(env, procs, tg, tls, xtype=0):
    path = "postern hub h2" + (f" type={xtype}" if xtype else "")
    ctl, web = free_port(), free_port()
    token = os.urandom(16).hex()
    certs = os.path.join(env.tmp, "hub-certs")
    os.makedirs(certs, exist_ok=True)
    shutil.copy(tls[0], os.path.join(certs, "app.crt"))
    shutil.copy(tls[1], os.path.join(certs, "app.key"))
    accounts = os.path.join(env.tmp, "accounts-h2.json")
    with open(accounts, "w") as fh:
        fh.write('{"accounts": [{"name": "bench", "token": "%s"}]}\n' % token)
    h = postern(env, procs, path, f"hub://{LOOP}:{ctl}?accounts={accounts}&https={LOOP}:{web}"
                                  f"&certs={certs}&log=warn" + (f"&type={xtype}" if xtype else ""))
    up(ctl, h)
    a = postern(env, procs, path, f"agent://{token}@{LOOP}:{ctl}?http={LOOP}:{tg['http']},host={HOST}&log=warn")
    time.sleep(compare.WARM)    # registered, and the agent's pool filled
    up(web, h, a)
    return web, [("hub", h.pid), ("agent", a.pid)]


H2_PATHS = [("nginx h2", h2_nginx, "nginx"), ("haproxy h2", h2_haproxy, "haproxy"),
            ("postern hub h2", h2_hub, None),
            ("postern hub h2 type=3", lambda *a: h2_hub(*a, xtype=3), None)]
H2_HUBS = [n for n, *_ in H2_PATHS if n.startswith("postern")]


def h2load(port, url, seconds, log_dir):
    """h2load -c1 -m100 for <seconds> (1 s warm-up): (req/s, mean request ms, failed, p99 ms)
    or None. The p99 comes from h2load's --log-file (a line per request: start, status,
    duration in microseconds)."""
    log = os.path.join(log_dir, f"h2load-{port}-{url.strip('/')}.log")
    r = subprocess.run(["h2load", "-c", "1", "-m", "100", "-D", str(seconds), "--warm-up-time=1",
                        f"--log-file={log}", f"--connect-to={LOOP}:{port}",
                        f"https://{HOST}:{port}{url}"],
                       capture_output=True, text=True, timeout=seconds + 60)
    out = r.stdout
    durs = []
    with open(log) as f:
        for line in f:
            cols = line.split()
            if len(cols) >= 3 and cols[1].isdigit():
                durs.append(int(cols[2]))
    durs.sort()
    p99 = durs[min(len(durs) - 1, int(len(durs) * 0.99))] / 1000 if durs else float("nan")
    rps = re.search(r"finished in [^,]+, ([0-9.]+) req/s", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    fail = re.search(r"requests: .* (\d+) failed", out)
    if not (rps and mean and "Application protocol: h2" in out):
        return None
    m = mean.group(1)
    ms = float(m[:-2]) if m.endswith("ms") else float(m[:-2]) / 1000 if m.endswith("us") else float(m[:-1]) * 1000
    return float(rps.group(1)), ms, int(fail.group(1)) if fail else 0, p99


def h2_median(runs):
    """The median of each figure over the runs that gave one (None when none did)."""
    runs = [r for r in runs if r is not None]
    if not runs:
        return None
    return tuple(statistics.median(r[i] for r in runs) for i in range(4))


def h2_main(a, env, tg):
    """Each path's figures, the median of --h2-runs rounds (every path once per round, so
    a change of the machine's load falls on all of them alike)."""
    tls = h2_cert(env)
    runs = {}
    sizes = [s for s in SIZES if s[0] in a.h2_sizes.split(",")]
    for rnd in range(a.h2_runs):
        for name, setup, binary in H2_PATHS:
            if binary and not shutil.which(binary):
                continue
            procs = Procs()
            try:
                port, _ = setup(env, procs, tg, tls)
                for size, _ in sizes:
                    r = h2load(port, f"/{size}", a.seconds, env.tmp)
                    runs.setdefault((name, size), []).append(r)
                    print(f"  round {rnd + 1} {name} /{size}: {r} (load {os.getloadavg()[0]:.2f})",
                          file=sys.stderr, flush=True)
            finally:
                procs.stop_all()
    res = {k: h2_median(v) for k, v in runs.items()}
    for size, _ in sizes:   # the hubs' ratios within each round: a peer's swing shows here
        for name in H2_HUBS:
            per = []
            for i in range(a.h2_runs):
                hub = (runs.get((name, size)) or [None] * a.h2_runs)[i]
                peers = [runs[(n, size)][i] for n in ("nginx h2", "haproxy h2")
                         if runs.get((n, size)) and runs[(n, size)][i]]
                if hub and peers:
                    per.append(hub[0] / max(p[0] for p in peers))
            if per:
                print(f"  /{size}: {name} req/s vs best peer, round by round: "
                      + ", ".join(f"{r:.2f}x" for r in per)
                      + f" (median {statistics.median(per):.2f}x)", file=sys.stderr, flush=True)
    rows = ["| path | size | req/s | mean request ms | p99 ms | failed | hub req/s vs best peer "
            "| hub p99 vs best peer |",
            "|---|---|---|---|---|---|---|---|"]
    for size, _ in sizes:
        peers = [res.get((n, size)) for n in ("nginx h2", "haproxy h2") if res.get((n, size))]
        best_rps = max((p[0] for p in peers), default=None)
        best_p99 = min((p[3] for p in peers), default=None)
        for name, *_ in H2_PATHS:
            r = res.get((name, size))
            if r is None:
                rows.append(f"| {name} | {size} | failed | | | | | |")
                continue
            ratio = ratio_p99 = ""
            if name.startswith("postern") and best_rps:
                ratio, ratio_p99 = f"{r[0] / best_rps:.2f}x", f"{r[3] / best_p99:.2f}x"
            rows.append(f"| {name} | {size} | {r[0]:.0f} | {r[1]:.2f} | {r[3]:.2f} | {r[2]} | {ratio} "
                        f"| {ratio_p99} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------
# measurements


def check(port, url, size, timeout=10):
    """Wait (bounded) until GET <url> with Host: app.test answers 200 with <size> bytes, so
    that wrk measures the file and not an error page."""
    end, last = time.time() + timeout, "no answer"
    while time.time() < end:
        c = http.client.HTTPConnection(LOOP, port, timeout=5)
        try:
            c.request("GET", url, headers={"Host": HOST})
            r = c.getresponse()
            n = len(r.read())
            if r.status == 200 and n == size:
                return
            last = f"status {r.status}, {n} bytes"
        except OSError as e:
            last = f"{type(e).__name__}: {e}"
        finally:
            c.close()
        time.sleep(0.2)
    raise RuntimeError(f"GET {url}: {last} (wanted 200 with {size} bytes)")


def wrk_host(port, url, seconds):
    """wrk keep-alive with the Host header: (req/s, p50 ms, p99 ms, errors or "")."""
    out = subprocess.run(["wrk", "-t2", f"-c{CONNS}", f"-d{seconds}s", "--latency", "-H", f"Host: {HOST}",
                          f"http://{LOOP}:{port}{url}"], capture_output=True, text=True, timeout=seconds + 30)
    ms = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
    dist = {int(q): float(v) * ms[u]
            for q, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", out.stdout, re.M)}
    got = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if not got or 50 not in dist or 99 not in dist:
        raise RuntimeError(f"wrk: no figures ({(out.stdout + out.stderr).strip()[-200:]})")
    errs = "; ".join(m.strip() for m in re.findall(r"^\s*(Socket errors:.*|Non-2xx.*)$", out.stdout, re.M))
    return float(got.group(1)), dist[50], dist[99], errs


COLS = [  # key, header, higher is better, format
    ("1k_rps", "1 KiB req/s", True, "{:.0f}"),
    ("1k_p50", "p50 ms", False, "{:.3f}"),
    ("1k_p99", "p99 ms", False, "{:.3f}"),
    ("64k_rps", "64 KiB req/s", True, "{:.0f}"),
    ("64k_p50", "p50 ms", False, "{:.3f}"),
    ("64k_p99", "p99 ms", False, "{:.3f}"),
    ("tp1", "1 stream Gbit/s", True, "{:.2f}"),
    ("tp8", "8 streams Gbit/s", True, "{:.2f}"),
    ("rss", "idle RSS KiB", False, "{:.0f}"),
    ("pss", "idle PSS KiB", False, "{:.0f}"),
]


def measure(run, path, setup, targets):
    """Start <path>, run its figures, take its memory idle after them, stop it."""
    a, env, res, mem = run.a, run.env, {}, {}
    procs, roots = Procs(), []
    t0 = time.time()
    try:
        entries, parts = setup(env, procs, targets)
        roots = [pid for _, pid in parts]
        time.sleep(0.3)
        mem["start"] = [(label, memory([pid])) for label, pid in parts]
        for name, size in SIZES if "http" in entries else ():
            def w(name=name, size=size):
                check(entries["http"], f"/{name}", size)
                rps, res[f"{name}_p50"], res[f"{name}_p99"], errs = wrk_host(entries["http"], f"/{name}", a.seconds)
                if errs:
                    run.notes.append((path, f"wrk /{name}: {errs}"))
                return rps
            run.fig(path, res, f"{name}_rps", w)
            for q in ("p50", "p99"):
                res.setdefault(f"{name}_{q}", res[f"{name}_rps"])
        if "tcp" in entries:
            for key, streams in (("tp1", 1), ("tp8", 8)):
                run.fig(path, res, key, lambda n=streams: throughput(entries["tcp"], n, a.runs, a.seconds))
        if parts:
            time.sleep(a.idle)      # the runs' connections close; what stays is the relay's idle state
            mem["after"] = [(label, memory([pid])) for label, pid in parts]
            res["rss"] = sum(m[0] for _, m in mem["after"])
            res["pss"] = sum(m[1] for _, m in mem["after"])
            run.mem[path] = mem
    except Exception as e:      # noqa: BLE001  a path failing is a result, not a crash
        run.notes.append((path, f"setup: {type(e).__name__}: {e}"))
        print(f"  {path}: setup: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        stop(procs, roots)
    res["secs"] = time.time() - t0
    return res


# ---------------------------------------------------------------------------------------
# report


def table(results, names):
    """The figures, then under each postern row its ratios: ÷ direct, ÷ the best peer (nginx
    or haproxy, per figure) and ÷ every postern row above it."""
    def num(v):
        return isinstance(v, (int, float))

    def ratio_line(label, r, ref):
        cells = []
        for k, _, hi, _ in COLS:
            d, who = ref(k, hi)
            cells.append(f"{r[k] / d:.2f}×{who}" if num(r.get(k)) and num(d) and d else "—")
        return f"| ↳ ÷ {label} | " + " | ".join(cells) + " |" if any(c != "—" for c in cells) else None

    def best_peer(k, hi):
        cand = [(results[q][k], q) for q in names
                if q != "direct" and "postern" not in q and num(results[q].get(k))]
        if not cand:
            return None, ""
        v, q = (max if hi else min)(cand)
        return v, f" ({q})"

    lines = ["| path | " + " | ".join(c[1] for c in COLS) + " |", "|---" * (len(COLS) + 1) + "|"]
    above = []
    for p in names:
        r = results[p]
        lines.append(f"| {p} | " + " | ".join(fmt(r.get(k), f) for k, _, _, f in COLS) + " |")
        if "postern" not in p:
            continue
        refs = [("direct", lambda k, hi: (results.get("direct", {}).get(k), "")), ("best peer", best_peer)]
        refs += [(q, lambda k, hi, q=q: (results[q].get(k), "")) for q in above]
        lines += [x for x in (ratio_line(lab, r, ref) for lab, ref in refs) if x]
        above.append(p)
    return "\n".join(lines)


def mem_table(run, names):
    lines = ["| path | process | RSS KiB at start | PSS KiB at start | RSS KiB idle after the runs "
             "| PSS KiB idle after the runs | procs | threads |", "|---" * 8 + "|"]
    for p in names:
        m = run.mem.get(p)
        for (label, s), (_, x) in zip(m["start"], m["after"]) if m else ():
            lines.append(f"| {p} | {label} | {s[0]} | {s[1]} | {x[0]} | {x[1]} | {x[2]} | {x[3]} |")
    return "\n".join(lines)


def settings(a):
    return (f"wrk -t2 -c{CONNS} -d{a.seconds}s --latency -H 'Host: {HOST}' against nginx (1 worker) serving "
            f"/1k (1024 bytes) and /64k (65536 bytes); iperf3 -t {a.seconds} -O 1 (client to server), "
            f"median of {a.runs}; memory: VmRSS and PSS summed over the relay's processes, "
            f"{a.idle:g} s after the last run; nginx proxy: worker_processes auto, upstream keepalive 64; "
            f"haproxy: its default threads; postern hub and reverse tunnel: data connections tls=0")


def header(env, elapsed, date):
    pv = version([env.postern, "--version"])
    vers = "; ".join(f"{n} {(re.search(r'[0-9]+[.][0-9][^ ]*', v) or [v])[0]}"
                     for n, v in ((n, version(argv)) for n, argv in TOOLS))
    return (f"Run of {date}: `{shlex.join(['python3'] + sys.argv)}` ({elapsed / 60:.1f} min) on "
            f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}, kernel {platform.release()}. "
            f"Versions: {pv} ({env.postern}); {vers}.")


def write_report(a, env, run, body, date, names):
    os.makedirs(a.out, exist_ok=True)
    f = os.path.join(a.out, f"hub-{date}{'-quick' if a.quick else ''}.md")
    with open(f, "w") as fh:
        fh.write(f"# postern's hub against Host-routing proxies ({date})\n\n{body}\n\n## Command lines\n\n")
        for p in names:
            for c in env.cmdlines.get(p, []):
                fh.write(f"{p}:\n\n" + "\n".join("    " + line for line in c.splitlines()) + "\n\n")
    print(f"\nwrote {f}", file=sys.stderr)
    if not a.docs:
        return
    path = os.path.normpath(os.path.join(HERE, "..", "docs", "benchmarks.md"))
    with open(path) as fh:
        doc = fh.read()
    head, sep, rest = doc.partition(DOCS_BEGIN)
    _, sep2, tail = rest.partition(DOCS_END)
    if not (sep and sep2):
        print(f"hub_bench: {path} has no hub_bench.py markers; not written", file=sys.stderr)
        return
    with open(path, "w") as fh:
        fh.write(f"{head}{DOCS_BEGIN}\n{body}\n{DOCS_END}{tail}")
    print(f"wrote the tables into {path}", file=sys.stderr)


def write_h2_docs(body):
    path = os.path.normpath(os.path.join(HERE, "..", "docs", "benchmarks.md"))
    with open(path) as fh:
        doc = fh.read()
    head, sep, rest = doc.partition(H2_DOCS_BEGIN)
    _, sep2, tail = rest.partition(H2_DOCS_END)
    if not (sep and sep2):
        print(f"hub_bench: {path} has no --h2 markers; not written", file=sys.stderr)
        return
    with open(path, "w") as fh:
        fh.write(f"{head}{H2_DOCS_BEGIN}\n{body}\n{H2_DOCS_END}{tail}")
    print(f"wrote the --h2 table into {path}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--quick", action="store_true", help="1 iperf3 run, 2 s per wrk and iperf3 run")
    ap.add_argument("--budget", type=float, default=6,
                    help="minutes; figures not started by then are skipped (default 6)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--docs", action="store_true",
                    help="also put the tables, with the machine, versions and date, into "
                         "docs/benchmarks.md (between its hub_bench.py markers)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    ap.add_argument("--h2", action="store_true",
                    help="HTTPS + HTTP/2 from users (h2load) against nginx and haproxy terminating TLS")
    ap.add_argument("--h2-runs", type=int, default=1,
                    help="--h2: rounds (each path once per round); the table has the medians")
    ap.add_argument("--h2-sizes", default="1k,64k", help="--h2: the files, of 1k and 64k (default both)")
    a = ap.parse_args()
    a.runs, a.seconds, a.idle = (1, 2, 1.0) if a.quick else (3, 5, 2.0)
    postern_bin = os.path.abspath(a.postern)
    if not os.access(postern_bin, os.X_OK):
        sys.exit(f"hub_bench: {postern_bin} missing: build it first (see bench/README.md)")
    for tool in ("iperf3", "wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"hub_bench: {tool} missing: sh bench/deps.sh")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    compare.NOFILE = hard       # what the nginx configs ask for (worker_rlimit_nofile)

    tmp = tempfile.mkdtemp(prefix="postern-hub-bench-")
    os.chmod(tmp, 0o700)
    env = Env(postern_bin, tmp)
    run = Run(a, env)
    results, backends = {}, Procs()
    t_start = time.time()
    date = time.strftime("%Y-%m-%d")
    print(f"## postern's hub on loopback ({date}, {'quick' if a.quick else 'full'})\n", flush=True)
    try:
        www = os.path.join(tmp, "www")
        os.makedirs(www)
        for name, size in SIZES:
            with open(os.path.join(www, name), "wb") as fh:
                fh.write(b"x" * size)
        if a.h2:
            targets = {"http": start_backend("http", backends, tmp)}
            up_load = os.getloadavg()
            tab = h2_main(a, env, targets)
            body = (f"{header(env, time.time() - t_start, date)} Settings: h2load -c1 -m100 -D {a.seconds} "
                    f"(1 s warm-up) over TLS 1.3 with ALPN h2, {a.h2_sizes} from nginx (1 worker) over "
                    f"HTTP/1.1, median of {a.h2_runs} round(s); load average before: {up_load[0]:.1f}, "
                    f"after: {os.getloadavg()[0]:.1f}."
                    f"\n\n{tab}\n")
            print(body)
            if a.docs:
                write_h2_docs(body)
            return
        targets = {"http": start_backend("http", backends, tmp), "tcp": start_backend("iperf", backends, tmp)}
        for name, setup, binary in PATHS:
            if binary and not shutil.which(binary):
                results[name] = {k: f"not installed ({binary})" for k, *_ in COLS}
                continue
            print(f"  {name} ...", file=sys.stderr, flush=True)
            results[name] = r = measure(run, name, setup, targets)
            print(f"  {name}: " + ", ".join(f"{k}={fmt(r.get(k), f)}" for k, _, _, f in COLS if k in r)
                  + f" ({r['secs']:.0f} s)", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("hub_bench: interrupted", file=sys.stderr)
    finally:
        backends.stop_all()
        if a.h2:
            shutil.rmtree(tmp, ignore_errors=True) if not a.keep else None
            return
        names = [n for n, *_ in PATHS if n in results]
        elapsed = time.time() - t_start
        notes = "\n".join(f"- {p}: {n}" for p, n in run.notes)
        body = (f"{header(env, elapsed, date)} Settings: {settings(a)}.\n\n{table(results, names)}\n\n"
                f"Memory of each relay process:\n\n{mem_table(run, names)}\n"
                + (f"\nNotes from the run:\n\n{notes}\n" if notes else ""))
        print(body)
        write_report(a, env, run, body, date, names)
        if a.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
