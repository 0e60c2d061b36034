"""The head of the second and later requests on a kept-alive HTTP connection has a
deadline from its first byte, as the first request's has (docs/security.md, Admission):
one byte a second keeps the connection only until that deadline, not for as long as it
trickles (an idle timer re-armed by each byte would keep it for ever).

- the hub's HTTP router: POSTERN_HANDSHAKE_TIMEOUT (3 s here);
- the master's API: 10 s for a whole request (master/http_gate.h)."""
import socket
import time

import pytest

from harness.attack import child_nofile
from hub_util import USER_IP, HubStack, Route, account, read_response
from master_util import start_master

SLOW = b"X-Slow: " + b"a" * 200


def _second_head_lifetime(port, first, head, limit, src=USER_IP):
    """On one connection from <src>: send <first> (a whole keep-alive request), read its
    response (must be 200), then send <head> one byte a second. Return the seconds from
    the first byte of <head> until the server closed the connection (None: open after
    <limit> s)."""
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.settimeout(5)
    try:
        s.sendall(first)
        f = s.makefile("rb")
        r = read_response(f)
        assert r.status == 200, r
        assert (r.header("Connection") or "").lower() != "close", r
        t0 = time.monotonic()
        for i in range(int(limit)):
            try:
                s.sendall(head[i % len(head):i % len(head) + 1])
            except OSError:
                return time.monotonic() - t0
            s.settimeout(max(0.01, t0 + i + 1 - time.monotonic()))
            try:
                s.recv(4096)    # the end, or an answer (a 400/408 page): over
                return time.monotonic() - t0
            except socket.timeout:
                continue
            except OSError:
                return time.monotonic() - t0
        return None
    finally:
        s.close()


def test_hub_http_keepalive_second_head_has_a_deadline(tmp_path):
    st = HubStack(tmp_path)
    try:
        acct = account("web")
        hub = st.hub([acct], http=True, env={"POSTERN_HANDSHAKE_TIMEOUT": "3s"})
        echo = st.http_echo("A")
        st.agent(hub, acct["token"], [Route("http", echo.port, host="a.hub.test")])
        first = b"GET /one HTTP/1.1\r\nHost: a.hub.test\r\n\r\n"
        head = b"GET /two HTTP/1.1\r\nHost: a.hub.test\r\n" + SLOW
        took = _second_head_lifetime(hub.http_port, first, head, 10)
        assert took is not None, "a second head trickling a byte a second was kept for 10 s"
        assert 2.5 <= took <= 4.5, f"closed {took:.1f} s after the second head began; " \
                                   "the deadline is 3 s"
    finally:
        st.cleanup()


@pytest.mark.asan_skip
def test_master_api_keepalive_second_head_has_a_deadline(postern, tmp_path):
    with child_nofile(256):
        m = start_master(postern, tmp_path)
    first = (f"GET {m.prefix}/v1/instances HTTP/1.1\r\nHost: x\r\nX-API-Key: {m.key}\r\n\r\n"
             ).encode()
    head = f"GET {m.prefix}/v1/instances HTTP/1.1\r\nHost: x\r\n".encode() + SLOW
    took = _second_head_lifetime(m.port, first, head, 16)
    assert took is not None, \
        "a second request head trickling a byte a second was kept for 16 s\n" + \
        "\n".join(m.p.lines("stderr")[-10:])
    assert 9.0 <= took <= 12.5, f"closed {took:.1f} s after the second head began; " \
                                "the deadline is 10 s"
