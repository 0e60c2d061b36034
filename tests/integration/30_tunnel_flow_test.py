"""Tunnel data path in both flows: curl, 256 MiB each way (sha256), 500 concurrent
echo connections, half-close.

reverse: server://T/127.0.0.1:P + client://T/<backend>   users -> server's P -> backend
forward: server://T/<backend>?mode=2 + client://T/127.0.0.1:P   users -> client's P -> backend
"""
import socket

import pytest

from conftest import connect, curl, digest_handler, recv_all, sha256_hex
from tunnel_util import (Pattern, concurrent_echo, download_all, stream_source_handler,
                         tunnel, upload_pattern)  # noqa: F401 - fixture

FLOWS = ["reverse", "forward"]
BULK_MIB = 256


@pytest.fixture(scope="module")
def bulk():
    return Pattern(BULK_MIB)


@pytest.mark.parametrize("flow", FLOWS)
def test_curl_through_tunnel_gets_the_file(flow, tunnel, http_server):
    port, path, content = http_server
    t = tunnel(flow, port).start()
    r = curl(f"http://127.0.0.1:{t.user_port}{path}")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert len(r.stdout) == len(content) and r.stdout == content


@pytest.mark.parametrize("flow", FLOWS)
def test_upload_256mib_sha256(flow, tunnel, backends, bulk):
    b = backends(digest_handler, name="digest")
    t = tunnel(flow, b.port).start()
    n, digest, reply = upload_pattern(t.user_port, bulk, timeout=60)
    assert n == bulk.size
    assert reply == f"{bulk.size} {digest}\n", \
        f"backend saw {reply.strip()!r}, sent {n} bytes with sha256 {digest}"


@pytest.mark.parametrize("flow", FLOWS)
def test_download_256mib_sha256(flow, tunnel, backends, bulk):
    b = backends(stream_source_handler(bulk), name="source")
    t = tunnel(flow, b.port).start()
    n, digest = download_all(t.user_port, timeout=60)
    # the readiness probe may have made the backend start (and abandon) other streams
    _, sent_n, sent_digest = b.wait_record(lambda r: r[0] == "sent", timeout=10)
    assert (n, digest) == (bulk.size, sent_digest), \
        f"received {n} bytes sha256 {digest}, backend sent {sent_n} bytes sha256 {sent_digest}"


@pytest.mark.parametrize("flow", FLOWS)
def test_500_concurrent_connections_echo_their_own_payload(flow, tunnel, echo_backend):
    n = 500
    t = tunnel(flow, echo_backend.port).start()
    bad = concurrent_echo(t.user_port, n, timeout=60)
    assert not bad, f"{len(bad)} of {n} connections failed, e.g. {list(bad.items())[:5]}"
    assert echo_backend.accepted >= n
    # and the tunnel is still usable afterwards
    with connect(t.user_port) as s:
        s.sendall(b"after the burst")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s, limit=100) == b"after the burst"


@pytest.mark.parametrize("flow", FLOWS)
def test_half_close_reply_after_eof(flow, tunnel, backends):
    """The user sends, shuts its write side and still reads the whole reply, which the
    backend only computes after it saw EOF through the tunnel."""
    b = backends(digest_handler, name="digest")
    t = tunnel(flow, b.port).start()
    payload = b"half-close|" + bytes(range(256)) * 4000
    with connect(t.user_port) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, limit=200)
    assert reply.decode() == f"{len(payload)} {sha256_hex(payload)}\n"
    b.wait_record(lambda r: r == (len(payload), sha256_hex(payload)), timeout=5)
