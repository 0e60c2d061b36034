"""Tunnel lifecycle: a client killed mid-transfer, a client restarted, a server killed
and restarted on the same ports, a second client while one is attached, and the pool
(min= idle data connections, a burst of 300, refilled afterwards)."""
import os
import signal
import time

from conftest import connect, recv_exact
from tunnel_util import (ATTACHED_RE, BUSY_RE, CONNECTED_RE, REPORT_INTERVAL,
                         big_http_server, concurrent_echo, count_lines, drain_until_closed,
                         kill9, tunnel, wait_checkpoint, wait_curl)  # noqa: F401 - fixtures


def test_kill9_client_mid_transfer_then_restart_client_and_server(tunnel, big_http_server):
    port, path, content = big_http_server
    t = tunnel("reverse", port, key="life" + os.urandom(6).hex()).start()
    server = t.server
    wait_curl(t.user_port, path, content, timeout=10)

    # a download of the (huge) big.bin is running through the tunnel ...
    user = connect(t.user_port, timeout=10)
    try:
        user.sendall(b"GET /big.bin HTTP/1.0\r\nHost: localhost\r\n\r\n")
        got = 0
        while got < 4 << 20:
            b = user.recv(1 << 20)
            assert b, f"EOF after {got} bytes of big.bin"
            got += len(b)
        # ... when the client dies: the server must close the user's connection
        kill9(t.client)
        drain_until_closed(user, timeout=3 * REPORT_INTERVAL + 2)
    finally:
        user.close()

    # a new client takes over within a few seconds
    mark = server.mark()
    again = t.start_client()
    t.wait_ready(client=again, server_start=mark)
    wait_curl(t.user_port, path, content, timeout=5, what="curl with the restarted client")

    # the server is killed and restarted on the same ports: the client comes back by
    # itself (POSTERN_BACKOFF_MAX=2s) and curl works within ~10 s
    mark_c = again.mark()
    kill9(server)
    t0 = time.monotonic()
    server2 = t.restart_server()
    again.wait_for_log(CONNECTED_RE, timeout=10, start=mark_c)
    server2.wait_for_log(ATTACHED_RE, timeout=5)
    remaining = max(1.0, 10 - (time.monotonic() - t0))
    wait_curl(t.user_port, path, content, timeout=remaining,
              what="curl after the server restart")
    assert again.alive()


def test_frozen_client_session_ends_after_3_intervals_and_thawed_client_returns(
        tunnel, big_http_server):
    """SIGSTOP keeps the client's sockets open (no FIN): only the liveness check can end
    the session, and ending it must close the in-flight user connection."""
    port, path, content = big_http_server
    t = tunnel("reverse", port, key="frozen" + os.urandom(6).hex()).start()
    client = t.client
    wait_curl(t.user_port, path, content, timeout=10)
    user = connect(t.user_port, timeout=10)
    try:
        user.sendall(b"GET /big.bin HTTP/1.0\r\nHost: localhost\r\n\r\n")
        got = 0
        while got < 4 << 20:
            b = user.recv(1 << 20)
            assert b, f"EOF after {got} bytes of big.bin"
            got += len(b)
        mark = client.mark()
        client.proc.send_signal(signal.SIGSTOP)
        try:
            drain_until_closed(user, timeout=3 * REPORT_INTERVAL + 3)
        finally:
            client.proc.send_signal(signal.SIGCONT)
    finally:
        user.close()
    # thawed, the client finds its session gone and connects again
    client.wait_for_log(CONNECTED_RE, timeout=10, start=mark)
    wait_curl(t.user_port, path, content, timeout=10, what="curl after the thaw")
    assert client.alive()


def test_second_client_is_told_busy_and_first_keeps_working(tunnel, http_server):
    port, path, content = http_server
    key = "busy" + os.urandom(6).hex()
    t = tunnel("reverse", port, key=key).start()
    first = t.client
    wait_curl(t.user_port, path, content, timeout=10)

    second = t.start_client()
    assert t.client is first
    second.wait_for_log(BUSY_RE, timeout=10)
    wait_curl(t.user_port, path, content, timeout=5, what="curl with the first client")
    assert first.alive()
    assert count_lines(t.server, ATTACHED_RE) == 1, t.server.output()
    # the first session is still the one serving: kill the second, curl still works
    kill9(second)
    wait_curl(t.user_port, path, content, timeout=5, what="curl after the second left")
    assert count_lines(t.server, ATTACHED_RE) == 1, t.server.output()


def test_pool_min_8_burst_of_300_and_refill(tunnel, echo_backend):
    t = tunnel("reverse", echo_backend.port, client_params="min=8").start()
    v = wait_checkpoint(t.client, lambda v: v["pool"] >= 8, timeout=10,
                        what="client CHECK_POINT with POOL >= 8")
    assert v["udps"] == 0

    with connect(t.user_port) as s:
        s.sendall(b"warm")
        assert recv_exact(s, 4) == b"warm"

    n = 300
    bad = concurrent_echo(t.user_port, n, size=lambda i: 64 + i, timeout=60)
    assert not bad, f"{len(bad)} of {n} connections failed, e.g. {list(bad.items())[:5]}"

    mark = t.client.mark()
    wait_checkpoint(t.client, lambda v: v["pool"] >= 8, timeout=10, start=mark,
                    what="client CHECK_POINT with POOL >= 8 after the burst")
