"""Datagrams are carried whole: every size from 1 to 65507 bytes comes back with the
same size and content, and a burst of 200 datagrams is neither merged nor split, in
single-end, reverse and forward."""
import os
import random

import pytest

from udp_util import (MAX_DATAGRAM, MODES, UdpClient, burst_whole, start_service,  # noqa: F401
                      udp_backends)

SIZES = [1, 2, 100, 1400, 1472, 1473, 8192, 16384, 32768, 65000, MAX_DATAGRAM]


@pytest.mark.parametrize("mode", MODES)
def test_every_size_up_to_65507_comes_back_whole(mode, postern, udp_backends):
    u = udp_backends()
    s = start_service(mode, postern, u.port)
    rx0 = u.counts()[0]
    sent = []
    with UdpClient(s.port) as c:
        for n in SIZES:
            payload = os.urandom(n)
            c.exchange(payload, timeout=1.5, retries=2, stale=sent)
            sent.append(payload)
        retries = c.retries
    # the backend saw each datagram once (plus resends), never in pieces
    rx = u.counts()[0] - rx0
    assert rx == len(SIZES) + retries, \
        f"backend got {rx} datagrams for {len(SIZES)} sent ({retries} resends)"
    s.assert_alive()


@pytest.mark.parametrize("mode", MODES)
def test_burst_of_200_keeps_datagram_boundaries(mode, postern, udp_backends):
    u = udp_backends()
    s = start_service(mode, postern, u.port)
    rnd = random.Random(0xD6)
    sizes = rnd.sample(range(1, 1473), 200)
    payloads = [os.urandom(n) for n in sizes]
    with UdpClient(s.port) as c:
        burst_whole(c, payloads, u)
    s.assert_alive()
