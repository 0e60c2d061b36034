"""A user that half-closes in the middle of a download and then goes away (its socket
reset) over the multiplexed transports (issue 15; docs/internals/quic.md "Streams'
lifetime"), on loopback, both flows:

- the service behind the tunnel sends until its connection fails; the user reads 2 MiB,
  shuts its write side (the tunnel half-closes the exchange), then closes with unread
  bytes (a reset): the service's connection must fail within seconds, as it does with
  type=0 (the baseline here), and the tunnel goes on (a new exchange is echoed)
- type=1 (QUIC streams): the user's end resets the stream both ways (RESET_STREAM and
  STOP_SENDING), not only after the peer ends it; type=3 (HTTP/2 streams): RST_STREAM;
  type=2 (a WebSocket per exchange): its TCP connection is reset
- 40 such users in a row on one connection (type=1, type=3): every service connection
  ends, and 8 MiB are echoed whole after
"""
import os
import socket
import threading
import time

import pytest

from conftest import connect, recv_all
from harness.backends import echo_handler, send_until_gone
from harness.net import recv_exact
from tunnel_util import tunnel  # noqa: F401 - fixture

GONE_WITHIN = 10            # seconds the service's connection may outlive the user
SERVICE_FOR = 20            # the service gives up after this long (a test bound)


def service(backend, conn):
    """'F': send until the connection fails (SERVICE_FOR s at most) and record how it
    ended; 'E': echo to EOF."""
    if recv_exact(conn, 1) == b"E":
        echo_handler(backend, conn)
    else:
        send_until_gone(backend, conn, SERVICE_FOR)


def user_gone_mid_download(port, pause=0.0):
    """A user reads 2 MiB of the service's endless download, half-closes (the tunnel
    half-closes the exchange), waits <pause> s and closes with unread bytes (a reset)."""
    u = connect(port)
    try:
        u.settimeout(20)
        u.sendall(b"F")
        got = 0
        while got < 2 << 20:
            b = u.recv(1 << 20)
            assert b, f"the download ended after {got} bytes"
            got += len(b)
        u.shutdown(socket.SHUT_WR)
        time.sleep(pause)
    finally:
        u.close()


@pytest.mark.asan_keep("0-reverse", "1-forward", "2-reverse", "3-forward")
@pytest.mark.parametrize("flow", ["reverse", "forward"])
@pytest.mark.parametrize("typ", [0, 1, 2, 3])
def test_a_user_gone_mid_download_ends_the_service_connection(typ, flow, tunnel, backends):
    svc = backends(service, name="service")
    t = tunnel(flow, svc.port, server_params=f"type={typ}").start()
    m = t.client.wait_for_log(r"connected to .* type=(\d)", timeout=10)
    assert m.group(1) == str(typ), m.string
    user_gone_mid_download(t.user_port, pause=0.3)
    left = time.monotonic()
    _, when, n, end = svc.wait_record(lambda r: r[0] == "gone", timeout=SERVICE_FOR + 10)
    assert when - left < GONE_WITHIN, (f"type={typ} {flow}: the service's connection stayed "
                                       f"open {when - left:.1f}s after the user left "
                                       f"({n >> 20} MiB sent, {end})")
    print(f"type={typ} {flow}: the service's connection ended {(when - left) * 1000:.0f} ms "
          f"after the user left ({end}, {n >> 20} MiB sent)")
    # the tunnel goes on
    with connect(t.user_port) as s:
        s.settimeout(20)
        s.sendall(b"Estill here")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s, limit=100) == b"still here"
    assert t.server.alive() and t.client.alive()


@pytest.mark.asan_keep("1")
@pytest.mark.parametrize("typ", [1, 3])
def test_users_gone_one_after_another_leave_the_windows_whole(typ, tunnel, backends):
    # Each user leaves with some of the service's bytes received by the tunnel and not
    # read (they give their room back to the connection's window): 40 in a row on one
    # connection, every service connection ends, and the tunnel still carries 8 MiB.
    svc = backends(service, name="service")
    t = tunnel("reverse", svc.port, server_params=f"type={typ}").start()
    t.client.wait_for_log(r"connected to .* type=", timeout=10)
    n = 40
    t0 = time.monotonic()
    for i in range(n):
        user_gone_mid_download(t.user_port)
    data = os.urandom(8 << 20)
    with connect(t.user_port) as s:
        s.settimeout(20)
        s.sendall(b"E")
        got = bytearray()
        sender = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)),
                                  daemon=True)
        sender.start()
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got += b
        sender.join(20)
    assert bytes(got) == data, f"type={typ}: {len(got)} of {len(data)} bytes echoed after " \
                               f"{n} users left mid-download"
    took = time.monotonic() - t0
    deadline = time.monotonic() + GONE_WITHIN
    while sum(r[0] == "gone" for r in svc.records) < n:
        assert time.monotonic() < deadline, \
            f"type={typ}: {sum(r[0] == 'gone' for r in svc.records)} of {n} service " \
            f"connections ended"
        time.sleep(0.05)
    print(f"type={typ}: {n} users gone then 8 MiB echoed in {took:.1f} s")
