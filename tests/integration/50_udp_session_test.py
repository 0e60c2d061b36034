"""UDP sessions: one per client address, freed after POSTERN_UDP_IDLE without traffic;
a session whose target vanished (ICMP port unreachable) wedges nothing and ends."""
import contextlib
import os
import threading
import time

import pytest

from tunnel_util import wait_checkpoint
from udp_util import MODES, UdpClient, start_service, udp_backends  # noqa: F401

IDLE_ENV = {"POSTERN_UDP_IDLE": "1s"}


def keep_talking(clients, stop, errors, last, period=0.3):
    """Each of <clients> exchanges one datagram every <period> s until <stop>; the time
    of the latest reply goes to last[0]."""
    while not stop.is_set():
        for c in clients:
            try:
                c.exchange(os.urandom(64), timeout=1.5, retries=1)
                last[0] = time.monotonic()
            except Exception as e:  # noqa: BLE001 - reported by the test
                errors.append(f"{c.name}: {e}")
                return
        stop.wait(period)


@pytest.mark.asan_keep("reverse")
@pytest.mark.parametrize("mode", MODES)
def test_idle_sessions_expire_and_new_traffic_works(mode, postern, udp_backends):
    u = udp_backends()
    s = start_service(mode, postern, u.port, env=IDLE_ENV)
    # the readiness probe's session expires first
    wait_checkpoint(s.entry, lambda v: v["udps"] == 0, timeout=8, start=s.entry.mark(),
                    what="UDPS=0 after the probe session's idle time")

    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(UdpClient(s.port, name=f"c{i}")) for i in range(3)]
        stop, errors, last = threading.Event(), [], [0.0]
        talker = threading.Thread(target=keep_talking, args=(clients, stop, errors, last),
                                  daemon=True, name="udp-talker")
        try:
            mark = s.entry.mark()
            talker.start()
            v = wait_checkpoint(s.entry, lambda v: v["udps"] >= 3, timeout=8, start=mark,
                                what="UDPS=3 while 3 client addresses talk")
            assert v["udps"] == 3, f"3 client addresses, but CHECK_POINT shows {v}"
        finally:
            stop.set()
            talker.join(timeout=10)
        assert not talker.is_alive() and not errors, f"traffic failed: {errors}"

        mark = s.entry.mark()
        wait_checkpoint(s.entry, lambda v: v["udps"] == 0, timeout=6, start=mark,
                        what="UDPS=0 after 1s without traffic")
        quiet = time.monotonic() - last[0]
        assert quiet >= 0.9, f"sessions ended after {quiet:.2f}s of silence, idle is 1s"

        # an expired address and a new one both get through again
        clients[0].exchange(b"again from c0", timeout=1.5, retries=2)
        d = stack.enter_context(UdpClient(s.port, name="new"))
        d.exchange(b"hello from a new address", timeout=1.5, retries=2)
    s.assert_alive()


@pytest.mark.asan_keep("forward")
@pytest.mark.parametrize("mode", MODES)
def test_lost_backend_wedges_nothing(mode, postern, udp_backends):
    u1 = udp_backends(name="udp-echo-1")
    s = start_service(mode, postern, u1.port, env=IDLE_ENV)
    with UdpClient(s.port, name="A") as a, UdpClient(s.port, name="B") as b:
        a.exchange(b"A while the backend is up", timeout=1.5, retries=2)
        u1.stop()
        # the target port is closed now: no answer, and nobody falls over
        a.expect_silence([b"A-1 to nowhere", b"A-2 to nowhere", b"A-3"], window=0.6)
        b.expect_silence([b"B-1 to nowhere", b"B-2 to nowhere", b"B-3"], window=0.6)
        s.assert_alive()

        u2 = udp_backends(port=u1.port, name="udp-echo-2")
        t0 = time.monotonic()
        with UdpClient(s.port, name="C") as c:
            c.exchange(b"C after the backend came back", timeout=1.5, retries=2)
        took = time.monotonic() - t0
        assert u2.counts()[0] >= 1
        assert took < 5, f"C's reply took {took:.1f}s"
        s.assert_alive()

        # every session ends: the entry side and the other end report UDPS=0
        for p in s.procs:
            wait_checkpoint(p, lambda v: v["udps"] == 0, timeout=8, start=p.mark(),
                            what=f"UDPS=0 on {p.argv[1]}")
        # A's address, whose session met the dead target, works again
        a.exchange(b"A once more", timeout=1.5, retries=2)
        s.assert_alive()
