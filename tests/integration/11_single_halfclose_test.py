"""Half-close: a FIN from one side becomes shutdown(SHUT_WR) on the other, and the other
direction keeps flowing until it ends too."""
import os
import socket
import time

from conftest import connect, recv_all, sha256_hex, shut_first_handler, slow_digest_handler


def test_client_shuts_write_and_still_reads_the_reply(postern, backends):
    # The digest backend replies only after it has read EOF, and one second later: the
    # reply can arrive only if postern forwarded the client's FIN as a half-close and
    # kept the other way open (not just for a short grace time, as socat -t does).
    b = backends(slow_digest_handler(1.0), name="digest")
    p = postern.client([b.port])
    payload = os.urandom(300_000)
    with connect(p.port) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, limit=200)
    assert reply.decode() == f"{len(payload)} {sha256_hex(payload)}\n"


def test_backend_shuts_write_and_client_can_still_send(postern, backends):
    greeting = b"hello, then FIN"
    b = backends(shut_first_handler(greeting), name="shut-first")
    p = postern.client([b.port])
    late = b"sent after the backend's FIN " + os.urandom(50_000)
    with connect(p.port) as s:
        # The client sees the greeting and then EOF (the backend's FIN, forwarded) ...
        assert recv_all(s, limit=len(greeting)) == greeting
        # ... and can still send, also after a while (a relay that closes the pair a
        # short grace time after the first FIN, as socat -t does, must fail here) ...
        time.sleep(1.0)
        s.sendall(late)
        s.shutdown(socket.SHUT_WR)
        # ... and the backend must receive every byte.
        got = b.wait_record(lambda r: len(r) > 0, timeout=5)
        assert got == late, f"backend got {len(got)} bytes, expected {len(late)}"
