"""The CHECK_POINT line: TCPRX counts bytes read from users, TCPTX bytes written back to
them, TCPS the open connections."""
import hashlib
import os
import socket

from conftest import CHECK_POINT_RE, connect, recv_all, sha256_hex


def digest_if_data(backend, conn):
    """Like digest_handler, but say nothing to a client that sent nothing: the readiness
    probe and the held connection below must not add to TCPTX."""
    h = hashlib.sha256()
    n = 0
    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    if n:
        conn.sendall(f"{n} {h.hexdigest()}\n".encode())


def checkpoint(tcps, tcprx, tcptx):
    return (rf"CHECK_POINT\|MODE=1\|PING=\d+ms\|POOL=0\|TCPS={tcps}\|UDPS=0"
            rf"\|TCPRX={tcprx}\|TCPTX={tcptx}\|UDPRX=0\|UDPTX=0(\s|$)")


def test_checkpoint_counts_bytes_and_connections(postern, backends):
    b = backends(digest_if_data, name="digest")
    p = postern.client([b.port], env={"POSTERN_REPORT_INTERVAL": "1s"})
    # The line is there at all, in the documented shape.
    p.wait_for_log(CHECK_POINT_RE, timeout=5)

    upload = os.urandom(100_000)
    with connect(p.port) as s:
        s.sendall(upload)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, limit=200)
    assert reply.decode() == f"{len(upload)} {sha256_hex(upload)}\n"
    rx, tx = len(upload), len(reply)

    # A later line shows exactly those bytes and no open connection.
    start = p.mark()
    p.wait_for_log(checkpoint(0, rx, tx), timeout=5, start=start)

    # One connection held open (idle): TCPS=1, byte counts unchanged.
    held = connect(p.port)
    try:
        start = p.mark()
        p.wait_for_log(checkpoint(1, rx, tx), timeout=5, start=start)
    finally:
        held.close()
    start = p.mark()
    p.wait_for_log(checkpoint(0, rx, tx), timeout=5, start=start)


def test_info_log_says_listening_on(postern, echo_backend):
    p = postern.client([echo_backend.port])
    p.wait_for_log(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO +.*listening on", timeout=5)
