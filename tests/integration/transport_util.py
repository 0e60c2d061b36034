"""What the tests of every transport (type=1, 2, 3) check the same way: bulk bytes each way
by sha256, a half-close, UDP datagrams whole, kill -9 of either end and recovery."""
import os
import socket
import time

from conftest import connect, digest_handler, recv_all, sha256_hex
from tunnel_util import CONNECTED_RE, download_all, kill9, stream_source_handler, \
    upload_pattern, wait_curl
from udp_util import UdpClient, start_service


def bulk_each_way(start, backends, bulk, timeout):
    """<bulk> up through one tunnel <start>(backend_port) and down through another, each
    compared by sha256 with what the backend saw or sent."""
    up = backends(digest_handler, name="digest")
    t = start(up.port)
    n, digest, reply = upload_pattern(t.user_port, bulk, timeout=timeout)
    assert reply == f"{bulk.size} {digest}\n", f"backend saw {reply!r}"
    down = backends(stream_source_handler(bulk), name="source")
    t2 = start(down.port)
    n, digest = download_all(t2.user_port, timeout=timeout)
    _, sent_n, sent_digest = down.wait_record(lambda r: r[0] == "sent", timeout=10)
    assert (n, digest) == (bulk.size, sent_digest)


def half_close_digest(start, backends, repeat):
    """An upload of bytes(range(256)) * <repeat>, then the half-close: the reply (the
    backend's digest) comes after the end of stream, through <start>(backend_port)."""
    b = backends(digest_handler, name="digest")
    t = start(b.port)
    payload = b"half-close|" + bytes(range(256)) * repeat
    with connect(t.user_port) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, limit=200)
    assert reply.decode() == f"{len(payload)} {sha256_hex(payload)}\n"


def udp_sizes_cross(flow, postern, udp_port, params, sizes):
    """Datagrams of each size in <sizes> cross a UDP service with <params> whole."""
    s = start_service(flow, postern, udp_port, params=params)
    with UdpClient(s.port) as c:
        for n in sizes:
            c.exchange(os.urandom(n), timeout=1.5, retries=2)
    s.assert_alive()


def kill9_either_end_and_recover(t, path, content, timeout=10):
    """kill -9 the client of the started tunnel <t>, start another; then kill -9 the
    server and restart it: each time the tunnel serves <path> again."""
    wait_curl(t.user_port, path, content, timeout=timeout)
    mark = t.server.mark()
    kill9(t.client)
    again = t.start_client()
    t.wait_ready(client=again, server_start=mark)
    wait_curl(t.user_port, path, content, timeout=timeout)
    mark_c = again.mark()
    kill9(t.server)
    t.restart_server()
    again.wait_for_log(CONNECTED_RE, timeout=timeout, start=mark_c)
    wait_curl(t.user_port, path, content, timeout=timeout)


def wait_echo_route(port, payload, timeout=10):
    """Until an echo behind <port> (a hub's route) gives <payload> back whole."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with connect(port, timeout=3) as s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                if recv_all(s, limit=len(payload) + 100) == payload:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"the route on {port} never answered"
        time.sleep(0.2)
