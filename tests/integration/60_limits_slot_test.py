"""slot=<n>: at most n TCP connections being handled plus UDP sessions per instance.
Over the limit a new TCP connection is closed at once without reaching the target, a
datagram from a new UDP user is dropped, and 'slot limit' is logged at most about once
per second; a released connection or an expired session frees its slot."""
import os
import threading
import time

from conftest import connect, echo_handler
from limits_util import SLOT_RE, closed_promptly, held_echo
from tunnel_util import count_lines
from udp_util import UdpClient, dual_echo, udp_backends, udp_entry  # noqa: F401 - fixture

UDP_IDLE_ENV = {"POSTERN_UDP_IDLE": "1s"}


def held_echo_retry(port, tag, timeout=3.0):
    """held_echo, retried for up to <timeout> s while the connection is refused by the
    slot limit (a slot whose connection just closed is released asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return held_echo(port, tag, timeout=2.0)
        except (OSError, AssertionError) as e:
            if time.monotonic() >= deadline:
                raise AssertionError(f"{tag}: no working connection within {timeout}s: "
                                     f"{type(e).__name__}: {e}") from None
            time.sleep(0.1)


def test_tcp_connection_over_the_limit_is_closed_at_once(postern, backends):
    echo = backends(echo_handler, name="echo")
    p = postern.client([echo.port], "slot=2")
    held = []
    try:
        held.append(held_echo_retry(p.port, "held-1"))
        held.append(held_echo_retry(p.port, "held-2"))
        time.sleep(0.3)
        before = echo.accepted
        assert echo.live_connections() == 2, echo.live_connections()

        mark = p.mark()
        with connect(p.port) as s:
            how, data, secs = closed_promptly(s, 1.0, send=b"third connection\n")
        assert how in ("eof", "reset") and data == b"", \
            f"3rd connection with slot=2: {how} after {secs:.2f}s, got {data!r}"
        time.sleep(0.5)
        assert echo.accepted == before, \
            f"the backend got a connection for the rejected 3rd user ({echo.accepted} > {before})"
        p.wait_for_log(SLOT_RE, timeout=3, start=mark)

        # the held connections still work
        for i, s in enumerate(held):
            s.sendall(b"still-%d" % i)
            assert s.recv(100) == b"still-%d" % i

        # closing one frees its slot
        held.pop(0).close()
        held.append(held_echo_retry(p.port, "after-release", timeout=3))
        assert p.alive(), p.output()
    finally:
        for s in held:
            s.close()


def test_slot_limit_warning_is_rate_limited(postern, backends):
    echo = backends(echo_handler, name="echo")
    p = postern.client([echo.port], "slot=2")
    held = [held_echo_retry(p.port, "held-1"), held_echo_retry(p.port, "held-2")]
    try:
        time.sleep(0.3)
        before = echo.accepted
        mark = p.mark()
        t0 = time.monotonic()
        outcomes = {}
        for i in range(50):
            with connect(p.port) as s:
                how, data, _ = closed_promptly(s, 1.0, send=b"x")
            outcomes[how] = outcomes.get(how, 0) + 1
        burst = time.monotonic() - t0
        assert outcomes.get("open", 0) == 0, f"50 rejected connections: {outcomes}"
        time.sleep(1.5)     # a rate-limited logger may write its line late
        n = count_lines(p, SLOT_RE, start=mark)
        total = count_lines(p, SLOT_RE)
        assert total >= 1, f"no 'slot limit' line at all:\n{p.output()}"
        assert n <= int(burst) + 3, \
            f"{n} 'slot limit' lines for 50 rejections in {burst:.1f}s (at most about one " \
            f"per second expected)"
        assert echo.accepted == before, f"rejected users reached the backend ({outcomes})"
    finally:
        for s in held:
            s.close()


def keep_exchanging(client, stop, errors, period=0.25):
    while not stop.is_set():
        try:
            client.exchange(os.urandom(32), timeout=1.0, retries=2)
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(f"{client.name}: {e}")
            return
        stop.wait(period)


def wait_udp_works(port, client, timeout):
    deadline = time.monotonic() + timeout
    while True:
        client.send(b"knock-" + os.urandom(8))
        payload = client.sent[-1]
        got = client.recv(0.3)
        while got is not None and got != payload:
            got = client.recv(0.3)
        if got == payload:
            return time.monotonic()
        if time.monotonic() >= deadline:
            raise AssertionError(f"{client.name}: no echo through {port} within {timeout}s")


def test_udp_new_user_over_the_limit_is_dropped(postern, udp_backends):
    u = udp_backends()
    # no UDP readiness probe: its session would hold the only slot
    p = udp_entry(postern, [u.port], "slot=1", env=UDP_IDLE_ENV, udp_ready=False)
    a = UdpClient(p.port, name="user-a")
    b = UdpClient(p.port, name="user-b")
    stop, errors = threading.Event(), []
    talker = threading.Thread(target=keep_exchanging, args=(a, stop, errors), daemon=True,
                              name="user-a")
    try:
        a.exchange(b"hello from a", timeout=1.0, retries=3)
        peers_before = len(u.peers)
        mark = p.mark()
        talker.start()
        b.expect_silence([b"b-%d" % i for i in range(6)], window=2.0)
        assert not errors, f"the first user's session broke: {errors}"
        assert len(u.peers) == peers_before, \
            f"the dropped user reached the backend: peers {list(u.peers)}"
        p.wait_for_log(SLOT_RE, timeout=3, start=mark)

        stop.set()
        talker.join(timeout=10)
        assert not talker.is_alive()
        # after a's session idles out (1 s) the slot is free for b
        t_quiet = time.monotonic()
        t_ok = wait_udp_works(p.port, b, timeout=6.0)
        assert t_ok - t_quiet >= 0.5, \
            f"b got through {t_ok - t_quiet:.2f}s after a stopped, before a's session expired"
    finally:
        stop.set()
        if talker.is_alive():
            talker.join(timeout=10)
        a.close()
        b.close()


def test_tcp_connections_and_udp_sessions_share_the_slots(postern, backends, udp_backends):
    tcp, udp = dual_echo(backends, udp_backends)
    p = udp_entry(postern, [tcp.port], "slot=1", env=UDP_IDLE_ENV, udp_ready=False)
    held = held_echo_retry(p.port, "tcp-holder")
    c = UdpClient(p.port, name="udp-user")
    try:
        c.expect_silence([b"u-%d" % i for i in range(4)], window=1.5)
        assert not udp.peers, "a UDP user got a session while TCP held the only slot"
        held.close()
        wait_udp_works(p.port, c, timeout=4.0)
        # and now the UDP session holds the slot: a TCP user is closed at once
        with connect(p.port) as s:
            how, data, secs = closed_promptly(s, 1.0, send=b"tcp while udp holds\n")
        assert how in ("eof", "reset") and data == b"", \
            f"TCP connection while a UDP session held slot=1: {how} after {secs:.2f}s"
    finally:
        held.close()
        c.close()
