"""Self-checks of the limits test harness (limits_util.py) against real peers, without
postern: the PROXY decoder against haproxy's own encoder, haproxy's accept-proxy log
against headers written here, the dnsmasq hosts harness, the flood generator. If these
fail, the 60_limits_* results say nothing about postern."""
import os
import socket
import threading
import time

import pytest

from conftest import echo_handler, id_handler, recv_exact
from limits_util import (OTHER_IP, USER_IP, connect_from, closed_promptly, decode_proxy, flood,
                         haproxies, hosts_dnsmasq, proxy_recorder_handler, proxy_v1, proxy_v2,
                         same_port_backends)  # noqa: F401 - fixtures


def test_decoder_round_trip_and_rejects():
    src, dst = ("127.0.0.2", 40001), ("127.0.0.1", 8080)
    for hdr, version, proto in ((proxy_v1(src, dst), 1, "TCP4"),
                                (proxy_v2(src, dst), 2, "TCP4"),
                                (proxy_v2(src, dst, udp=True), 2, "UDP4"),
                                (proxy_v2(src, dst, tlvs=b"\x04\x00\x02ab"), 2, "TCP4")):
        info, n = decode_proxy(hdr + b"payload")
        assert n == len(hdr)
        assert (info["version"], info["proto"], info["src"], info["dst"]) == \
            (version, proto, src, dst)
        for cut in range(len(hdr)):
            assert decode_proxy(hdr[:cut]) is None, f"prefix of {cut} bytes decoded"
    for bad in (b"GET / HTTP/1.1\r\n\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n",
                b"PROXY TCP9 a b c d\r\n", b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + bytes(12),
                b"\x05\x01\x00"):
        with pytest.raises(ValueError):
            decode_proxy(bad)


@pytest.mark.parametrize("version", [1, 2])
def test_haproxy_logs_the_address_of_a_proxy_header(version, haproxies, backends):
    echo = backends(echo_handler, name="echo")
    h = haproxies(echo.port)
    fake_src = (USER_IP, 40000 + version)
    hdr = (proxy_v1 if version == 1 else proxy_v2)(fake_src, ("127.0.0.1", h.port))
    with connect_from("127.0.0.1", h.port) as s:
        s.sendall(hdr + b"hello")
        assert recv_exact(s, 5) == b"hello"
    src, dst = h.wait_connection()
    assert src == fake_src and dst == ("127.0.0.1", h.port)

    # without a header haproxy drops the connection and logs no address: a postern that
    # does not send one cannot pass the postern tests
    mark = h.mark()
    with connect_from(USER_IP, h.port) as s:
        how, data, _ = closed_promptly(s, 5, send=b"hello without header\r\n")
    assert how in ("eof", "reset") and data == b"", (how, data)
    time.sleep(0.3)
    assert h.connections(mark) == [], h.output()
    assert echo.accepted == 1


@pytest.mark.parametrize("version", [1, 2])
def test_decoder_reads_haproxy_send_proxy(version, haproxies, backends):
    rec = backends(proxy_recorder_handler, name="recorder")
    h = haproxies(rec.port, accept_proxy=False, send_proxy=version)
    with connect_from(USER_IP, h.port) as s:
        sport = s.getsockname()[1]
        s.sendall(b"ping")
        assert recv_exact(s, 4) == b"ping"
    # (haproxy's readiness probe from 127.0.0.1 came through as well: skip it)
    kind, info = rec.wait_record(lambda r: r[0] == "error" or
                                 (r[0] == "header" and r[1]["src"][0] == USER_IP))
    assert kind == "header", info
    assert info["version"] == version and info["proto"] == "TCP4", info
    assert info["src"] == (USER_IP, sport) and info["dst"] == ("127.0.0.1", h.port), info
    assert rec.wait_record(lambda r: r == ("payload", b"ping"))


def test_dnsmasq_hosts_file_moves_a_name(hosts_dnsmasq):
    d = hosts_dnsmasq("svc.postern.test", "127.0.0.1")
    assert d.query() == ["127.0.0.1"]
    d.set_address(OTHER_IP)
    assert d.query() == [OTHER_IP]
    # the query log the DNS test relies on; the harness asks from 127.0.0.5
    d.wait_line(r"query\[A\] svc\.postern\.test from 127\.0\.0\.5", timeout=3)


def test_same_port_backends_answer_their_own_id(backends):
    bs = same_port_backends(backends, {ip: id_handler(f"id-{ip}")
                                       for ip in ("127.0.0.1", OTHER_IP)})
    port = bs["127.0.0.1"].port
    assert bs[OTHER_IP].port == port
    for ip in bs:
        with socket.create_connection((ip, port), timeout=5) as s:
            assert s.recv(100).strip() == f"id-{ip}".encode()


def test_flood_counts_fast_closes_and_held_connections():
    def serve(lst, hold):
        conns = []
        lst.settimeout(0.05)
        while not stop.is_set():
            try:
                c, peer = lst.accept()
            except socket.timeout:
                continue
            assert peer[0] == USER_IP
            if hold:
                conns.append(c)
            else:
                c.close()
        for c in conns:
            c.close()

    stop = threading.Event()
    lsts = []
    threads = []
    try:
        for hold in (False, True):
            lst = socket.socket()
            lst.bind(("127.0.0.1", 0))
            lst.listen(512)
            lsts.append(lst)
            t = threading.Thread(target=serve, args=(lst, hold), daemon=True)
            t.start()
            threads.append(t)
        fast = flood(lsts[0].getsockname()[1], 300, lambda i: os.urandom(16), concurrency=50,
                     deadline=20)
        assert fast.done == 300 and fast.fast_close == 300 and fast.elapsed < 20, fast
        held = flood(lsts[1].getsockname()[1], 20, lambda i: b"x", concurrency=20,
                     deadline=20, read_timeout=1.0)
        assert held.done == 20 and held.outcomes == {"open": 20}, held
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        for lst in lsts:
            lst.close()


def test_dnsmasq_hosts_file_drops_a_name(hosts_dnsmasq):
    d = hosts_dnsmasq("gone.postern.test", "127.0.0.1")
    d.remove()
    assert d.query() in (None, [])
    assert d.query_rcode() is not None      # an answer (NXDOMAIN/REFUSED), not silence
