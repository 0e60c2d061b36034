"""valgrind memcheck over a short tunnel session (run by scripts/valgrind.sh): a tls=1
reverse tunnel with rate, slot, block and proxy set, TCP and UDP traffic through it, then
SIGTERM. Fails when valgrind reports an error or a definite/possible leak, or either end
does not exit 0. Bounded in time; stops what it starts by PID.

    python3 tests/valgrind/tunnel_session.py <postern binary>
"""
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

from vg_common import VG_WAIT, run, start_vg, vg_lines
from harness.backends import Backend, UdpEcho, echo_handler
from harness.net import LOOPBACK, echo_roundtrip, free_port, wait_port
from harness.procs import stop_process

ME = "valgrind.sh"


def session(binary):
    # Backends: a TCP echo and a UDP echo on one port number, in threads of this process.
    # (proxy=1: the PROXY v1 header comes first and is echoed too; the user checks payload
    # only.)
    tcp = Backend(echo_handler, name="tcp-echo")
    udp = UdpEcho(tcp.port)
    tmp = tempfile.mkdtemp(prefix="vgtun.")
    tun, pub = free_port(), free_port()
    env = {"POSTERN_REPORT_INTERVAL": "1s", "POSTERN_UDP_IDLE": "2s"}
    procs = []
    ok = False
    try:
        server = start_vg(binary, f"server://vgkey@{LOOPBACK}:{tun}/{LOOPBACK}:{pub}"
                          f"?tls=1&rate=100&slot=64&block=1", env,
                          os.path.join(tmp, "server.log"), "server")
        procs.append(server)
        wait_port(tun, timeout=VG_WAIT, proc=server.proc)
        client = start_vg(binary, f"client://vgkey@{LOOPBACK}:{tun}/{LOOPBACK}:{tcp.port}?min=4&mode=2",
                          env, os.path.join(tmp, "client.log"), "client")
        procs.append(client)
        # The server's target listener is up from the start; wait for the pool to fill.
        wait_port(pub, timeout=VG_WAIT, proc=server.proc)
        # The first byte is fixed: random bytes that begin 0x05 (or 0x04 0x01/0x02) are a
        # SOCKS greeting to block=1, which then refuses every try of this payload.
        payload = b"\x00" + os.urandom(199_999)
        ok = 0
        deadline = time.time() + 60
        while ok < 5 and time.time() < deadline:
            try:
                if echo_roundtrip(pub, payload) == payload:
                    ok += 1
            except OSError:
                time.sleep(0.5)
        if ok < 5:
            raise SystemExit(f"{ME}: only {ok} of 5 TCP echoes came back whole")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.settimeout(5)
            for n in (1, 1400, 30000):
                d = os.urandom(n)
                u.sendto(d, (LOOPBACK, pub))
                r, _ = u.recvfrom(65535)
                if r != d:
                    raise SystemExit(f"{ME}: a UDP datagram did not come back whole")
        # A blocked SOCKS5 greeting, a bad data connection: error paths too.
        for port, junk in ((pub, b"\x05\x01\x00"), (tun, b"PN\x01Dgarbage")):
            try:
                with socket.create_connection((LOOPBACK, port), timeout=5) as s:
                    s.sendall(junk)
                    if s.recv(10) != b"":
                        raise SystemExit(f"{ME}: junk was answered")
            except ConnectionResetError:
                pass            # closed at once: what we want
        time.sleep(3)           # let a UDP session expire
        rc = [stop_process(p.proc, signal.SIGTERM, 60)[0] for p in (client, server)]
        for p in procs:
            p.stop()            # (joins the readers: every line is in)
            errs = vg_lines(p)
            if errs:
                print("\n".join(errs[:60]))
        if rc != [0, 0]:
            raise SystemExit(f"{ME}: exit codes {rc} (None = hung; 9 = valgrind found errors "
                             f"or leaks)")
        ok = True
        print("valgrind: tunnel session clean (client and server exit 0, no errors, no leaks)")
    finally:
        for p in procs:
            p.cleanup()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"{ME}: logs kept in {tmp}")
        tcp.stop()
        udp.stop()


if __name__ == "__main__":
    run(ME, lambda: session(sys.argv[1] if len(sys.argv) > 1 else os.environ["POSTERN_BIN"]))
