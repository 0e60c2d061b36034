"""Graceful shutdown of the hub and of the proxy entrance (docs/usage.md "Exit codes and
signals"): on SIGTERM they stop accepting users on every port, let what is open finish
within POSTERN_SHUTDOWN_TIMEOUT, then exit 0; a second signal closes at once.

- hub, tcp route: the route's port refuses, an open relay is still served, closing it ends
  the hub at once
- hub, http=: a connection between requests closes at the signal, a request in flight gets
  its whole response (then the connection closes), the http port refuses
- proxy: SOCKS5 and HTTP CONNECT relays are still served, the port refuses; a second
  SIGTERM closes what is left at once"""
import signal
import socket
import threading
import time

from conftest import LOOPBACK, echo_handler
from drain_util import drain_then_finish, exchange_refused, open_echo
from hub_util import HttpConn, Route, account, hubstack, port_block  # noqa: F401 - fixture
from proxy_util import closed_within, recv_n, socks_open, start_proxy, write_users

DRAIN = {"POSTERN_SHUTDOWN_TIMEOUT": "10s"}


def refused(port):
    try:
        socket.create_connection((LOOPBACK, port), timeout=1).close()
    except OSError:
        return True
    return False


def test_hub_sigterm_drains_a_tcp_route(hubstack):
    base = port_block(3)
    acct = account("drain-tcp")
    hub = hubstack.hub([acct], ports=(base, base + 2), env=DRAIN)
    echo = hubstack.tcp(echo_handler, name="tcp-echo")
    route = Route("tcp", echo.port, port=base + 1)
    a = hubstack.agent(hub, acct["token"], [route])
    port = a.port_of(route)
    s = open_echo(port)
    drain_then_finish(hub.proc, s, lambda: exchange_refused(port))
    assert a.proc.alive()                       # the agent reconnects, it does not exit


def slow_http_handler(release):
    """An HTTP/1.1 service that answers each request once <release> is set."""
    def handler(backend, conn):
        buf = b""
        while b"\r\n\r\n" not in buf:
            b = conn.recv(4096)
            if not b:
                return
            buf += b
        backend.record("request")
        release.wait(10)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nslow!")
        conn.settimeout(5)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass
    return handler


def test_hub_sigterm_lets_an_http_request_finish(hubstack):
    acct = account("drain-http")
    hub = hubstack.hub([acct], env=DRAIN)
    release = threading.Event()
    svc = hubstack.tcp(slow_http_handler(release), name="slow-http")
    hubstack.agent(hub, acct["token"], [Route("http", svc.port, host="slow.hub.test")])
    idle = socket.create_connection((LOOPBACK, hub.http_port), timeout=5)
    busy = HttpConn(hub.http_port)
    busy.send("slow.hub.test", "/")
    svc.wait_record(lambda r: r == "request", timeout=5)
    hub.proc.send_signal(signal.SIGTERM)
    hub.proc.wait_for_log(r"no new connections; letting \d+ finish", timeout=3)
    assert closed_within(idle, 2), "an idle keep-alive connection is closed by the drain"
    assert refused(hub.http_port)
    assert hub.proc.alive()
    release.set()
    r = busy.read()
    assert r.status == 200 and r.body == b"slow!", r
    assert closed_within(busy.sock, 2), "the connection ends after its response"
    assert hub.proc.wait_exit(3) == 0, hub.proc.output()
    assert "every connection finished" in hub.proc.output()
    busy.sock.close()
    idle.close()


def socks_echo(proxy, echo_port):
    s, status, rep, _ = socks_open(proxy.port, "alice", "alice-pw-1", LOOPBACK, echo_port)
    assert status == 0 and rep == 0
    s.sendall(b"ping")
    assert recv_n(s, 4) == b"ping"
    return s


def http_connect_echo(proxy, echo_port):
    s = socket.create_connection((LOOPBACK, proxy.port), timeout=5)
    s.sendall(f"CONNECT {LOOPBACK}:{echo_port} HTTP/1.1\r\nHost: {LOOPBACK}:{echo_port}\r\n"
              "Proxy-Authorization: Basic YWxpY2U6YWxpY2UtcHctMQ==\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        assert b, head
        head += b
    assert head.startswith(b"HTTP/1.1 200"), head
    s.sendall(b"ping")
    assert recv_n(s, 4) == b"ping"
    return s


def test_proxy_sigterm_drains(postern, tmp_path, echo_backend):
    users = write_users(tmp_path / "users.json", [{"name": "alice", "password": "alice-pw-1"}])
    p = start_proxy(postern, users, env=DRAIN)
    s = socks_echo(p, echo_backend.port)
    h = http_connect_echo(p, echo_backend.port)
    p.send_signal(signal.SIGTERM)
    p.wait_for_log(r"no new connections; letting 2 finish", timeout=3)
    assert refused(p.port)
    for c in (s, h):
        c.sendall(b"still")
        assert recv_n(c, 5) == b"still"
    s.close()
    time.sleep(0.3)
    assert p.alive()
    t0 = time.monotonic()
    h.close()
    assert p.wait_exit(4) == 0 and time.monotonic() - t0 < 4.0, p.output()  # the drain is 10 s
    assert "every connection finished" in p.output()


def test_proxy_second_signal_closes_at_once(postern, tmp_path, echo_backend):
    users = write_users(tmp_path / "users.json", [{"name": "alice", "password": "alice-pw-1"}])
    p = start_proxy(postern, users, env=DRAIN)
    s = socks_echo(p, echo_backend.port)
    p.send_signal(signal.SIGTERM)
    p.wait_for_log(r"no new connections; letting 1 finish", timeout=3)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait_exit(4) == 0 and time.monotonic() - t0 < 4.0, p.output()  # the drain is 10 s
    assert "second signal, closing now" in p.output()
    assert closed_within(s, 2)
    s.close()
