"""CHECK_POINT UDPRX / UDPTX count datagram payload bytes from and back to users (no
framing): after exactly N bytes echoed, a later line shows UDPRX=N and UDPTX=N."""
import os

import pytest

from tunnel_util import wait_checkpoint
from udp_util import MODES, UdpClient, dual_echo, start_service, udp_backends  # noqa: F401

SIZES = [1, 7, 1000, 1472, 1473, 12345, 65507]


@pytest.mark.parametrize("mode", MODES)
def test_udprx_udptx_count_payload_bytes(mode, postern, backends, udp_backends):
    # TCP readiness only (a TCP echo on the same port), so no UDP byte is sent before
    tb, ub = dual_echo(backends, udp_backends)
    s = start_service(mode, postern, tb.port, tcp=True, udp=False)
    back = 0
    sent = []
    with UdpClient(s.port) as c:
        for n in SIZES:
            p = os.urandom(n)
            c.exchange(p, timeout=1.5, retries=2, stale=sent)
            sent.append(p)
            back += n
    _, rx, tx = ub.counts()
    # resends (if any) reached the backend and count as received payload
    assert rx == tx >= back == sum(SIZES), (rx, tx, back)
    n = rx
    mark = s.entry.mark()
    v = wait_checkpoint(s.entry, lambda v: (v["udprx"], v["udptx"]) == (n, n), timeout=5,
                        start=mark, what=f"UDPRX={n} UDPTX={n}")
    assert v["tcprx"] == 0 and v["tcptx"] == 0, f"UDP bytes counted as TCP: {v}"
