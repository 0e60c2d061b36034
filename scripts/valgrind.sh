#!/bin/sh
# valgrind memcheck over a short tunnel session: a tls=1 reverse tunnel with
# rate, slot, block and proxy set, TCP and UDP traffic through it, then
# SIGTERM. Fails when valgrind reports an error or a definite/possible leak,
# or either end does not exit 0. Bounded in time; stops what it starts by PID.
set -eu
cd "$(dirname "$0")/.."
BIN=${POSTERN_BIN:-$PWD/build/postern}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" - "$BIN" <<'PYEOF'
import os, signal, socket, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1]
sys.path.insert(0, "scripts")
from vg_common import LOOP, VG, free_port, wait_port  # noqa: E402  (shared helpers)

# Backends: a TCP echo and a UDP echo, in threads of this process.
tport = free_port()
tsrv = socket.socket(); tsrv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tsrv.bind((LOOP, tport)); tsrv.listen(64)
def tcp_echo():
    while True:
        try:
            c, _ = tsrv.accept()
        except OSError:
            return
        def one(c):
            with c:
                while True:
                    d = c.recv(65536)
                    if not d:
                        return
                    # PROXY v1 header first (proxy=1): echo it too, the user checks payload only
                    c.sendall(d)
        threading.Thread(target=one, args=(c,), daemon=True).start()
threading.Thread(target=tcp_echo, daemon=True).start()
usrv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); usrv.bind((LOOP, tport))
def udp_echo():
    while True:
        try:
            d, a = usrv.recvfrom(65535)
        except OSError:
            return
        usrv.sendto(d, a)
threading.Thread(target=udp_echo, daemon=True).start()

tun, pub = free_port(), free_port()
env = dict(os.environ, POSTERN_REPORT_INTERVAL="1s", POSTERN_UDP_IDLE="2s")
procs = []
logs = []
def start(url):
    log = tempfile.TemporaryFile()
    logs.append(log)
    p = subprocess.Popen(VG + [BIN, url], stdout=log, stderr=subprocess.STDOUT, env=env)
    procs.append(p)
    return p
try:
    server = start(f"server://vgkey@{LOOP}:{tun}/{LOOP}:{pub}?tls=1&rate=100&slot=64&block=1")
    wait_port(tun)
    client = start(f"client://vgkey@{LOOP}:{tun}/{LOOP}:{tport}?min=4")
    # The server's target listener is up from the start; wait for the pool to fill.
    wait_port(pub)
    payload = os.urandom(200_000)
    ok = 0
    deadline = time.time() + 60
    while ok < 5 and time.time() < deadline:
        try:
            with socket.create_connection((LOOP, pub), timeout=10) as s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                got = b""
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    got += d
            if got == payload:
                ok += 1
        except OSError:
            time.sleep(0.5)
    if ok < 5:
        raise SystemExit(f"valgrind.sh: only {ok} of 5 TCP echoes came back whole")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5)
    for n in (1, 1400, 30000):
        d = os.urandom(n)
        u.sendto(d, (LOOP, pub))
        r, _ = u.recvfrom(65535)
        if r != d:
            raise SystemExit("valgrind.sh: a UDP datagram did not come back whole")
    # A blocked SOCKS5 greeting, a bad data connection: error paths too.
    for port, junk in ((pub, b"\x05\x01\x00"), (tun, b"PN\x01Dgarbage")):
        try:
            with socket.create_connection((LOOP, port), timeout=5) as s:
                s.sendall(junk)
                if s.recv(10) != b"":
                    raise SystemExit("valgrind.sh: junk was answered")
        except ConnectionResetError:
            pass            # closed at once: what we want
    time.sleep(3)           # let a UDP session expire
    rc = []
    for p in (client, server):
        p.send_signal(signal.SIGTERM)
        try:
            rc.append(p.wait(60))
        except subprocess.TimeoutExpired:
            p.kill()
            rc.append("hung")
    bad = [r for r in rc if r != 0]
    for log in logs:
        log.seek(0)
        text = log.read().decode(errors="replace")
        errs = [l for l in text.splitlines() if l.startswith("==")]
        if errs:
            print("\n".join(errs[:60]))
    if bad:
        raise SystemExit(f"valgrind.sh: exit codes {rc} (9 = valgrind found errors or leaks)")
    print("valgrind: tunnel session clean (client and server exit 0, no errors, no leaks)")
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    tsrv.close()
    usrv.close()
PYEOF
