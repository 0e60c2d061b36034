"""Single-end forwarding: HTTP through curl, 64 MiB both ways, 200 concurrent streams."""
import hashlib
import os
import socket
import threading

import pytest

from conftest import (BULK_TIMEOUT, connect, curl, digest_handler, recv_all,
                      recv_exact, sha256_hex, source_handler)
from harness.procs import require_ipv6_loopback

BULK = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def bulk_data():
    return os.urandom(BULK)


def test_curl_through_forwarder_gets_the_file(postern, http_server):
    port, path, content = http_server
    p = postern.client([port])
    r = curl(f"http://127.0.0.1:{p.port}{path}")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert len(r.stdout) == len(content) and r.stdout == content


def test_ipv6_listener(postern, echo_backend):
    require_ipv6_loopback()
    p = postern.client([echo_backend.port], listen_host="::1")
    with connect(p.port, "::1") as s:
        s.sendall(b"over ipv6")
        assert recv_exact(s, 9) == b"over ipv6"


def test_upload_64mib_sha256(postern, backends, bulk_data):
    b = backends(digest_handler, name="digest")
    p = postern.client([b.port])
    with connect(p.port, timeout=BULK_TIMEOUT) as s:
        s.sendall(bulk_data)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, limit=200)
    assert reply.decode() == f"{BULK} {sha256_hex(bulk_data)}\n"


def test_download_64mib_sha256(postern, backends, bulk_data):
    b = backends(source_handler(bulk_data), name="source")
    p = postern.client([b.port])
    h = hashlib.sha256()
    n = 0
    with connect(p.port, timeout=BULK_TIMEOUT) as s:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
    assert n == BULK
    assert h.hexdigest() == sha256_hex(bulk_data)


def test_200_concurrent_connections_echo_their_own_payload(postern, echo_backend):
    n = 200
    p = postern.client([echo_backend.port])
    barrier = threading.Barrier(n, timeout=30)
    results = [None] * n

    def one(i):
        payload = f"conn-{i:03d}|".encode() + os.urandom(1000 + 97 * i)
        try:
            with connect(p.port, timeout=30) as s:
                barrier.wait()  # all n connections are open at the same time
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                got = recv_all(s, limit=len(payload))
            results[i] = "ok" if got == payload else f"mismatch: {len(got)}/{len(payload)} bytes"
        except Exception as e:  # noqa: BLE001 - reported below
            barrier.abort()
            results[i] = f"{type(e).__name__}: {e}"

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "client threads still running after 60 s"
    bad = {i: r for i, r in enumerate(results) if r != "ok"}
    # The first real error is more telling than the BrokenBarrierErrors it caused.
    first = sorted(bad.items(), key=lambda kv: str(kv[1]).startswith("BrokenBarrier"))[:5]
    assert not bad, f"{len(bad)} of {n} connections failed, e.g. {first}"
    assert echo_backend.accepted >= n
