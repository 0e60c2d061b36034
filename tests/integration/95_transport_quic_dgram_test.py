"""UDP through type=1 as QUIC DATAGRAM frames (RFC 9221; docs/internals/quic.md "DATAGRAM
frames", docs/protocol.md §13.3):

- both flows: every size 1..1200 crosses whole (sent to a UDP echo behind the tunnel, the
  same bytes back) and travels as DATAGRAM frames: each end's metrics count 1200 frames sent
  and received (postern_quic_datagrams_total; more only by the client's retries), once a
  1200-byte datagram went as a frame (path MTU discovery raised the packets past 1200)
- both flows: sizes no DATAGRAM frame can carry (1453..65507, over the 1452-byte packets)
  cross whole through the session's stream, and no DATAGRAM frame is sent for them
- a burst mixing both paths (small and large datagrams back to back) crosses whole, every
  datagram once

The metrics ports are loopback only; each end is stopped by PID by the fixtures.
"""
import os
import re
import time
import urllib.request

import pytest

from conftest import LOOPBACK, free_port
from tunnel_util import Tunnel
from udp_util import UdpClient, start_tunnel, udp_backends  # noqa: F401 - fixture

FLOWS = ["reverse", "forward"]
DGRAM_RE = re.compile(r'^postern_quic_datagrams_total\{event="(\w+)"\} (\d+)$', re.M)


def dgram_counts(port):
    """{'sent': n, 'received': n, 'dropped': n} from the metrics port <port>."""
    with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    counts = {k: int(v) for k, v in DGRAM_RE.findall(text)}
    assert set(counts) == {"sent", "received", "dropped"}, text
    return counts


def delta(before, after):
    return {k: after[k] - before[k] for k in after}


def wait_frames_carry(c, port, size=1200, timeout=10):
    """Exchange <size>-byte datagrams through the UdpClient <c> until one travels as a
    DATAGRAM frame (the sent counter of the metrics port <port> moves): the session's
    stream is known to the peer and path MTU discovery raised the packets past 1200 bytes
    (until then a 1200-byte datagram does not fit a frame). Bounded by <timeout> s."""
    deadline = time.monotonic() + timeout
    while True:
        before = dgram_counts(port)["sent"]
        c.exchange(os.urandom(size), timeout=1.5, retries=2)
        if dgram_counts(port)["sent"] > before:
            return
        assert time.monotonic() < deadline, f"no {size}-byte datagram went as a frame in {timeout}s"
        time.sleep(0.1)


def start(postern, flow, backend_port):
    """A type=1 tunnel in <flow> in front of the UDP echo <backend_port>, metrics on
    both ends; (tunnel, server metrics port, client metrics port)."""
    sport, cport = free_port(), free_port()
    t = Tunnel(postern, flow, backend_port, server_params=f"type=1&metrics={LOOPBACK}:{sport}",
               client_params=f"metrics={LOOPBACK}:{cport}")
    start_tunnel(t, tcp=False, udp=True)
    return t, sport, cport


@pytest.mark.asan_keep("forward")
@pytest.mark.parametrize("flow", FLOWS)
def test_every_size_up_to_1200_crosses_whole_as_datagram_frames(flow, postern, udp_backends):
    t, sport, cport = start(postern, flow, udp_backends().port)
    entry = sport if flow == "reverse" else cport
    with UdpClient(t.user_port) as c:
        wait_frames_carry(c, entry)
        before = {p: dgram_counts(p) for p in (sport, cport)}
        retries0 = c.retries
        started = time.monotonic()
        for n in range(1, 1201):
            c.exchange(os.urandom(n), timeout=1.5, retries=2)
        retries = c.retries - retries0
    took = time.monotonic() - started
    for p, end in ((sport, "server"), (cport, "client")):
        d = delta(before[p], dgram_counts(p))
        # Each size once each way, as a frame (a retry sends it again; a frame dropped,
        # e.g. blocked 100 ms on a starved machine, costs one).
        assert 1200 <= d["sent"] <= 1200 + retries, (end, d, retries)
        assert 1200 - retries <= d["received"] <= 1200 + retries, (end, d, retries)
        assert d["dropped"] <= retries, (end, d, retries)
    print(f"{flow}: 1200 sizes in {took:.1f}s, {retries} retries")


@pytest.mark.parametrize("flow", FLOWS)
def test_larger_datagrams_fall_back_to_the_stream_whole(flow, postern, udp_backends):
    t, sport, cport = start(postern, flow, udp_backends().port)
    with UdpClient(t.user_port) as c:
        c.exchange(b"warm", timeout=1.5, retries=2)     # the session's stream is known
        before = {p: dgram_counts(p) for p in (sport, cport)}
        for n in (1453, 1472, 1500, 2000, 4096, 8000, 16384, 32768, 65000, 65507):
            c.exchange(os.urandom(n), timeout=2, retries=2)
        after = {p: dgram_counts(p) for p in (sport, cport)}
        for n in range(1201, 1453):     # about the limit: either way, whole
            c.exchange(os.urandom(n), timeout=1.5, retries=2)
    for p in (sport, cport):
        d = delta(before[p], after[p])
        assert d["sent"] == 0 and d["received"] == 0, d


@pytest.mark.asan_keep("forward")
@pytest.mark.parametrize("flow", FLOWS)
def test_mixed_burst_crosses_whole_once(flow, postern, udp_backends):
    t, sport, cport = start(postern, flow, udp_backends().port)
    with UdpClient(t.user_port) as c:
        c.exchange(b"warm", timeout=1.5, retries=2)
        sizes = [1 + (i * 37) % 1200 if i % 4 else 3000 + i for i in range(200)]
        payloads = [i.to_bytes(2, "big") + os.urandom(n - 2 if n > 2 else 0) for i, n in
                    enumerate(sizes)]
        for p in payloads:
            c.send(p)
            time.sleep(0.001)   # a pace the echo and the loopback buffers keep up with
        got = []
        while len(got) < len(payloads):
            d = c.recv(3)
            if d is None:
                break
            got.append(d)
    want = {p[:2]: p for p in payloads}
    assert len(got) == len(set(got)), "a datagram arrived twice"
    lost = [int.from_bytes(k, "big") for k in want if want[k] not in got]
    # UDP may lose a datagram on a loaded machine; none arrives changed.
    assert all(d in payloads for d in got), "a datagram arrived changed"
    assert len(lost) <= 4, f"lost {len(lost)} of {len(payloads)}: {lost[:20]}"
