"""Early refusal on the tunnel port (docs/protocol.md §4, §8): a data connection whose
DATA_HELLO header is already wrong in its first bytes (a length of 0xffffffff, a length
other than 48, a non-zero reserved byte, another type, another version) is closed at
once, not after the 60 bytes a hello has or the handshake timeout (raised to 20 s here,
so that waiting for it would show). tls=0, so the hello is read in the clear."""
import socket
import struct
import time

import pytest

from conftest import LOOPBACK
from tunnel_util import Tunnel

PREAMBLE_DATA = b"PN\x01D"


def _hdr(version=1, type_=0x0A, flags=0, rsvd=0, stream=0, length=48):
    return struct.pack(">BBBBII", version, type_, flags, rsvd, stream, length)


@pytest.fixture(scope="module")
def server(request):
    from conftest import PosternFactory
    f = PosternFactory()
    t = Tunnel(f, "reverse", 9, key="early-refusal-key",
               server_env={"POSTERN_HANDSHAKE_TIMEOUT": "20s"})
    t.start_server()
    yield t
    f.cleanup()


def _closed_within(port, data, limit=3.0):
    """Send <data>; return seconds until the server closes (None: not within <limit>)."""
    s = socket.create_connection((LOOPBACK, port), timeout=limit)
    try:
        t0 = time.monotonic()
        s.sendall(data)
        try:
            while s.recv(4096):
                pass
        except socket.timeout:
            return None
        except OSError:
            pass
        return time.monotonic() - t0
    finally:
        s.close()


@pytest.mark.parametrize("header,what", [
    (_hdr(length=0xFFFFFFFF), "length 0xffffffff"),
    (_hdr(length=49), "a length other than a hello's"),
    (_hdr(rsvd=1)[:4], "a non-zero reserved byte (only 4 bytes sent)"),
    (_hdr(type_=0x02)[:2], "not a DATA_HELLO (only 2 bytes sent)"),
    (_hdr(version=2)[:1], "another version (1 byte sent)"),
], ids=["len-ffffffff", "len-49", "reserved", "type", "version"])
def test_malformed_hello_header_is_refused_at_once(server, header, what):
    took = _closed_within(server.tunnel_port, PREAMBLE_DATA + header)
    assert took is not None and took < 1.0, f"{what}: not closed at once ({took})"


def test_a_good_prefix_is_waited_for(server):
    # A valid header and part of the payload: the server waits for the rest.
    took = _closed_within(server.tunnel_port, PREAMBLE_DATA + _hdr() + b"\0" * 10, limit=1.5)
    assert took is None, f"a well-formed partial hello was closed after {took:.2f} s"
