"""valgrind memcheck over a short session of the proxy entrance (run by
scripts/valgrind-proxy.sh): an entrance with direct egress and a Shadowsocks port
(aes-256-gcm), a second entrance whose connections go through two nodes (a relay node and
a reverse one), and the relay node: those three under valgrind, the reverse node not.
Traffic, each step checked as docs/proxy.md says: curl through SOCKS5, an absolute-URI
request and HTTP CONNECT, ss-local in front of the Shadowsocks port (each download by
sha256), SOCKS5 UDP ASSOCIATE to a UDP echo; a wrong password, an unknown user, a
disabled user, a destination outside allow=, a user's quota reached mid-transfer; bytes
that are no protocol on both ports, a truncated SOCKS5 greeting, an over-long HTTP head;
through the nodes: downloads spread over both, UDP ASSOCIATE, a destination a node
refuses; a SIGHUP with a broken users file, then one that disables a user with a
connection open (it is closed); then SIGTERM of every end. Fails when valgrind reports an
error or a definite/possible leak, a step does not behave as documented, or an end does
not exit 0. Bounded in time (about 10-20 s when it passes); stops what it starts by PID;
keeps the logs when it fails.

    python3 tests/valgrind/proxy_session.py <postern binary>
"""
import functools, hashlib, json, os, re, shutil, signal, socket, subprocess, sys
import tempfile, threading, time
from http.server import SimpleHTTPRequestHandler

from vg_common import VG_WAIT, StepFailed, Steps, end_session, start_vg, vg_lines
from harness.backends import Backend, QuietHTTPServer, UdpEcho, echo_handler
from harness.net import LOOPBACK as LOOP, free_port, recv_exact, wait_port
from harness.socks import closed_within, socks_addr, socks_open
from harness.procs import LoggedProcess

BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ["POSTERN_BIN"]

S = Steps("valgrind-proxy.sh")          # bounded to 180 s (SIGALRM): the finally below still runs
ME, T0, step, fail = S.me, S.t0, S.step, S.fail

for tool in ("curl", "ss-local"):
    if shutil.which(tool) is None:
        raise SystemExit(f"{ME}: {tool} is not installed (scripts/deps.sh installs it)")

tmp = tempfile.mkdtemp(prefix="vgproxy.")
closers = []            # backends to close at the end
procs = []              # harness LoggedProcesses, in start order
retried = []            # starts that lost their port to another process (checked by valgrind too)

# ---- backends, in threads of this process ---------------------------------------

www = os.path.join(tmp, "www")
os.mkdir(www)
BIG = os.urandom(300 * 1024)
with open(os.path.join(www, "big.bin"), "wb") as f:
    f.write(BIG)
BIG_SUM = hashlib.sha256(BIG).hexdigest()


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


web = QuietHTTPServer((LOOP, 0), functools.partial(Quiet, directory=www))
wport = web.server_port
threading.Thread(target=web.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
closers += [web.shutdown, web.server_close]
tcp_echo = Backend(echo_handler, name="tcp-echo")
udp_echo = UdpEcho(0)
closers += [tcp_echo.stop, udp_echo.stop]

# ---- the users file and the ends --------------------------------------------------

users = os.path.join(tmp, "users.json")


def write_users(alice_enabled=True, broken=False):
    u = [{"name": "alice", "password": "alice-pw-1", "key": "alice-ss-key",
          "enabled": alice_enabled},
         {"name": "bob", "password": "bob-pw-2", "enabled": False},
         {"name": "carol", "password": "carol-pw-3", "quota": 100000}]
    if broken:
        u[1]["rate"] = "fast"
    with open(users + ".new", "w") as f:
        json.dump({"users": u}, f)
    os.replace(users + ".new", users)


write_users()
# A 5 s head deadline: the truncated greeting below is closed by it.
env = {"POSTERN_REPORT_INTERVAL": "500ms", "POSTERN_BACKOFF_MAX": "2s", "POSTERN_UDP_IDLE": "2s",
       "POSTERN_HANDSHAKE_TIMEOUT": "5s"}


def start(make_url, name, ready, under_vg=True):
    """Start <name> on the URL make_url() returns (with fresh ports) and wait for a log
    line <ready>; again with other ports when one was taken between free_port() and the
    listen (another process's race), at most 3 times."""
    for attempt in range(3):
        url = make_url()
        log = os.path.join(tmp, f"{name}.{attempt}.log")
        if under_vg:
            p = start_vg(BIN, url, env, log, name)
        else:
            p = LoggedProcess([BIN, url], env, merge=True, log_path=log, name=name).start()
        try:
            p.wait_for_log(ready, VG_WAIT)
            procs.append(p)
            return p
        except AssertionError:
            p.stop(signal.SIGTERM, 30)
            retried.append(p)
            if attempt == 2 or "address already in use" not in p.output():
                raise

# ---- user side helpers -------------------------------------------------------------


def curl(*args, timeout=40):
    r = subprocess.run(["curl", "-sS", "--max-time", str(timeout - 5)] + list(args),
                       capture_output=True, timeout=timeout, env={"PATH": "/usr/bin:/bin"})
    return r.returncode, r.stdout, r.stderr.decode(errors="replace").strip()


def expect_big(what, *args):
    rc, out, err = curl(*args)
    if rc != 0 or hashlib.sha256(out).hexdigest() != BIG_SUM:
        fail(f"{what}: curl exit {rc}, {len(out)} of {len(BIG)} bytes: {err}")


def expect_status(what, code, *args):
    rc, out, err = curl("-o", "/dev/null", "-w", "%{http_code}", *args)
    if out.decode() != str(code):
        fail(f"{what}: HTTP {out.decode()!r} (curl exit {rc}: {err}), not {code}")


def udp_roundtrips(port, what, named):
    """Datagrams to the UDP echo by address and by name; each answer's header is the
    address it came from (direct) or the destination as named (<named>: through a node)."""
    s, _, rep, bnd = socks_open(port, "alice", "alice-pw-1", "0.0.0.0", 0, cmd=3, timeout=20)
    if rep != 0:
        fail(f"{what}: UDP ASSOCIATE answered {rep}")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(20)
    try:
        for host in (LOOP, "localhost"):
            hdr = b"\x00\x00\x00" + socks_addr(host, udp_echo.port)
            back = hdr if named else b"\x00\x00\x00" + socks_addr(LOOP, udp_echo.port)
            for n in (1, 1400, 9000):
                payload = os.urandom(n)
                u.sendto(hdr + payload, bnd)
                d, _ = u.recvfrom(65536)
                if d != back + payload:
                    fail(f"{what}: {n} bytes to {host} came back as {len(d)} bytes")
    finally:
        u.close()
        s.close()


def echoes(s, data, what):
    s.sendall(data)
    if recv_exact(s, len(data)) != data:
        fail(what)


def reload_a(log_line, **users_args):
    """Rewrite the users file, SIGHUP entrance A, wait for <log_line>; the mark before."""
    mark = a.mark()
    write_users(**users_args)
    a.send_signal(signal.SIGHUP)
    a.wait_for_log(log_line, 20, mark)
    return mark


def garbage(port, data, what):
    s = socket.create_connection((LOOP, port), timeout=20)
    try:
        s.sendall(data)
    except (ConnectionResetError, BrokenPipeError):
        pass
    if not closed_within(s, 15):
        fail(f"{what}: the connection was left open")
    s.close()


ok = False
try:
    # ---- the direct entrance, with its Shadowsocks port ----
    step("entrance A (direct, ss=aes-256-gcm) under valgrind")

    def url_a():
        global pa, ps
        pa, ps = free_port(), free_port()
        return f"proxy://{LOOP}:{pa}?users={users}&allow=127.0.0.0/8&ss={LOOP}:{ps}&method=aes-256-gcm"
    a = start(url_a, "entrance-a", r"proxy: listening on ")
    pl = free_port()

    step("curl through SOCKS5 (a name), an absolute-URI request and CONNECT: 300 KiB by sha256")
    expect_big("socks5", "--socks5-hostname", f"alice:alice-pw-1@{LOOP}:{pa}",
               f"http://localhost:{wport}/big.bin")
    expect_big("http", "-x", f"http://alice:alice-pw-1@{LOOP}:{pa}", f"http://{LOOP}:{wport}/big.bin")
    expect_big("connect", "-p", "-x", f"http://alice:alice-pw-1@{LOOP}:{pa}",
               f"http://{LOOP}:{wport}/big.bin")

    step("ss-local (aes-256-gcm, alice's key) in front of the Shadowsocks port")
    conf = os.path.join(tmp, "ss-local.json")
    with open(conf, "w") as f:
        json.dump({"server": LOOP, "server_port": ps, "local_address": LOOP, "local_port": pl,
                   "password": "alice-ss-key", "method": "aes-256-gcm", "timeout": 60}, f)
    ssl_ = LoggedProcess(["ss-local", "-c", conf], {}, merge=True,
                         log_path=os.path.join(tmp, "ss-local.log"), name="ss-local").start()
    procs.append(ssl_)
    wait_port(pl)
    expect_big("shadowsocks", "--socks5-hostname", f"{LOOP}:{pl}", f"http://localhost:{wport}/big.bin")

    step("SOCKS5 UDP ASSOCIATE to a UDP echo (by address and by name)")
    udp_roundtrips(pa, "udp direct", named=False)

    step("refusals: wrong password, unknown user, disabled user, a destination outside allow=")
    rc, _, _ = curl("--socks5-hostname", f"alice:wrong@{LOOP}:{pa}", f"http://localhost:{wport}/")
    if rc != 97:
        fail(f"a wrong SOCKS5 password: curl exit {rc}, not 97")
    expect_status("a wrong password", 407, "-x", f"http://alice:wrong@{LOOP}:{pa}", f"http://{LOOP}:{wport}/")
    expect_status("an unknown user", 407, "-x", f"http://eve:x@{LOOP}:{pa}", f"http://{LOOP}:{wport}/")
    expect_status("a disabled user", 403, "-x", f"http://bob:bob-pw-2@{LOOP}:{pa}", f"http://{LOOP}:{wport}/")
    s, _, rep, _ = socks_open(pa, "alice", "alice-pw-1", "::1", wport, timeout=20)
    s.close()
    if rep != 2:
        fail(f"[::1] outside allow=127.0.0.0/8: REP {rep}, not 2")

    step("carol's quota (100000 bytes) reached mid-transfer, then refused")
    rc, out, _ = curl("--socks5-hostname", f"carol:carol-pw-3@{LOOP}:{pa}", f"http://localhost:{wport}/big.bin")
    if rc == 0 or len(out) > 100000:
        fail(f"carol's transfer over the quota: curl exit {rc}, {len(out)} bytes")
    a.wait_for_log(r"user carol reached its quota", 20)
    expect_status("carol over her quota", 403, "-x", f"http://carol:carol-pw-3@{LOOP}:{pa}",
                  f"http://{LOOP}:{wport}/big.bin")

    step("no protocol: random bytes on both ports, a truncated greeting, a 70 kB HTTP head")
    garbage(pa, os.urandom(64), "random bytes on the SOCKS5/HTTP port")
    garbage(ps, os.urandom(600), "random bytes on the Shadowsocks port")
    garbage(pa, b"\x05\x03\x00", "a truncated SOCKS5 greeting")
    garbage(pa, b"GET http://x/ HTTP/1.1\r\nX: " + b"a" * 70000, "an over-long HTTP head")
    expect_big("socks5 after the bad input", "--socks5-hostname", f"alice:alice-pw-1@{LOOP}:{pa}",
               f"http://localhost:{wport}/big.bin")

    # ---- the entrance through nodes ----
    step("node 1 (relay, under valgrind), entrance B (via= node 1 and rev:), node 2 (reverse)")

    def url_n1():
        global n1
        n1 = free_port()
        return f"server://k1@{LOOP}:{n1}/{LOOP}:9?mode=2&egress=1&allow=127.0.0.0/8"

    def url_b():
        global pb, rv
        pb, rv = free_port(), free_port()
        return f"proxy://{LOOP}:{pb}?users={users}&allow=127.0.0.0/8&via=k1@{LOOP}:{n1},rev:k2@{LOOP}:{rv}"
    node1 = start(url_n1, "node-1", r"listening for clients on ")
    b = start(url_b, "entrance-b", r"proxy: listening on ")
    node2 = start(lambda: f"client://k2@{LOOP}:{rv}/{LOOP}:9?mode=2&egress=1&allow=127.0.0.0/8",
                  "node-2", r"tunnel client for ", under_vg=False)
    b.wait_for_log(rf"via {LOOP}:{n1}: connected to {LOOP}:{n1}", VG_WAIT)
    b.wait_for_log(rf"via rev {LOOP}:{rv}: client .* attached", VG_WAIT)
    node2.wait_for_log(r"connected to .* flow=reverse", 20)

    step("downloads through the nodes (round robin over both), UDP ASSOCIATE through a node")
    for i in range(4):
        expect_big(f"through the nodes, {i + 1}", "--socks5-hostname", f"alice:alice-pw-1@{LOOP}:{pb}",
                   f"http://localhost:{wport}/big.bin")
    udp_roundtrips(pb, "udp via a node", named=True)

    step("a destination the nodes refuse ([::1]: internal, not in their allow=)")
    b_mark, n1_mark = b.mark(), node1.mark()
    for _ in range(2):          # round robin: one to each node
        s, _, rep, _ = socks_open(pb, "alice", "alice-pw-1", "::1", wport, timeout=20)
        s.close()
        if rep != 2:
            fail(f"[::1] through a node: REP {rep}, not 2")
    node1.wait_for_log(r"egress: exchange to ::1:\d+ refused: destination is internal", 10, n1_mark)
    b.wait_for_log(r"user alice: socks5: the node: destination is internal", 10, b_mark)

    # ---- reloads ----
    step("SIGHUP of A: a broken users file (kept), then alice disabled with a connection open")
    s, _, rep, _ = socks_open(pa, "alice", "alice-pw-1", LOOP, tcp_echo.port, timeout=20)
    if rep != 0:
        fail(f"alice to the TCP echo: REP {rep}")
    echoes(s, b"ping", "the TCP echo through A did not answer")
    reload_a(r"proxy: reload: .*users\[1\]\.rate.*keeping the users as they were", broken=True)
    echoes(s, b"pong", "alice's connection did not survive a failed reload")
    mark = reload_a(r"proxy: user alice disabled: closing its connections", alice_enabled=False)
    if not closed_within(s, 10):
        fail("alice's open connection was not closed when she was disabled")
    s.close()
    st = None
    a.wait_for_log(r'PROXY_USER\|\{"name":"alice"', 10, mark)
    for line in a.lines()[mark:]:
        m = re.search(r'PROXY_USER\|(\{"name":"alice".*\})', line)
        if m:
            st = json.loads(m.group(1))
    if st is None or st["enabled"] or st["up"] == 0 or st["down"] < 4 * len(BIG) or st["refused"] < 2:
        fail(f"alice's counters after the reload: {st}")

    step("SIGTERM of every end (leak check)")
    ends = [(p, p.stop(signal.SIGTERM, 45)[0]) for p in reversed(procs)]
    bad = [f"{p.name} {rc}" for p, rc in ends if rc != 0 and p.name != "ss-local"]
    if bad or any(vg_lines(p) for p in procs + retried):
        raise SystemExit(f"{ME}: exit codes {bad} (None = hung; 9 = valgrind found errors or leaks)")
    ok = True
    print(f"valgrind: proxy session clean (two entrances and a node exit 0, no errors, no leaks) "
          f"in {time.time() - T0:.0f} s")
except AssertionError as e:            # a harness wait that ran out: a failed step
    raise StepFailed(f"{ME}: {e}") from None
finally:
    signal.alarm(0)
    end_session(ME, procs, closers, ok, tmp, quiet=("CHECK_POINT|", "PROXY_USER|"), also=retried)
