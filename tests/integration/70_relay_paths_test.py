"""Both relay paths carry the same bytes: zero copy (splice through a pipe, the default
for plain TCP) and the buffered fallback (POSTERN_NO_SPLICE=1, what a kernel that refuses
splice gets). Correctness must never depend on the fast path being available."""
import hashlib
import os
import socket

import pytest

from conftest import (BULK_TIMEOUT, ask_id, client_url, connect, digest_handler, id_handler,
                      recorder_handler, recv_all,
                      sha256_hex, source_handler)
from tunnel_util import tunnel  # noqa: F401  (a fixture)

BULK = 16 * 1024 * 1024
PATHS = {"splice": {}, "buffered": {"POSTERN_NO_SPLICE": "1"}}


@pytest.fixture(scope="module")
def bulk():
    return os.urandom(BULK)


def upload(port, data):
    with connect(port, timeout=BULK_TIMEOUT) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s, limit=200).decode()


def download(port):
    h, n = hashlib.sha256(), 0
    with connect(port, timeout=BULK_TIMEOUT) as s:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()


@pytest.mark.parametrize("path", PATHS)
def test_single_end_both_ways(path, postern, backends, bulk):
    up = backends(digest_handler, name="digest")
    down = backends(source_handler(bulk), name="source")
    pu = postern.client([up.port], "log=debug", env=PATHS[path])
    pd = postern.client([down.port], "log=debug", env=PATHS[path])
    assert upload(pu.port, bulk) == f"{BULK} {sha256_hex(bulk)}\n"
    assert download(pd.port) == (BULK, sha256_hex(bulk))
    # The path asked for is the path taken.
    used = "zero-copy path in use" in pu.output()
    assert used == (path == "splice"), pu.output()[-2000:]


@pytest.mark.parametrize("path", PATHS)
def test_reverse_tunnel_both_ways(path, tunnel, backends, bulk):
    up = backends(digest_handler, name="digest")
    t = tunnel("reverse", up.port, env=PATHS[path]).start()
    assert upload(t.user_port, bulk) == f"{BULK} {sha256_hex(bulk)}\n"
    down = backends(source_handler(bulk), name="source")
    t2 = tunnel("reverse", down.port, env=PATHS[path]).start()
    assert download(t2.user_port) == (BULK, sha256_hex(bulk))


@pytest.mark.parametrize("path", PATHS)
def test_buffered_bytes_stay_in_order_with_spliced_ones(path, postern, backends):
    """The bytes that must pass through the buffer (a PROXY header, the user's first
    read when block= is set) reach the target before, and in order with, what splice
    moves after them; and the half-close still carries."""
    b = backends(recorder_handler, name="recorder")
    p = postern.client([b.port], "proxy=1&block=2", env=PATHS[path])
    payload = b"\x00first" + os.urandom(3 * 1024 * 1024)
    with connect(p.port, timeout=BULK_TIMEOUT) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)      # the backend reads to EOF: the FIN must arrive
        header = f"PROXY TCP4 127.0.0.1 127.0.0.1 {s.getsockname()[1]} {p.port}\r\n".encode()
        seen = b.wait_record(lambda r: len(r) >= len(header) + len(payload), timeout=BULK_TIMEOUT)
    assert seen[:len(header)] == header, seen[:80]
    assert seen[len(header):] == payload


def _kernel_has_tls_ulp():
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            return "tls" in f.read().split()
    except OSError:
        return False


KTLS = {"ktls": {}, "user-space": {"POSTERN_NO_KTLS": "1"}}


@pytest.mark.parametrize("path", KTLS)
def test_tls_tunnel_with_and_without_kernel_tls(path, tunnel, backends, bulk):
    """tls=1 data connections carry the same bytes whether the kernel seals the records
    (kTLS, where the kernel has the "tls" ULP) or OpenSSL does (no ULP, or
    POSTERN_NO_KTLS=1); each end says once which one it got, and says it truly."""
    up = backends(digest_handler, name="digest")
    t = tunnel("reverse", up.port, server_params="tls=1", env=KTLS[path]).start()
    assert upload(t.user_port, bulk) == f"{BULK} {sha256_hex(bulk)}\n"
    down = backends(source_handler(bulk), name="source")
    t2 = tunnel("reverse", down.port, server_params="tls=1", env=KTLS[path]).start()
    assert download(t2.user_port) == (BULK, sha256_hex(bulk))
    for p in (t.server, t.client):
        said = [ln for ln in p.lines() if "kernel TLS" in ln]
        assert len(said) == 1, p.output()[-2000:]
        if path == "user-space":
            assert "kernel TLS off (POSTERN_NO_KTLS)" in said[0]
        elif _kernel_has_tls_ulp():
            assert "kernel TLS on for send and receive" in said[0], said[0]
        else:
            assert "kernel TLS unavailable" in said[0], said[0]


def test_reuseport_shares_a_port_between_processes(postern, backends):
    """POSTERN_REUSEPORT=1 lets a second process (a second worker with its own loop)
    listen on the same TCP port, and the kernel gives each some of the connections;
    without it a second process on a taken port fails with 'address already in use'."""
    a, b = backends(id_handler("A"), name="A"), backends(id_handler("B"), name="B")
    env = {"POSTERN_REUSEPORT": "1"}
    first = postern.client([a.port], "noudp=1", env=env)
    url = client_url(first.port, [b.port], "mode=1&noudp=1")
    second = postern.run([url], env)
    second.wait_for_log(r"listening on")
    seen = {ask_id(first.port) for _ in range(200)}
    assert seen == {"A", "B"}, (seen, second.output()[-1000:])
    third = postern.run([client_url(first.port, [b.port], "mode=1&noudp=1")])
    assert third.proc.wait(timeout=5) == 1
    third.wait_for_log(r"address already in use", stream="stderr")
