"""notcp=1 / noudp=1 on a single-end forwarder and on a tunnel server (which tells the
client): the disabled protocol gets nothing through, the other one works.
Backends: a TCP echo and a UDP echo on the same port number."""
import os
import socket
import subprocess

import pytest

from conftest import client_url, connect, recv_all
from udp_util import (UDP_ENV, UdpClient, dual_echo, start_service, tcp_refused,  # noqa: F401
                      udp_backends)

CASES = [("single", "notcp"), ("single", "noudp"), ("reverse", "notcp"),
         ("reverse", "noudp"), ("forward", "notcp"), ("forward", "noudp")]


def tcp_echo_ok(port):
    payload = os.urandom(5000)
    with connect(port) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = recv_all(s, limit=len(payload))
    assert got == payload, f"TCP echo: got {len(got)} of {len(payload)} bytes back"


@pytest.mark.parametrize("mode,off", CASES, ids=[f"{m}-{o}" for m, o in CASES])
def test_disabled_protocol_is_off_and_the_other_works(mode, off, postern, backends,
                                                       udp_backends):
    tb, ub = dual_echo(backends, udp_backends)
    s = start_service(mode, postern, tb.port, params=f"{off}=1",
                      tcp=(off != "notcp"), udp=(off != "noudp"))
    if off == "notcp":
        # UDP works (the probe did already; once more from another address)
        with UdpClient(s.port) as c:
            c.exchange(os.urandom(300), timeout=1.5, retries=2)
        assert tcp_refused(s.port), f"notcp=1, but a TCP connect to {s.port} was accepted"
        assert tb.accepted == 0, f"the TCP backend got {tb.accepted} connections"
    else:
        tcp_echo_ok(s.port)
        rx0 = ub.counts()[0]
        with UdpClient(s.port) as c:
            c.expect_silence([os.urandom(100) for _ in range(5)], window=1.5)
        assert ub.counts()[0] == rx0 == 0, \
            f"noudp=1, but the UDP backend got {ub.counts()[0]} datagrams"
    s.assert_alive()


def test_second_postern_on_a_taken_udp_port_exits_1(postern, udp_backends):
    """--help: exit code 1 for a run-time error such as 'address in use'. A second
    UDP-only forwarder on the port of a running one must not start (and share it)."""
    u = udp_backends()
    first = start_service("single", postern, u.port, params="notcp=1")
    second = postern.run([client_url(first.port, [u.port], "notcp=1")], UDP_ENV)
    try:
        rc = second.proc.wait(5)
    except subprocess.TimeoutExpired:
        rc = None
    assert rc == 1, (f"second postern on UDP port {first.port}: exit {rc} (None = still "
                     f"running after 5s), output:\n{second.output()}")
    # The exit can be seen before the reader thread has stored the last line.
    second.wait_for_log(r"address already in use", stream="stderr")
    with UdpClient(first.port) as c:
        c.exchange(b"the first one still serves", timeout=1.5, retries=2)
    first.assert_alive()
