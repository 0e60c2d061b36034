"""proxy=1 (PROXY protocol v1, TCP) and proxy=2 (v2, TCP and UDP): the side that dials
the target (single-end; the client in reverse flow; the server in forward flow) sends
the header ahead of the user's bytes, or ahead of every datagram, carrying the user's
address as source and the address the user connected to as destination. Users connect
from 127.0.0.2 so their address differs from postern's own 127.0.0.1; haproxy with
accept-proxy is the real consumer, a Python decoder checks the exact header."""
import os
import socket
import struct
import time

import pytest

from conftest import curl, echo_handler, recv_exact
from limits_util import (USER_IP, connect_from, haproxies, proxy_recorder_handler,
                         udp_proxy_receivers)  # noqa: F401 - fixtures
from tunnel_util import tunnel  # noqa: F401 - fixture
from udp_util import udp_entry

VERSIONS = [1, 2]


def echo_from_user(port, tag):
    """One echo round trip from 127.0.0.2 to 127.0.0.1:<port>; return the user's
    (ip, port)."""
    with connect_from(USER_IP, port) as s:
        me = s.getsockname()
        payload = f"{tag}|".encode() + os.urandom(6).hex().encode()
        s.sendall(payload)
        assert recv_exact(s, len(payload)) == payload, f"{tag}: echo mismatch"
    return me


@pytest.mark.parametrize("version", VERSIONS)
def test_single_end_header_is_exact(version, postern, backends):
    rec = backends(proxy_recorder_handler, name="proxy-decoder")
    p = postern.client([rec.port], f"proxy={version}")
    user = echo_from_user(p.port, f"v{version}")
    kind, info = rec.wait_record(lambda r: r[0] == "error" or
                                 (r[0] == "header" and r[1]["src"] == user))
    assert kind == "header", f"the target got no valid PROXY header: {info}"
    assert info["version"] == version and info["command"] == "PROXY", info
    assert info["proto"] == "TCP4", info
    assert info["dst"] == ("127.0.0.1", p.port), info


@pytest.mark.parametrize("version", VERSIONS)
def test_single_end_into_haproxy(version, postern, backends, haproxies):
    """haproxy reads postern's header (accept-proxy) and passes the addresses it read on
    to its own backend in a header of its own (send-proxy): what haproxy understood is
    checked there, not in haproxy's log (whose lines were seen to go missing under load
    while the traffic itself passed)."""
    rec = backends(proxy_recorder_handler, name="proxy-decoder")
    h = haproxies(rec.port, send_proxy=version)
    p = postern.client([h.port], f"proxy={version}")
    user = echo_from_user(p.port, f"haproxy-v{version}")
    _, info = rec.wait_record(lambda r: r[0] == "header" and r[1]["src"] == user, timeout=10)
    assert info["dst"] == ("127.0.0.1", p.port), info


def test_without_proxy_haproxy_refuses(postern, backends, haproxies):
    """The control: without proxy= haproxy's accept-proxy drops the connection."""
    echo = backends(echo_handler, name="echo")
    h = haproxies(echo.port)
    p = postern.client([h.port])
    with pytest.raises((AssertionError, OSError)):
        echo_from_user(p.port, "no-header")
    assert not any(src[0] == USER_IP for src, _ in h.connections()), h.output()


def test_curl_from_127_0_0_2_into_haproxy(postern, haproxies, http_server):
    port, path, content = http_server
    h = haproxies(port)
    p = postern.client([h.port], "proxy=2")
    r = curl("--interface", USER_IP, f"http://127.0.0.1:{p.port}{path}")
    assert r.returncode == 0 and r.stdout == content, \
        f"curl: rc {r.returncode}, {len(r.stdout)} bytes, {r.stderr.decode(errors='replace')}"
    deadline = time.monotonic() + 5
    while not any(src[0] == USER_IP for src, _ in h.connections()):
        assert time.monotonic() < deadline, f"haproxy never saw {USER_IP}:\n{h.output()}"
        time.sleep(0.05)
    dsts = {d for src, d in h.connections() if src[0] == USER_IP}
    assert dsts == {("127.0.0.1", p.port)}, dsts


@pytest.mark.asan_keep("forward-1", "reverse-2")
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("flow", ["reverse", "forward"])
def test_tunnel_into_haproxy(flow, version, tunnel, backends, haproxies):
    """reverse: proxy= on the client (it dials the target); forward: on the server."""
    rec = backends(proxy_recorder_handler, name="proxy-decoder")
    h = haproxies(rec.port, send_proxy=version)     # what haproxy read, passed on
    q = f"proxy={version}"
    side = {"client_params": q} if flow == "reverse" else {"server_params": q}
    t = tunnel(flow, h.port, key=f"proxy{flow}{version}", **side).start()
    user = echo_from_user(t.user_port, f"{flow}-v{version}")
    _, info = rec.wait_record(lambda r: r[0] == "header" and r[1]["src"] == user, timeout=10)
    assert info["dst"] == ("127.0.0.1", t.user_port), f"{flow} tunnel with {q}: {info}"


def check_udp_headers(rx, listen_port, want=3, tries=10):
    """From one user socket on 127.0.0.2, send datagrams 0.1 s apart until <want> of
    them arrived (at most <tries>; UDP may lose one, e.g. while a tunnel session is set
    up). Every datagram that arrives must carry a v2 header with the user's address
    and the listen address, followed by exactly one of the payloads sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((USER_IP, 0))
        user = s.getsockname()
        sent = []
        for i in range(tries):
            sent.append(b"dgram-%d-" % i + os.urandom(8))
            s.sendto(sent[-1], ("127.0.0.1", listen_port))
            time.sleep(0.1)
            if len(rx.records) >= want:
                break
        recs = rx.wait_count(want, timeout=5)
    assert len(recs) <= len(sent), f"more datagrams arrived than were sent: {recs}"
    for peer, info, payload in recs:
        assert isinstance(info, dict), f"datagram without a valid v2 header: {info} {payload!r}"
        assert (info["version"], info["command"], info["proto"]) == (2, "PROXY", "UDP4"), info
        assert info["src"] == user, f"header src {info['src']}, the user is {user}"
        assert info["dst"] == ("127.0.0.1", listen_port), info
        assert payload in sent, f"payload after the header: {payload!r}, sent {sent}"
    assert len({r[2] for r in recs}) == len(recs), f"a datagram arrived twice: {recs}"


def test_udp_v2_header_on_every_datagram_single_end(postern, udp_proxy_receivers):
    rx = udp_proxy_receivers()
    p = udp_entry(postern, [rx.port], "proxy=2", udp_ready=False)
    check_udp_headers(rx, p.port)


def test_udp_v2_header_through_reverse_tunnel(tunnel, udp_proxy_receivers):
    rx = udp_proxy_receivers()
    t = tunnel("reverse", rx.port, key="proxyudp", client_params="proxy=2").start()
    check_udp_headers(rx, t.user_port)


def test_udp_v2_header_on_every_datagram_of_a_gso_train(postern, udp_proxy_receivers):
    """Datagrams of one size relayed in a burst leave postern as GSO sends: the v2 header
    must still come once before each payload, the shorter last one included."""
    rx = udp_proxy_receivers()
    p = udp_entry(postern, [rx.port], "proxy=2", udp_ready=False)
    check_udp_headers(rx, p.port, want=1)      # the session (and its sockets) exist
    n0 = len(rx.records)
    segs = [b"%03d" % i + os.urandom(97) for i in range(30)] + [b"end" + os.urandom(40)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((USER_IP, 0))
        user = s.getsockname()
        s.sendmsg([b"".join(segs)], [(socket.IPPROTO_UDP, getattr(socket, "UDP_SEGMENT", 103),
                                      struct.pack("H", 100))], 0, ("127.0.0.1", p.port))
        recs = rx.wait_count(n0 + len(segs), timeout=5)[n0:]
    assert [r[2] for r in recs] == segs, \
        f"{len(recs)} of {len(segs)} arrived, payload sizes {[len(r[2]) for r in recs][:40]}"
    for peer, info, payload in recs:
        assert isinstance(info, dict), f"datagram without a valid v2 header: {info} {payload!r}"
        assert info["src"] == user and info["dst"] == ("127.0.0.1", p.port), info
