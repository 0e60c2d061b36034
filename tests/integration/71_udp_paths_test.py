"""Both UDP paths carry the same datagrams: bursts (recvmmsg/sendmmsg, several frames per
write to a data connection; the default) and one datagram per system call
(POSTERN_NO_MMSG=1, what a kernel that refuses the batched calls gets). The core cases of
50_udp_datagram_test.py run on each: every size from 1 to 65507 bytes comes back whole,
and a burst of 200 datagrams is neither merged nor split, in single-end and reverse
tunnel. Correctness must never depend on the fast path being available."""
import os
import random
import socket
import struct

import pytest

from udp_util import (MAX_DATAGRAM, UdpClient, burst_whole, start_service,  # noqa: F401
                      udp_backends)

SIZES = [1, 2, 100, 1400, 1472, 1473, 8192, 16384, 32768, 65000, MAX_DATAGRAM]
PATHS = {"mmsg": {}, "single": {"POSTERN_NO_MMSG": "1"}}
PATH_LOG = {"mmsg": "udp: batched path in use", "single": "udp: single-datagram path in use"}
MODES = ["single", "reverse"]


def start(mode, path, postern, port):
    """Postern in <mode> on <path> in front of <port>, logging at debug on the entry end
    so that the path it took shows."""
    return start_service(mode, postern, port, params="log=debug", env=PATHS[path])


def assert_path(s, path):
    out = s.entry.output()
    assert PATH_LOG[path] in out, f"expected '{PATH_LOG[path]}' in the log:\n{out[-2000:]}"


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mode", MODES)
def test_every_size_up_to_65507_comes_back_whole(mode, path, postern, udp_backends):
    u = udp_backends()
    s = start(mode, path, postern, u.port)
    rx0 = u.counts()[0]
    sent = []
    with UdpClient(s.port) as c:
        for n in SIZES:
            payload = os.urandom(n)
            c.exchange(payload, timeout=1.5, retries=2, stale=sent)
            sent.append(payload)
        retries = c.retries
    rx = u.counts()[0] - rx0
    assert rx == len(SIZES) + retries, \
        f"backend got {rx} datagrams for {len(SIZES)} sent ({retries} resends)"
    s.assert_alive()
    assert_path(s, path)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mode", MODES)
def test_burst_of_200_keeps_datagram_boundaries(mode, path, postern, udp_backends):
    u = udp_backends()
    s = start(mode, path, postern, u.port)
    rnd = random.Random(0xD6)
    sizes = rnd.sample(range(1, 1473), 200)
    payloads = [os.urandom(n) for n in sizes]
    with UdpClient(s.port) as c:
        # One exchange first: the session and the user's own socket exist before the
        # burst, so every datagram of the burst takes the same way and order must hold.
        c.exchange(b"warm-up", timeout=2.0, retries=3)
        got = burst_whole(c, payloads, u)
    # Within an established session the order holds, burst after burst.
    index = {p: i for i, p in enumerate(payloads)}
    order = [index[d] for d in got]
    assert order == sorted(order), f"datagrams came back reordered: {order[:40]}"
    s.assert_alive()
    assert_path(s, path)


def send_gso_train(client, segs):
    """Send <segs> (all of one size but the last, which may be shorter) as one buffer the
    kernel cuts into datagrams (UDP_SEGMENT): on loopback postern's socket, asking for GRO,
    receives them as one train it must cut back by the segment size."""
    udp_segment = getattr(socket, "UDP_SEGMENT", 103)
    gso = struct.pack("H", len(segs[0]))
    client.sock.sendmsg([b"".join(segs)], [(socket.IPPROTO_UDP, udp_segment, gso)], 0,
                        ("127.0.0.1", client.port))
    client.sent.extend(segs)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("mode", MODES)
def test_gso_trains_are_cut_back_into_their_datagrams(mode, path, postern, udp_backends):
    """A user sending with GSO: trains of 1000-byte datagrams ending in a shorter one (and a
    train of 64 1-byte datagrams) reach the backend and come back one datagram each, whole
    and in order, on either path (GRO on postern's sockets, GSO on its sends)."""
    u = udp_backends()
    s = start(mode, path, postern, u.port)
    trains = [[os.urandom(1000) for _ in range(10)] + [os.urandom(357)],
              [os.urandom(1) for _ in range(64)],
              [os.urandom(1400) for _ in range(40)]]
    with UdpClient(s.port) as c:
        c.exchange(b"warm-up", timeout=2.0, retries=3)
        for segs in trains:
            rx0 = u.counts()[0]
            send_gso_train(c, segs)
            got = []
            while len(got) < len(segs):
                d = c.recv(3.0)
                if d is None:
                    break
                got.append(d)
            assert [len(d) for d in got] == [len(p) for p in segs], \
                f"backend got {u.counts()[0] - rx0} datagrams; sizes back {[len(d) for d in got][:20]}"
            assert got == segs, "datagrams came back altered or reordered"
    s.assert_alive()
    assert_path(s, path)
