"""block=<digits>: 1 SOCKS4/5, 2 HTTP, 3 TLS, recognised from the first bytes a user
sends where users connect (single-end listener; the server's target listener in
reverse flow; the client's listener in forward flow). A blocked connection is closed at
once, even on a short first flight, and the target never receives a byte; other
protocols, and server-speaks-first protocols, pass."""
import ssl
import subprocess
import time

import pytest

from conftest import connect, curl, recv_exact
from limits_util import (BLOCKED_RE, banner_echo_handler, closed_promptly, received_bytes,
                         record_echo_handler, tls_echo_handler)
from tunnel_util import tunnel  # noqa: F401 - fixture

SOCKS5_GREETING = b"\x05\x01\x00"
SOCKS4_CONNECT = b"\x04\x01\x00\x50\x7f\x00\x00\x01user\x00"
HTTP_GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
HTTP_CONNECT = b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n"
PLAIN = b"\x00\x01 binary hello, no known protocol \xff\n"


def assert_closed_at_once(port, first_flight, what, within=1.0):
    with connect(port) as s:
        how, data, secs = closed_promptly(s, within, send=first_flight)
    assert how in ("eof", "reset") and data == b"", \
        f"{what}: {how} after {secs:.2f}s, received {data[:60]!r} (expected a close within " \
        f"{within}s)"


def assert_echoes(port, payload, what):
    with connect(port) as s:
        s.sendall(payload)
        got = recv_exact(s, len(payload))
    assert got == payload, f"{what}: echo mismatch"


def assert_no_bytes(backend, what):
    got = received_bytes(backend)
    assert got == b"", f"{what}: the target received {len(got)} bytes: {got[:60]!r}"


def assert_no_bytes_but(backend, allowed, what):
    got = received_bytes(backend)
    assert got == allowed, \
        f"{what}: the target received {got[:80]!r}, expected only {allowed[:40]!r}"


def curl_fails_fast(*args):
    t0 = time.monotonic()
    r = curl("--max-time", "5", *args, timeout=20)
    secs = time.monotonic() - t0
    assert r.returncode != 0, f"curl {' '.join(args)} succeeded: {r.stdout[:100]!r}"
    assert secs < 3, f"curl {' '.join(args)} took {secs:.2f}s to fail (rc {r.returncode})"
    return r


def s_client_fails_fast(port):
    t0 = time.monotonic()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3",
                        "-servername", "localhost"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=20)
    secs = time.monotonic() - t0
    assert r.returncode != 0, "openssl s_client completed a handshake through block=3"
    assert secs < 3, f"openssl s_client took {secs:.2f}s to fail"


def curl_gets(port, path, content):
    r = curl(f"http://127.0.0.1:{port}{path}")
    assert r.returncode == 0 and r.stdout == content, \
        f"curl through the forwarder: rc {r.returncode}, {len(r.stdout)} bytes, " \
        f"{r.stderr.decode(errors='replace')}"


def test_block_socks(postern, backends, http_server):
    rec = backends(record_echo_handler, name="recorder")
    p = postern.client([rec.port], "block=1")
    assert_closed_at_once(p.port, SOCKS5_GREETING, "3-byte SOCKS5 greeting 05 01 00")
    assert_closed_at_once(p.port, b"\x05", "single byte 05")
    assert_closed_at_once(p.port, SOCKS4_CONNECT, "SOCKS4 CONNECT")
    curl_fails_fast("--socks5", f"127.0.0.1:{p.port}", "http://x/")
    curl_fails_fast("--socks4", f"127.0.0.1:{p.port}", "http://127.0.0.1:1/")
    p.wait_for_log(BLOCKED_RE, timeout=3)
    assert_echoes(p.port, PLAIN, "plain bytes with block=1")
    assert_no_bytes_but(rec, PLAIN, "SOCKS with block=1")

    port, path, content = http_server
    web = postern.client([port], "block=1")
    curl_gets(web.port, path, content)


def test_block_http(postern, backends):
    rec = backends(record_echo_handler, name="recorder")
    p = postern.client([rec.port], "block=2")
    curl_fails_fast(f"http://127.0.0.1:{p.port}/")
    curl_fails_fast("-x", f"http://127.0.0.1:{p.port}", "http://x/")
    assert_closed_at_once(p.port, HTTP_CONNECT, "CONNECT request")
    assert_closed_at_once(p.port, HTTP_GET, "raw GET request")
    p.wait_for_log(BLOCKED_RE, timeout=3)
    assert_no_bytes(rec, "HTTP with block=2")
    # not HTTP: passes
    assert_echoes(p.port, PLAIN, "plain bytes with block=2")
    assert_echoes(p.port, SOCKS5_GREETING, "a SOCKS5 greeting with block=2")
    assert_no_bytes_but(rec, PLAIN + SOCKS5_GREETING, "HTTP with block=2")


def test_block_tls(postern, backends, http_server):
    rec = backends(record_echo_handler, name="recorder")
    p = postern.client([rec.port], "block=3")
    s_client_fails_fast(p.port)
    curl_fails_fast("-k", f"https://127.0.0.1:{p.port}/")
    p.wait_for_log(BLOCKED_RE, timeout=3)
    assert_no_bytes(rec, "TLS with block=3")
    assert_echoes(p.port, PLAIN, "plain bytes with block=3")

    port, path, content = http_server
    web = postern.client([port], "block=3")
    curl_gets(web.port, path, content)


def test_block_combination(postern, backends, http_server):
    rec = backends(record_echo_handler, name="recorder")
    p = postern.client([rec.port], "block=13")
    assert_closed_at_once(p.port, SOCKS5_GREETING, "SOCKS5 greeting with block=13")
    s_client_fails_fast(p.port)
    assert_no_bytes(rec, "SOCKS and TLS with block=13")
    assert_echoes(p.port, HTTP_GET, "an HTTP request with block=13")

    port, path, content = http_server
    web = postern.client([port], "block=13")
    curl_gets(web.port, path, content)


def test_tls_passes_when_socks_and_http_are_blocked(postern, backends, certs):
    crt, key = certs.leaf("server", 2)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    b = backends(tls_echo_handler(ctx), name="tls-echo")
    p = postern.client([b.port], "block=12")
    cctx = ssl.create_default_context(cafile=str(certs.ca_pem))
    with connect(p.port) as raw, cctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"over tls")
        assert recv_exact(s, 8) == b"over tls"


@pytest.mark.parametrize("block", ["1", "2", "3", "123"])
def test_server_speaks_first_passes(block, postern, backends):
    banner = b"220 banner from a server-speaks-first backend\r\n"
    b = backends(banner_echo_handler(banner), name="banner")
    p = postern.client([b.port], f"block={block}")
    with connect(p.port, timeout=3) as s:
        got = recv_exact(s, len(banner))        # nothing sent first
        assert got == banner
        s.sendall(b"hello after the banner\n")
        assert recv_exact(s, 23) == b"hello after the banner\n"


@pytest.mark.parametrize("flow", ["reverse", "forward"])
def test_block_on_the_tunnel_entry(flow, tunnel, backends):
    """reverse: block= on the server (users connect to its target listener);
    forward: block= on the client (users connect to its listener)."""
    rec = backends(record_echo_handler, name="recorder")
    side = {"server_params": "block=1"} if flow == "reverse" else {"client_params": "block=1"}
    t = tunnel(flow, rec.port, key=f"block{flow}", **side).start()
    entry = t.server if flow == "reverse" else t.client
    assert_closed_at_once(t.user_port, SOCKS5_GREETING, f"SOCKS5 greeting ({flow})")
    assert_closed_at_once(t.user_port, b"\x05", f"single byte 05 ({flow})")
    entry.wait_for_log(BLOCKED_RE, timeout=3)
    assert_echoes(t.user_port, PLAIN, f"plain bytes through the {flow} tunnel")
    assert_no_bytes_but(rec, PLAIN, f"SOCKS through the {flow} tunnel with block=1")
