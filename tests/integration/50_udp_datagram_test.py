"""Datagrams are carried whole: every size from 1 to 65507 bytes comes back with the
same size and content, and a burst of 200 datagrams is neither merged nor split, in
single-end, reverse and forward."""
import collections
import os
import random

import pytest

from udp_util import (MAX_DATAGRAM, MODES, UdpClient, start_service, udp_backends,  # noqa: F401
                      udp_drop_note, udp_stats)

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
    rx0 = u.counts()[0]
    rnd = random.Random(0xD6)
    sizes = rnd.sample(range(1, 1473), 200)
    payloads = [os.urandom(n) for n in sizes]
    before = udp_stats()
    got = []
    with UdpClient(s.port) as c:
        for p in payloads:              # back to back, no waiting
            c.send(p)
        while len(got) < len(payloads):
            d = c.recv(3.0)
            if d is None:
                break
            got.append(d)
        extra = c.recv(0.3)             # nothing beyond the 200
    sent_set = set(payloads)
    foreign = [len(d) for d in got if d not in sent_set]
    assert not foreign, f"{len(foreign)} received datagrams are none of the sent ones " \
                        f"(merged or split), sizes {foreign[:10]}"
    missing = collections.Counter(payloads) - collections.Counter(got)
    dup = collections.Counter(got) - collections.Counter(payloads)
    assert not missing and not dup and extra is None, \
        (f"received {len(got)} of 200 (missing sizes {[len(p) for p in missing][:10]}, "
         f"duplicated {len(dup)}, extra {extra is not None}); backend got "
         f"{u.counts()[0] - rx0}; {udp_drop_note(before)}")
    s.assert_alive()
