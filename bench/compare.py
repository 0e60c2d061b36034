#!/usr/bin/env python3
"""postern against other TCP relays, on loopback, in one run on one machine.

Paths: direct (no relay), socat, haproxy (mode tcp), nginx stream (proxy_pass), ssh -L and
ssh -R through a private sshd, a stunnel pair (client stunnel -> server stunnel -> target),
v2ray dokodemo-door, and postern: single-end (plain, and terminating TLS behind a stunnel
client), reverse tunnel (tls=0 and tls=1), forward tunnel (tls=0).

Figures per path:
  1. throughput, 1 and 8 streams: iperf3 TCP, median of the runs (end.sum_received)
  2. new connections per second: connect, send 1 byte, read its echo, close; two driver
     processes, each keeping a few connections in flight (epoll), for a fixed time
  3. keep-alive HTTP: wrk -t2 -c50 --latency against nginx serving a tiny static page:
     requests/s, p50 and p99 latency
  4. memory: VmRSS of the relay processes (all of them, forked children included) idle and
     while holding 1000 (and 10000) idle connections; KiB per held connection
  5. CPU seconds (user + system, children included) of the relay processes per GiB relayed,
     over a fixed-size iperf3 transfer

Prints one markdown table, with each postern row's ratio to direct and to the best peer,
and writes it with the machine and the peers' versions to bench/results/compare-<date>.md.
Figures are never asserted. Every process is stopped by PID; every wait is bounded.

    python3 bench/compare.py [--quick] [--only socat,postern] [--postern build/postern]
"""
import argparse
import json
import multiprocessing
import os
import platform
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from udp_bench import LOOP, Procs, free_port, listening  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
POSTERN_ENV = {"POSTERN_REPORT_INTERVAL": "60s"}
NOFILE = 65536              # wanted open-file limit, inherited by everything started; main()
                            # lowers it to the hard limit when that cannot be raised
PAGE = "<html><body>postern bench</body></html>\n"
WARM = 1.0                  # seconds to let a tunnel client's pool fill after the port opens


# ---------------------------------------------------------------------------------------
# processes


def start(procs, argv, log, env=None, cwd=None):
    """Start <argv> under <procs> (stopped by PID at the end), its output to <log>."""
    e = dict(os.environ)
    e.update(env or {})
    with open(log, "ab") as fh:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh, env=e, cwd=cwd)
    p.log = log
    procs.procs.append(p)
    return p


def up(port, *ps, timeout=10):
    """Wait (bounded) until <port> listens; fail early, with its log, when one of <ps> ends."""
    end = time.time() + timeout
    while time.time() < end:
        if listening(port):
            return
        for p in ps:
            if p.poll() is not None:
                with open(p.log, errors="replace") as fh:
                    tail = " / ".join(fh.read().strip().splitlines()[-3:])
                raise RuntimeError(f"{os.path.basename(p.args[0])} exited ({p.returncode}): {tail}")
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def proc_table():
    """{pid: (ppid, utime+stime+cutime+cstime in ticks)} for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                rest = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    return out


def tree(roots, table=None):
    """The PIDs of <roots> and all their live descendants."""
    table = table or proc_table()
    kids = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    seen, stack = [], [r for r in roots if r in table]
    while stack:
        p = stack.pop()
        seen.append(p)
        stack.extend(kids.get(p, []))
    return seen


def cpu_ticks(roots):
    """CPU time of the relay processes: each live process's own time plus its reaped
    children's (a forked child that ended counts in its parent's cutime/cstime)."""
    table = proc_table()
    return sum(table[p][1] for p in tree(roots, table))


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(roots):
    """(summed VmRSS KiB, summed PSS KiB, process count, thread count) of the relay tree."""
    pids = tree(roots)
    return (sum(status_kib(p, "VmRSS") for p in pids), sum(pss_kib(p) for p in pids), len(pids),
            sum(status_kib(p, "Threads") for p in pids))


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop(procs, roots):
    """Stop the relays and backends by PID, then whatever the relays forked (by PID)."""
    left = [p for p in tree(roots) if p not in roots]
    procs.stop_all()
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    end = time.time() + 5
    while left and time.time() < end:
        left = [p for p in left if alive(p)]
        time.sleep(0.05)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------
# backends


ECHO = r"""
import select, socket, sys
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
ls.bind(("127.0.0.1", int(sys.argv[1])))
ls.listen(4096)
ls.setblocking(False)
ep = select.epoll()
ep.register(ls.fileno(), select.EPOLLIN)
conns = {}
while True:
    for fd, ev in ep.poll():
        if fd == ls.fileno():
            for _ in range(64):
                try:
                    c, _ = ls.accept()
                except OSError:
                    break
                c.setblocking(False)
                conns[c.fileno()] = c
                ep.register(c.fileno(), select.EPOLLIN)
            continue
        c = conns.get(fd)
        if c is None:
            continue
        try:
            d = c.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            d = b""
        if d:
            try:
                c.send(d)
            except OSError:
                pass
        else:
            ep.unregister(fd)
            del conns[fd]
            c.close()
"""


def start_backend(kind, procs, tmp):
    """Start the target of the relays: iperf3, an echo server or nginx over HTTP."""
    port = free_port()
    n0 = len(procs.procs)
    log = os.path.join(tmp, f"backend-{kind}.log")
    if kind == "iperf":
        start(procs, ["iperf3", "-s", "-p", str(port), "--bind", LOOP], log)
    elif kind == "echo":
        for _ in range(2):      # two processes (SO_REUSEPORT), so the echo is not the limit
            start(procs, [sys.executable, "-c", ECHO, str(port)], log)
    elif kind == "http":
        www = os.path.join(tmp, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "index.html"), "w") as fh:
            fh.write(PAGE)
        d = os.path.join(tmp, f"http-{port}")
        os.makedirs(d)
        cfg = os.path.join(d, "nginx.conf")
        temps = "".join(f"    {t}_temp_path {d}/{t};\n" for t in ("client_body", "proxy", "fastcgi",
                                                                   "uwsgi", "scgi"))
        with open(cfg, "w") as fh:
            fh.write(f"""daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {NOFILE};
user root;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temps}    keepalive_requests 1000000;
    server {{
        listen {LOOP}:{port};
        root {www};
        location / {{ }}
    }}
}}
""")
        start(procs, ["nginx", "-p", d, "-c", cfg, "-e", f"{d}/error.log"], log)
    up(port, *procs.procs[n0:])
    return port


# ---------------------------------------------------------------------------------------
# paths: each starts its relays in front of <target> and returns (entry port, relay PIDs)


class Env:
    """What the paths share: the postern binary, a temp dir, the ssh keys."""

    def __init__(self, postern, tmp):
        self.postern = postern
        self.tmp = tmp
        self.cmdlines = {}      # path -> the command lines it ran (for the report)
        self._keys = None
        self._cert = None
        self.recording = True   # command lines are kept from a path's first setup only

    def log(self, name):
        return os.path.join(self.tmp, re.sub(r"[^A-Za-z0-9]+", "-", name) + ".log")

    def note(self, path, argv, conf=None):
        if not self.recording:
            return
        s = " ".join(argv)
        if conf:
            s += "\n" + conf
        self.cmdlines.setdefault(path, [])
        if s not in self.cmdlines[path]:
            self.cmdlines[path].append(s)

    def cert(self):
        if not self._cert:
            crt, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                            "-keyout", key, "-out", crt], check=True, capture_output=True, timeout=30)
            self._cert = crt, key
        return self._cert

    def keys(self):
        if not self._keys:
            host, user = os.path.join(self.tmp, "ssh_host_key"), os.path.join(self.tmp, "ssh_user_key")
            for k in (host, user):
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k], check=True,
                               capture_output=True, timeout=30)
            shutil.copy(user + ".pub", os.path.join(self.tmp, "authorized_keys"))
            self._keys = host, user
        return self._keys


def p_direct(env, procs, target):
    return target, []


def p_socat(env, procs, target):
    e = free_port()
    argv = ["socat", f"TCP-LISTEN:{e},bind={LOOP},reuseaddr,fork,backlog=4096", f"TCP:{LOOP}:{target}"]
    env.note("socat", argv)
    p = start(procs, argv, env.log("socat"))
    up(e, p)
    return e, [p.pid]


def p_haproxy(env, procs, target):
    e = free_port()
    cfg = os.path.join(env.tmp, f"haproxy-{e}.cfg")
    conf = f"""global
    maxconn {(NOFILE - 100) // 2}
defaults
    mode tcp
    maxconn {(NOFILE - 100) // 2}
    timeout connect 5s
    timeout client 10m
    timeout server 10m
listen relay
    bind {LOOP}:{e}
    server target {LOOP}:{target}
"""
    with open(cfg, "w") as fh:
        fh.write(conf)
    argv = ["haproxy", "-db", "-f", cfg]
    env.note("haproxy", argv, conf)
    p = start(procs, argv, env.log("haproxy"))
    up(e, p)
    return e, [p.pid]


def p_nginx(env, procs, target):
    e = free_port()
    d = os.path.join(env.tmp, f"nginx-stream-{e}")
    os.makedirs(d)
    cfg = os.path.join(d, "nginx.conf")
    conf = f"""load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes auto;
worker_rlimit_nofile {NOFILE};
user root;
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections {NOFILE - 100}; }}
stream {{
    server {{
        listen {LOOP}:{e} backlog=4096;
        proxy_pass {LOOP}:{target};
    }}
}}
"""
    with open(cfg, "w") as fh:
        fh.write(conf)
    argv = ["nginx", "-p", d, "-c", cfg, "-e", f"{d}/error.log"]
    env.note("nginx stream", argv, conf)
    p = start(procs, argv, env.log("nginx stream"))
    up(e, p)
    return e, [p.pid]


def sshd(env, procs, path):
    host, user = env.keys()
    port = free_port()
    cfg = os.path.join(env.tmp, f"sshd-{port}.conf")
    conf = f"""Port {port}
ListenAddress {LOOP}
HostKey {host}
PidFile none
AuthorizedKeysFile {env.tmp}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
AllowTcpForwarding yes
X11Forwarding no
AllowAgentForwarding no
PrintMotd no
LogLevel ERROR
"""
    with open(cfg, "w") as fh:
        fh.write(conf)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)     # sshd's privilege separation dir
    argv = ["/usr/sbin/sshd", "-D", "-f", cfg, "-e"]
    env.note(path, argv, conf)
    p = start(procs, argv, env.log(path))
    up(port, p)
    return port, p, user


def ssh_argv(port, key, fwd):
    import getpass
    return ["ssh", "-N", "-T", "-F", "/dev/null", "-p", str(port), "-i", key,
            "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR"] + fwd + [f"{getpass.getuser()}@{LOOP}"]


def p_ssh_l(env, procs, target):
    port, d, key = sshd(env, procs, "ssh -L")
    e = free_port()
    argv = ssh_argv(port, key, ["-L", f"{LOOP}:{e}:{LOOP}:{target}"])
    env.note("ssh -L", argv)
    p = start(procs, argv, env.log("ssh -L"))
    up(e, p, d)
    return e, [p.pid, d.pid]


def p_ssh_r(env, procs, target):
    port, d, key = sshd(env, procs, "ssh -R")
    e = free_port()
    argv = ssh_argv(port, key, ["-R", f"{LOOP}:{e}:{LOOP}:{target}"])
    env.note("ssh -R", argv)
    p = start(procs, argv, env.log("ssh -R"))
    up(e, p, d)
    return e, [p.pid, d.pid]


def stunnel(env, procs, path, name, accept, connect, client):
    cfg = os.path.join(env.tmp, f"stunnel-{accept}.conf")
    conf = f"""foreground = yes
pid =
debug = err
[{name}]
accept = {LOOP}:{accept}
connect = {LOOP}:{connect}
"""
    if client:
        conf += "client = yes\n"
    else:
        crt, key = env.cert()
        conf += f"cert = {crt}\nkey = {key}\n"
    with open(cfg, "w") as fh:
        fh.write(conf)
    argv = ["stunnel", cfg]
    env.note(path, argv, conf)
    p = start(procs, argv, env.log(path))
    up(accept, p)
    return p


def p_stunnel(env, procs, target):
    e, mid = free_port(), free_port()
    s = stunnel(env, procs, "stunnel pair", "server", mid, target, False)
    c = stunnel(env, procs, "stunnel pair", "client", e, mid, True)
    return e, [c.pid, s.pid]


def p_v2ray(env, procs, target):
    e = free_port()
    cfg = os.path.join(env.tmp, f"v2ray-{e}.json")
    conf = json.dumps({
        "log": {"loglevel": "none"},
        "inbounds": [{"listen": LOOP, "port": e, "protocol": "dokodemo-door",
                      "settings": {"address": LOOP, "port": target, "network": "tcp"}}],
        "outbounds": [{"protocol": "freedom"}]}, indent=1)
    with open(cfg, "w") as fh:
        fh.write(conf)
    argv = ["v2ray", "-config", cfg]
    env.note("v2ray dokodemo", argv, conf)
    p = start(procs, argv, env.log("v2ray dokodemo"))
    up(e, p)
    return e, [p.pid]


def v2ray_start(env, procs, path, name, conf):
    cfg = os.path.join(env.tmp, f"v2ray-{name}.json")
    text = json.dumps(conf, indent=1)
    with open(cfg, "w") as fh:
        fh.write(text)
    argv = ["v2ray", "-config", cfg]
    env.note(path, argv, text)
    return start(procs, argv, env.log(f"{path} {name}"))


def p_v2ray_reverse(env, procs, target):
    """V2Ray's reverse proxy: a portal on the public side (users' dokodemo-door entry and
    the bridge's VMess tunnel, security none), a bridge next to the target that dials
    out to the portal and on to the target (freedom with redirect)."""
    path = "v2ray reverse"
    e, tun = free_port(), free_port()
    uid = str(uuid.uuid4())
    domain = "reverse.bench.invalid"
    portal = {
        "log": {"loglevel": "none"},
        "reverse": {"portals": [{"tag": "portal", "domain": domain}]},
        "inbounds": [
            {"tag": "external", "listen": LOOP, "port": e, "protocol": "dokodemo-door",
             "settings": {"address": LOOP, "port": target, "network": "tcp"}},
            {"tag": "tunnel", "listen": LOOP, "port": tun, "protocol": "vmess",
             "settings": {"clients": [{"id": uid, "alterId": 0}]}}],
        "routing": {"rules": [
            {"type": "field", "inboundTag": ["external"], "outboundTag": "portal"},
            {"type": "field", "inboundTag": ["tunnel"], "domain": [f"full:{domain}"],
             "outboundTag": "portal"}]},
        "outbounds": [{"protocol": "blackhole", "tag": "block"}]}
    bridge = {
        "log": {"loglevel": "none"},
        "reverse": {"bridges": [{"tag": "bridge", "domain": domain}]},
        "outbounds": [
            {"tag": "tunnel", "protocol": "vmess", "settings": {"vnext": [
                {"address": LOOP, "port": tun,
                 "users": [{"id": uid, "alterId": 0, "security": "none"}]}]}},
            {"tag": "direct", "protocol": "freedom",
             "settings": {"redirect": f"{LOOP}:{target}"}}],
        "routing": {"rules": [
            {"type": "field", "inboundTag": ["bridge"], "domain": [f"full:{domain}"],
             "outboundTag": "tunnel"},
            {"type": "field", "inboundTag": ["bridge"], "outboundTag": "direct"}]}}
    pp = v2ray_start(env, procs, path, "portal", portal)
    up(tun, pp)
    bp = v2ray_start(env, procs, path, "bridge", bridge)
    up(e, pp, bp)
    time.sleep(WARM)            # let the bridge connect to the portal
    return e, [pp.pid, bp.pid]


def postern(env, procs, path, url, extra_env=None):
    argv = [env.postern, url]
    e = dict(POSTERN_ENV, **(extra_env or {}))
    env.note(path, [f"{k}={v}" for k, v in e.items()] + ["postern", url])
    return start(procs, argv, env.log(path), e)


def p_postern_single(env, procs, target):
    e = free_port()
    p = postern(env, procs, "postern single-end", f"client://{LOOP}:{e}/{LOOP}:{target}?mode=1&log=warn")
    up(e, p)
    return e, [p.pid]


def p_postern_single_x2(env, procs, target):
    """Two single-end processes on one port (SO_REUSEPORT): what a second worker on its
    own loop would add on this machine."""
    path, e = "postern single-end x2 (SO_REUSEPORT)", free_port()
    url = f"client://{LOOP}:{e}/{LOOP}:{target}?mode=1&noudp=1&log=warn"
    ps = [postern(env, procs, path, url, {"POSTERN_REUSEPORT": "1"}) for _ in range(2)]
    up(e, *ps)
    return e, [p.pid for p in ps]


def p_postern_single_tls(env, procs, target):
    path = "stunnel client -> postern single-end tls=1"
    e, mid = free_port(), free_port()
    p = postern(env, procs, path, f"client://{LOOP}:{mid}/{LOOP}:{target}?mode=1&tls=1&log=warn")
    up(mid, p)
    c = stunnel(env, procs, path, "client", e, mid, True)
    return e, [c.pid, p.pid]


def tunnel(env, procs, path, server_url, client_url, entry):
    s = postern(env, procs, path, server_url)
    tun = int(server_url.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    up(tun, s)
    c = postern(env, procs, path, client_url)
    up(entry, s, c)
    time.sleep(WARM)            # let the client's pool fill
    return entry, [s.pid, c.pid]


def p_reverse(tls):
    def f(env, procs, target):
        tun, e = free_port(), free_port()
        return tunnel(env, procs, f"postern reverse tls={tls}",
                      f"server://bench@{LOOP}:{tun}/{LOOP}:{e}?tls={tls}&log=warn",
                      f"client://bench@{LOOP}:{tun}/{LOOP}:{target}?min=64&mode=2&log=warn", e)
    return f


def p_forward(env, procs, target):
    tun, e = free_port(), free_port()
    return tunnel(env, procs, "postern forward tls=0",
                  f"server://bench@{LOOP}:{tun}/{LOOP}:{target}?mode=2&log=warn",
                  f"client://bench@{LOOP}:{tun}/{LOOP}:{e}?min=64&mode=2&log=warn", e)


PATHS = [
    ("direct", p_direct, None),
    ("socat", p_socat, "socat"),
    ("haproxy", p_haproxy, "haproxy"),
    ("nginx stream", p_nginx, "nginx"),
    ("ssh -L", p_ssh_l, "sshd"),
    ("ssh -R", p_ssh_r, "sshd"),
    ("stunnel pair", p_stunnel, "stunnel"),
    ("v2ray dokodemo", p_v2ray, "v2ray"),
    ("v2ray reverse", p_v2ray_reverse, "v2ray"),
    ("postern single-end", p_postern_single, None),
    ("postern single-end x2 (SO_REUSEPORT)", p_postern_single_x2, None),
    ("stunnel client -> postern single-end tls=1", p_postern_single_tls, "stunnel"),
    ("postern reverse tls=0", p_reverse(0), None),
    ("postern reverse tls=1", p_reverse(1), None),
    ("postern forward tls=0", p_forward, None),
]


# ---------------------------------------------------------------------------------------
# measurements


def iperf(port, extra, timeout):
    # A relay still closing the previous test's connections (a loaded machine) leaves
    # the iperf3 server busy for a moment: wait for it, a bounded number of times.
    for _ in range(10):
        out = subprocess.run(["iperf3", "-c", LOOP, "-p", str(port), "--json"] + extra,
                             capture_output=True, text=True, timeout=timeout)
        r = json.loads(out.stdout)
        if "busy" not in r.get("error", ""):
            break
        time.sleep(1)
    if "error" in r:
        raise RuntimeError("iperf3: " + r["error"])
    return r["end"]["sum_received"]


def throughput(port, streams, runs, seconds):
    v = [iperf(port, ["-t", str(seconds), "-O", "1", "-P", str(streams)], seconds + 40)["bits_per_second"] / 1e9
         for _ in range(runs)]
    return statistics.median(v)


def cpu_per_gib(port, roots, size):
    time.sleep(0.3)
    before = cpu_ticks(roots)
    got = iperf(port, ["-n", size], 120)
    time.sleep(0.5)             # forked relays end and are reaped
    after = cpu_ticks(roots)
    return (after - before) / CLK_TCK / (got["bytes"] / 2 ** 30)


def _connrate_worker(port, seconds, conc, start_at, q):
    addr = (LOOP, port)
    ep = select.epoll()
    socks = {}
    done = errs = 0

    def new():
        nonlocal errs
        s = socket.socket()
        s.setblocking(False)
        r = s.connect_ex(addr)
        if r not in (0, 115):           # EINPROGRESS
            errs += 1
            s.close()
            time.sleep(0.001)
            return False
        socks[s.fileno()] = [s, 0]
        ep.register(s.fileno(), select.EPOLLOUT)
        return True

    while time.time() < start_at:
        time.sleep(0.005)
    end = start_at + seconds
    for _ in range(conc):
        new()
    while time.time() < end:
        while len(socks) < conc and time.time() < end:
            new()
        for fd, ev in ep.poll(0.05):
            st = socks.get(fd)
            if st is None:
                continue
            s = st[0]
            ok = False
            if st[1] == 0:
                if not ev & (select.EPOLLERR | select.EPOLLHUP) and \
                        s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    try:
                        s.send(b"x")
                        st[1] = 1
                        ep.modify(fd, select.EPOLLIN)
                        continue
                    except OSError:
                        pass
            else:
                try:
                    ok = s.recv(1) == b"x"
                except OSError:
                    pass
            ep.unregister(fd)
            del socks[fd]
            s.close()
            if ok:
                done += 1
            else:
                errs += 1
    for s, _ in socks.values():
        s.close()
    q.put((done, errs))


def connrate(port, seconds, workers=2, conc=8):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    start_at = time.time() + 0.3
    ps = [ctx.Process(target=_connrate_worker, args=(port, seconds, conc, start_at, q)) for _ in range(workers)]
    for p in ps:
        p.start()
    res = []
    try:
        for _ in ps:
            res.append(q.get(timeout=seconds + 20))
    finally:
        for p in ps:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
    done = sum(r[0] for r in res)
    errs = sum(r[1] for r in res)
    return done / seconds, errs


def hold(port, n, timeout):
    """Open <n> connections, each sending one byte and reading its echo, and keep them.
    Returns (the open sockets that got their echo, failures)."""
    ep = select.epoll()
    pending = {}
    held, fails, started = [], 0, 0
    end = time.time() + timeout
    inflight = 200
    while len(held) + fails < n and time.time() < end:
        while started < n and len(pending) < inflight:
            s = socket.socket()
            s.setblocking(False)
            if s.connect_ex((LOOP, port)) not in (0, 115):
                s.close()
                fails += 1
                started += 1
                continue
            pending[s.fileno()] = [s, 0]
            ep.register(s.fileno(), select.EPOLLOUT)
            started += 1
        for fd, ev in ep.poll(0.1):
            st = pending[fd]
            s = st[0]
            if st[1] == 0 and not ev & (select.EPOLLERR | select.EPOLLHUP) and \
                    s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                try:
                    s.send(b"x")
                    st[1] = 1
                    ep.modify(fd, select.EPOLLIN)
                    continue
                except OSError:
                    pass
            ok = False
            if st[1] == 1:
                try:
                    ok = s.recv(1) == b"x"
                except OSError:
                    pass
            ep.unregister(fd)
            del pending[fd]
            if ok:
                held.append(s)
            else:
                s.close()
                fails += 1
    for s, _ in pending.values():
        s.close()
    fails += len(pending)
    ep.close()
    return held, fails


def wrk(port, seconds):
    out = subprocess.run(["wrk", "-t2", "-c50", f"-d{seconds}s", "--latency", f"http://{LOOP}:{port}/"],
                         capture_output=True, text=True, timeout=seconds + 30)
    txt = out.stdout
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}

    def lat(p):
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s|m)\s*$", txt, re.M)
        return float(m.group(1)) * unit[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", txt).group(1))
    errs = re.search(r"Socket errors:.*|Non-2xx.*", txt)
    return rps, lat(50), lat(99), (errs.group(0).strip() if errs else "")


# ---------------------------------------------------------------------------------------
# driver


COLS = [  # key, header, higher is better, format
    ("tp1", "1 stream Gbit/s", True, "{:.2f}"),
    ("tp8", "8 streams Gbit/s", True, "{:.2f}"),
    ("cps", "conn/s", True, "{:.0f}"),
    ("rps", "HTTP req/s", True, "{:.0f}"),
    ("p50", "p50 ms", False, "{:.3f}"),
    ("p99", "p99 ms", False, "{:.3f}"),
    ("rss0", "idle RSS KiB", False, "{:.0f}"),
    ("kib1k", "KiB/conn @1000", False, "{:.1f}"),
    ("kib10k", "KiB/conn @10000", False, "{:.1f}"),
    ("cpu", "CPU s/GiB", False, "{:.2f}"),
]


class Run:
    def __init__(self, a, env):
        self.a = a
        self.env = env
        self.deadline = time.time() + a.budget * 60
        self.notes = []         # (path, what happened)
        self.mem = {}           # path -> details of the memory figures

    def late(self):
        return time.time() > self.deadline

    def fig(self, path, res, key, fn):
        """Run one figure, recording an error (and going on) instead of stopping."""
        if self.late():
            res[key] = "skipped"
            return
        try:
            res[key] = fn()
        except Exception as e:      # noqa: BLE001  a peer failing is a result, not a crash
            res[key] = "error"
            self.notes.append((path, f"{key}: {type(e).__name__}: {e}"))
            print(f"  {path}: {key}: {type(e).__name__}: {e}", file=sys.stderr)

    def with_path(self, path, setup, backend, body):
        procs = Procs()
        roots = []
        try:
            target = start_backend(backend, procs, self.env.tmp)
            self.env.recording = path not in self.env.cmdlines
            entry, roots = setup(self.env, procs, target)
            body(entry, roots)
        except Exception as e:      # noqa: BLE001
            self.notes.append((path, f"setup ({backend}): {type(e).__name__}: {e}"))
            print(f"  {path}: setup ({backend}): {type(e).__name__}: {e}", file=sys.stderr)
        finally:
            stop(procs, roots)

    def measure(self, path, setup):
        a = self.a
        res = {}
        t0 = time.time()

        def on_iperf(entry, roots):
            self.fig(path, res, "tp1", lambda: throughput(entry, 1, a.runs, a.seconds))
            self.fig(path, res, "tp8", lambda: throughput(entry, 8, a.runs, a.seconds))
            if roots:
                self.fig(path, res, "cpu", lambda: cpu_per_gib(entry, roots, a.size))

        def on_echo(entry, roots):
            mem = {}
            if roots:
                time.sleep(0.3)
                mem["idle"] = memory(roots)
                res["rss0"] = mem["idle"][0]
                for n, key in ((1000, "kib1k"), (10000, "kib10k")):
                    if n > a.hold_max:
                        res[key] = "not run"
                        continue

                    def held(n=n):
                        socks, fails = hold(entry, n, 20 + n / 100)
                        try:
                            time.sleep(1)
                            mem[n] = memory(roots) + (len(socks), fails)
                        finally:
                            for s in socks:
                                s.close()
                        if fails:
                            self.notes.append((path, f"{n} held: {len(socks)} got their echo, {fails} failed"))
                        if not socks:
                            raise RuntimeError("no connection held")
                        return (mem[n][0] - mem["idle"][0]) / len(socks)
                    self.fig(path, res, key, held)
                    time.sleep(1)   # let the closes propagate before the next figure
                self.mem[path] = mem

            def cps():
                r, errs = connrate(entry, a.conn_seconds)
                if errs:
                    self.notes.append((path, f"conn/s: {errs} connections failed"))
                return r
            self.fig(path, res, "cps", cps)

        def on_http(entry, roots):
            def w():
                rps, p50, p99, errs = wrk(entry, a.seconds)
                res["p50"], res["p99"] = p50, p99
                if errs:
                    self.notes.append((path, f"wrk: {errs}"))
                return rps
            self.fig(path, res, "rps", w)
            res.setdefault("p50", res["rps"])
            res.setdefault("p99", res["rps"])

        for backend, body in (("iperf", on_iperf), ("echo", on_echo), ("http", on_http)):
            if self.late():
                break
            self.with_path(path, setup, backend, body)
        res["secs"] = time.time() - t0
        return res


def fmt(v, f):
    return f.format(v) if isinstance(v, (int, float)) else (v or "—")


def table(results, paths):
    head = "| path | " + " | ".join(c[1] for c in COLS) + " |"
    lines = [head, "|---" * (len(COLS) + 1) + "|"]
    peers = [p for p in paths if p != "direct" and "postern" not in p]
    direct = results.get("direct", {})
    for p in paths:
        r = results[p]
        lines.append(f"| {p} | " + " | ".join(fmt(r.get(k), f) for k, _, _, f in COLS) + " |")
        if "postern" not in p:
            continue
        vs_d, vs_b = [], []
        for k, _, hi, f in COLS:
            v = r.get(k)
            d = direct.get(k)
            ok = isinstance(v, (int, float))
            vs_d.append(f"{v / d:.2f}×" if ok and isinstance(d, (int, float)) and d else "—")
            cand = [(results[q][k], q) for q in peers if isinstance(results[q].get(k), (int, float))]
            if ok and cand:
                bv, bq = (max if hi else min)(cand)
                vs_b.append(f"{v / bv:.2f}× ({bq})" if bv else "—")
            else:
                vs_b.append("—")
        lines.append("| ↳ ÷ direct | " + " | ".join(vs_d) + " |")
        lines.append("| ↳ ÷ best peer | " + " | ".join(vs_b) + " |")
    return "\n".join(lines)


def mem_table(run, paths):
    lines = ["| path | idle RSS KiB | idle PSS KiB | procs | threads | held (failed) @1000 | RSS KiB | PSS KiB "
             "| procs | threads | PSS KiB/conn | held (failed) @10000 | RSS KiB | PSS KiB | procs | threads "
             "| PSS KiB/conn |",
             "|---" * 17 + "|"]
    for p in paths:
        m = run.mem.get(p)
        if not m:
            continue
        i = m["idle"]
        row = [p, i[0], i[1], i[2], i[3]]
        for n in (1000, 10000):
            x = m.get(n)
            if x:
                row += [f"{x[4]} ({x[5]})", x[0], x[1], x[2], x[3],
                        f"{(x[1] - i[1]) / x[4]:.1f}" if x[4] else "—"]
            else:
                row += ["—"] * 6
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        txt = (out.stdout + out.stderr).strip().splitlines()
        txt = [t for t in txt if t.strip() and "inetd mode" not in t]
        return txt[0].strip() if txt else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"


VERSIONS = [
    ("socat", ["socat", "-V"], 1),
    ("haproxy", ["haproxy", "-v"], 0),
    ("nginx", ["nginx", "-v"], 0),
    ("ssh", ["ssh", "-V"], 0),
    ("stunnel", ["stunnel", "-version"], 0),
    ("v2ray", ["v2ray", "-version"], 0),
    ("iperf3", ["iperf3", "--version"], 0),
    ("wrk", ["wrk", "-v"], 0),
]


def versions():
    out = []
    for name, argv, line in VERSIONS:
        if line:
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
                ls = [x for x in (r.stdout + r.stderr).splitlines() if x.strip()]
                out.append((name, ls[line].strip() if len(ls) > line else "?"))
            except (OSError, subprocess.TimeoutExpired):
                out.append((name, "not installed"))
        else:
            out.append((name, version(argv)))
    return out


def cpu_model():
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--quick", action="store_true",
                    help="1 run per figure, 2 s each, 512M for CPU, no 10000 connections")
    ap.add_argument("--only", default="", help="comma-separated substrings of the path names to run")
    ap.add_argument("--budget", type=float, default=20,
                    help="minutes; figures not started by then are skipped (default 20)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--docs", action="store_true",
                    help="also put the table, with the machine, versions and date, into "
                         "docs/benchmarks.md (between its compare.py markers)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs)")
    ap.add_argument("--runs", dest="runs_override", type=int, help="iperf3 runs per figure (median)")
    ap.add_argument("--seconds", dest="seconds_override", type=int,
                    help="seconds per iperf3 run, wrk run and conn/s run")
    a = ap.parse_args()
    a.runs, a.seconds, a.conn_seconds, a.size, a.hold_max = (1, 2, 2, "512M", 1000) if a.quick else \
        (3, 5, 5, "2G", 10000)
    a.no10k = "not run (--quick)" if a.quick else None
    if a.runs_override:
        a.runs = a.runs_override
    if a.seconds_override:
        a.seconds = a.conn_seconds = a.seconds_override
    postern_bin = os.path.abspath(a.postern)
    if not os.access(postern_bin, os.X_OK):
        sys.exit(f"compare: {postern_bin} missing: build it first (see bench/README.md)")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    # Raise the open-file limit (the driver holds 10000 sockets, a one-process relay twice
    # that); raising the hard limit needs CAP_SYS_RESOURCE, else the soft one goes up to it.
    global NOFILE
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if NOFILE < 2 * 10000 + 100 and a.hold_max >= 10000:
        a.hold_max = 1000
        a.no10k = (f"not run: the open-file limit is {NOFILE} and cannot be raised here (no "
                   f"CAP_SYS_RESOURCE); a one-process relay holding 10000 connections needs 20000+")
        print(f"compare: {a.no10k}", file=sys.stderr)

    wanted = [w.strip() for w in a.only.split(",") if w.strip()]
    paths = []
    skipped = {}
    for name, fn, binary in PATHS:
        if wanted and not any(w in name for w in wanted):
            continue
        need = [b for b in ((binary,) if binary else ()) if not shutil.which(b)]
        if name.startswith("ssh") and os.geteuid() != 0:
            skipped[name] = "not run (needs root for its private sshd)"
        elif need:
            skipped[name] = "not available" if binary == "v2ray" else f"not installed ({need[0]})"
        paths.append((name, fn))
    for tool in ("iperf3", "wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"compare: {tool} missing: sh bench/deps.sh")

    tmp = tempfile.mkdtemp(prefix="postern-compare-")
    os.chmod(tmp, 0o700)
    env = Env(postern_bin, tmp)
    run = Run(a, env)
    results = {}
    t_start = time.time()
    date = time.strftime("%Y-%m-%d")
    mode = "quick" if a.quick else "full"
    print(f"## postern against other relays on loopback ({date}, {mode}: {a.runs} run(s) of "
          f"{a.seconds} s, conn/s {a.conn_seconds} s, CPU over {a.size})\n", flush=True)
    try:
        for name, fn in paths:
            if name in skipped:
                results[name] = {k: skipped[name] for k, *_ in COLS}
                print(f"  {name}: {skipped[name]}", file=sys.stderr, flush=True)
                continue
            print(f"  {name} ...", file=sys.stderr, flush=True)
            results[name] = run.measure(name, fn)
            r = results[name]
            print(f"  {name}: " + ", ".join(f"{k}={fmt(r.get(k), f)}" for k, _, _, f in COLS)
                  + f" ({r['secs']:.0f} s)", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("compare: interrupted", file=sys.stderr)
    finally:
        names = [n for n, _ in paths if n in results]
        elapsed = time.time() - t_start
        tab = table(results, names)
        print(tab)
        mt = mem_table(run, names)
        notes = "\n".join(f"- {p}: {n}" for p, n in run.notes)
        print("\n" + mt)
        if notes:
            print("\n" + notes)
        if a.no10k:
            print(f"\n10000 held connections: {a.no10k}.")
        print(f"\n(ran {elapsed / 60:.1f} min)")
        write_report(a, env, run, tab, mt, notes, elapsed, date, names, skipped)
        if a.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def write_report(a, env, run, tab, mt, notes, elapsed, date, names, skipped):
    os.makedirs(a.out, exist_ok=True)
    f = os.path.join(a.out, f"compare-{date}{'-quick' if a.quick else ''}{'-partial' if a.only else ''}.md")
    vers = versions()
    with open(f, "w") as fh:
        fh.write(f"# postern against other relays ({date})\n\n")
        fh.write(f"- command: `{shlex.join(['python3'] + sys.argv)}` "
                 f"({elapsed / 60:.1f} min)\n")
        fh.write(f"- machine: {platform.machine()}, {os.cpu_count()} cores, {cpu_model()}, "
                 f"kernel {platform.release()}\n")
        try:
            pv = subprocess.run([env.postern, "--version"], capture_output=True, text=True, timeout=10)
            fh.write(f"- postern: {(pv.stdout + pv.stderr).strip()} ({env.postern})\n")
        except (OSError, subprocess.TimeoutExpired):
            pass
        for name, v in vers:
            fh.write(f"- {name}: {v}\n")
        fh.write(f"- settings: iperf3 -t {a.seconds} -O 1, median of {a.runs}; conn/s: 2 driver processes "
                 f"x 8 in flight for {a.conn_seconds} s against a Python epoll echo server (2 processes); "
                 f"wrk -t2 -c50 -d{a.seconds}s --latency against nginx (1 worker) serving a {len(PAGE)}-byte page; "
                 f"memory: VmRSS summed over every process of the relay; CPU: utime+stime (+ reaped "
                 f"children) of the relay processes over iperf3 -n {a.size}\n\n")
        fh.write(tab + "\n\n")
        fh.write("Ratios: value ÷ reference, for every figure (above 1 is better for Gbit/s, conn/s and "
                 "req/s; below 1 is better for latency, memory and CPU). The best peer is the best "
                 "non-postern, non-direct row for that figure.\n\n")
        fh.write("## Memory detail\n\n" + mt + "\n\n")
        if notes:
            fh.write("## Notes from the run\n\n" + notes + "\n\n")
        if a.no10k:
            fh.write(f"10000 held connections: {a.no10k}.\n\n")
        if skipped:
            fh.write("## Paths not run\n\n" + "\n".join(f"- {p}: {w}" for p, w in skipped.items()) + "\n\n")
        fh.write("## Command lines\n\n")
        for p in names:
            for c in env.cmdlines.get(p, []):
                fh.write(f"{p}:\n\n" + "\n".join("    " + line for line in c.splitlines()) + "\n\n")
    print(f"\nwrote {f}", file=sys.stderr)
    if a.docs:
        write_docs(env, tab, elapsed, date, vers)


DOCS_BEGIN = "<!-- compare.py:begin (written by bench/compare.py --docs) -->"
DOCS_END = "<!-- compare.py:end -->"


def write_docs(env, tab, elapsed, date, vers):
    """Replace the text between the markers of docs/benchmarks.md with this run."""
    path = os.path.join(HERE, "..", "docs", "benchmarks.md")
    with open(path) as fh:
        doc = fh.read()
    if DOCS_BEGIN not in doc or DOCS_END not in doc:
        print(f"compare: {path} has no compare.py markers; not written", file=sys.stderr)
        return
    head, rest = doc.split(DOCS_BEGIN, 1)
    _, tail = rest.split(DOCS_END, 1)
    peers = "; ".join(f"{n}: {v}" for n, v in vers)
    body = (f"\nRun of {date}: `{shlex.join(['python3'] + sys.argv)}` ({elapsed / 60:.1f} min) on "
            f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}, kernel {platform.release()}. "
            f"Versions: {peers}.\n\n{tab}\n\n")
    with open(path, "w") as fh:
        fh.write(head + DOCS_BEGIN + body + DOCS_END + tail)
    print(f"wrote the table into {os.path.normpath(path)}", file=sys.stderr)


if __name__ == "__main__":
    main()
