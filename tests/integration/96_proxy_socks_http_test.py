"""proxy:// (docs/proxy.md): SOCKS5 and HTTP proxying on one port with users from a
JSON file: real curl through it (socks5-hostname, http and https URLs over -x), CONNECT
to IPv4, IPv6 and names, raw TCP from ncat (--proxy-type socks5 and http, with
--proxy-auth), refusals with each protocol's own error, allow=, a 256 MiB transfer by
sha256."""
import hashlib
import os
import socket
import subprocess

from conftest import LOOPBACK, Backend, echo_handler, serve_directory
from harness.procs import require_ipv6_loopback, require_tool
from proxy_util import (closed_within, curl_through, recv_n, socks_addr, socks_open,
                        socks_reply, start_proxy, user_stats, write_users,
                        www)  # noqa: F401 - fixture

import pytest

USERS = [
    {"name": "alice", "password": "alice-pw-1"},
    {"name": "bob", "password": "bob-pw-2", "enabled": False},
]


@pytest.fixture
def proxy(postern, tmp_path):
    return start_proxy(postern, write_users(tmp_path / "users.json", USERS),
                       env={"POSTERN_HANDSHAKE_TIMEOUT": "1500ms"})


def test_curl_socks5_hostname_and_http_proxy(proxy, www):
    port, _, small = www
    want = hashlib.sha256(small).hexdigest()
    r = curl_through("--socks5-hostname", f"alice:alice-pw-1@{LOOPBACK}:{proxy.port}",
                     f"http://localhost:{port}/small.bin")
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == want
    r = curl_through("--socks5", f"alice:alice-pw-1@{LOOPBACK}:{proxy.port}",
                     f"http://{LOOPBACK}:{port}/small.bin")
    assert r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == want, r.stderr
    # absolute-URI request
    r = curl_through("-x", f"http://alice:alice-pw-1@{LOOPBACK}:{proxy.port}",
                     f"http://{LOOPBACK}:{port}/small.bin")
    assert r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == want, r.stderr
    # CONNECT tunnel for a plain URL
    r = curl_through("-p", "-x", f"http://alice:alice-pw-1@{LOOPBACK}:{proxy.port}",
                     f"http://localhost:{port}/small.bin")
    assert r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == want, r.stderr
    st = user_stats(proxy, "alice", start=0)
    mark = proxy.mark()
    st = user_stats(proxy, "alice", start=mark)
    assert st["conns"] == 4 and st["down"] >= 4 * len(small), st


def test_curl_https_through_connect(proxy, tmp_path, certs):
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    crt, key = certs.leaf("web", 2)
    body = os.urandom(100 * 1024)

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer((LOOPBACK, 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        r = curl_through("--cacert", str(certs.ca_pem), "-x",
                         f"http://alice:alice-pw-1@{LOOPBACK}:{proxy.port}",
                         f"https://localhost:{srv.server_address[1]}/x")
        assert r.returncode == 0, r.stderr
        assert r.stdout == body
    finally:
        srv.shutdown()
        srv.server_close()


def test_socks5_connect_ipv4_ipv6_and_names(proxy, backends):
    echo4 = backends(echo_handler, name="echo4")
    for host in (LOOPBACK, "localhost"):
        s, st, rep, bnd = socks_open(proxy.port, "alice", "alice-pw-1", host, echo4.port)
        with s:
            assert (st, rep) == (0, 0), (host, st, rep)
            s.sendall(b"ping-" + host.encode())
            assert recv_n(s, 5 + len(host)) == b"ping-" + host.encode()
    require_ipv6_loopback()
    echo6 = Backend(echo_handler, host="::1", name="echo6")
    try:
        s, st, rep, _ = socks_open(proxy.port, "alice", "alice-pw-1", "::1", echo6.port)
        with s:
            assert (st, rep) == (0, 0)
            s.sendall(b"six")
            assert recv_n(s, 3) == b"six"
    finally:
        echo6.stop()


def test_a_burst_of_heads_from_one_address_is_served(postern, tmp_path, backends):
    """150 heads in progress at once from one address (a browser behind one ss-local,
    an office behind one NAT): every one is served. A cap of 64 per source closed the
    65th at once. The gate's share per source is set to its default at ulimit -n 12800
    or more, whatever the limit of the machine running the test."""
    proxy = start_proxy(postern, write_users(tmp_path / "users.json", USERS),
                        env={"POSTERN_HANDSHAKE_TIMEOUT": "1500ms",
                             "POSTERN_GATE_MAX": "4096", "POSTERN_GATE_PER_SRC": "512"})
    echo = backends(echo_handler, name="echo")
    n = 150
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection((LOOPBACK, proxy.port), timeout=5)
            socks.append(s)
            s.sendall(b"\x05\x01\x02")
        # every head is now in progress: greeted, not yet authenticated
        for i, s in enumerate(socks):
            assert recv_n(s, 2) == b"\x05\x02", f"head {i + 1} of {n} closed"
        for i, s in enumerate(socks):
            s.sendall(b"\x01\x05alice\x0aalice-pw-1")
            assert recv_n(s, 2) == b"\x01\x00", i
            s.sendall(b"\x05\x01\x00" + socks_addr(LOOPBACK, echo.port))
            rep, _ = socks_reply(s)
            assert rep == 0, (i, rep)
            s.sendall(b"ping%d" % i)
            assert recv_n(s, len(b"ping%d" % i)) == b"ping%d" % i
    finally:
        for s in socks:
            s.close()


def test_refusals_use_each_protocols_error(proxy, backends):
    echo = backends(echo_handler, name="echo")
    # SOCKS5: wrong password and unknown user fail RFC 1929 (status != 0), then close
    for user, pw in (("alice", "wrong"), ("mallory", "alice-pw-1"), ("alice", "alice-pw-")):
        s, st, rep, _ = socks_open(proxy.port, user, pw, LOOPBACK, echo.port)
        with s:
            assert st != 0 and rep is None, (user, st)
            assert closed_within(s, 3)
    # disabled: authentication passes, the request gets REP 0x02
    s, st, rep, _ = socks_open(proxy.port, "bob", "bob-pw-2", LOOPBACK, echo.port)
    with s:
        assert (st, rep) == (0, 2)
    # curl sees the failures too
    r = curl_through("--socks5-hostname", f"alice:nope@{LOOPBACK}:{proxy.port}",
                     f"http://{LOOPBACK}:{echo.port}/")
    assert r.returncode != 0
    # HTTP: missing or wrong credentials get 407 with Proxy-Authenticate; disabled 403
    for auth in ("", "alice:wrong@", "nobody:x@"):
        r = curl_through("-i", "-x", f"http://{auth}{LOOPBACK}:{proxy.port}",
                         f"http://{LOOPBACK}:{echo.port}/")
        head = r.stdout.decode(errors="replace")
        assert head.startswith("HTTP/1.1 407"), (auth, head)
        assert "Proxy-Authenticate: Basic" in head, head
    r = curl_through("-i", "-x", f"http://bob:bob-pw-2@{LOOPBACK}:{proxy.port}",
                     f"http://{LOOPBACK}:{echo.port}/")
    assert r.stdout.startswith(b"HTTP/1.1 403"), r.stdout
    assert echo.accepted == 0, "a refused request reached the destination"
    mark = proxy.mark()
    st = user_stats(proxy, "bob", start=mark)
    assert st["refused"] >= 2 and st["conns"] == 0, st
    for line in proxy.lines() + proxy.lines("stderr"):
        assert "alice-pw-1" not in line and "bob-pw-2" not in line, line


def test_internal_destinations_need_allow(postern, tmp_path, backends):
    echo = backends(echo_handler, name="echo")
    p = start_proxy(postern, write_users(tmp_path / "u.json", USERS), params="")
    s, st, rep, _ = socks_open(p.port, "alice", "alice-pw-1", LOOPBACK, echo.port)
    with s:
        assert (st, rep) == (0, 2), "a loopback destination without allow="
    r = curl_through("-i", "-x", f"http://alice:alice-pw-1@{LOOPBACK}:{p.port}",
                     f"http://localhost:{echo.port}/")
    assert r.stdout.startswith(b"HTTP/1.1 403"), r.stdout
    assert echo.accepted == 0


def test_malformed_shapes_close_only_that_connection(proxy, backends):
    echo = backends(echo_handler, name="echo")
    held, st, rep, _ = socks_open(proxy.port, "alice", "alice-pw-1", LOOPBACK, echo.port)
    assert (st, rep) == (0, 0)
    shapes = [
        b"\x05\x00",                              # no methods
        b"\x05\x01\x02\x02\x00",                  # auth version 2
        b"\x05\x01\x02\x01\x00\x01x",             # empty user name
        b"\x05\x01\x00",                          # no username/password offered
        b"GET / HTTP/1.1\r\n\r\n",                # origin-form to a proxy
        b"GET http://x/ HTTP/2.0\r\n\r\n",        # version
        b"CONNECT a:0 HTTP/1.1\r\n\r\n",          # port 0
        b"CONNECT a:80 HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET http://a/ HTTP/1.1\n\n",            # bare LF
        b"GET http://a/ HTTP/1.1\r\n X: folded\r\n\r\n",
        b"A" * 20000,                              # head over 16 KiB
        b"\x05\x01\x02\x01\x05alice\x0aalice-pw-1\x05\x01\x00\x09",  # ATYP 9
    ]
    for shape in shapes:
        with socket.create_connection((LOOPBACK, proxy.port), timeout=5) as s:
            try:
                s.sendall(shape)
            except OSError:
                pass
            assert closed_within(s, 3), f"not closed after {shape[:40]!r}"
    # an unfinished head meets the deadline, not an idle timer
    with socket.create_connection((LOOPBACK, proxy.port), timeout=5) as s:
        s.sendall(b"CONN")
        assert not closed_within(s, 0.5)
        s.sendall(b"EC")                          # bytes do not push the deadline back
        assert closed_within(s, 3), "a head left unfinished outlived its deadline"
    held.sendall(b"still")
    assert recv_n(held, 5) == b"still"
    held.close()
    assert proxy.alive()


@pytest.mark.parametrize("kind", ["socks5", "http"])
def test_ncat_raw_tcp_through_the_entrance(proxy, backends, kind):
    """Nmap's ncat, a client nobody here wrote, as a raw TCP client through the entrance:
    its bytes reach an echo service and come back whole; a wrong password gets nothing.
    (ncat keeps its write side open at the end of its input, so the service closes once it
    has echoed everything it was sent.)"""
    data = os.urandom(256 << 10).hex().encode()          # 512 KiB of text

    def echo_then_close(backend, conn):
        left = len(data)
        while left > 0:
            b = conn.recv(min(65536, left))
            if not b:
                break
            conn.sendall(b)
            left -= len(b)
        conn.close()

    echo = backends(echo_then_close, name="echo")
    argv = [require_tool("ncat"), "--proxy", f"{LOOPBACK}:{proxy.port}", "--proxy-type", kind,
            "--proxy-auth", "alice:alice-pw-1", "-w", "5", LOOPBACK, str(echo.port)]
    r = subprocess.run(argv, input=data, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(data).hexdigest()
    before = echo.accepted
    argv[argv.index("alice:alice-pw-1")] = "alice:wrong"
    r = subprocess.run(argv, input=b"hello", capture_output=True, timeout=30)
    assert r.returncode != 0 and r.stdout == b"", r
    assert echo.accepted == before


def test_256_mib_by_sha256(proxy, tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    h = hashlib.sha256()
    with open(root / "big.bin", "wb") as f:
        for _ in range(256):
            block = os.urandom(1 << 20)
            h.update(block)
            f.write(block)
    want = h.hexdigest()
    out = tmp_path / "got.bin"
    for port in serve_directory(root):
        r = curl_through("--socks5-hostname", f"alice:alice-pw-1@{LOOPBACK}:{proxy.port}",
                         "-o", str(out), f"http://localhost:{port}/big.bin", timeout=240)
        assert r.returncode == 0, r.stderr
        assert out.stat().st_size == 256 << 20
        got = hashlib.sha256()
        with open(out, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                got.update(block)
        assert got.hexdigest() == want
