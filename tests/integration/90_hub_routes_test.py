"""The hub's routes (docs/hub.md §1, §2, §6): three agents of two accounts publish ten
routes (tcp, udp, http, https) through one hub; each route reaches its own backend (http by
Host, https by SNI with the backend's own certificate, tcp and udp through published ports);
the HUB_STATE line lists them. Then, on hubs of their own: a taken port or host is refused
with a reason (and retried at a reload once free), an http host registered by two agents
with the same group_key is a round-robin group (a different key is refused), and a tcp
group shares its port."""
import os
import re
import time
import socket
import threading

import pytest

from conftest import _failed, ask_id, id_handler, echo_handler, wait_until
from hub_util import (DOMAIN, HubStack, Route, UdpClient, account, backend_of, curl_host,
                      echo_once, http_request, hubstack, port_block, s_client,  # noqa: F401
                      state_account, state_route, tls_in_pieces)
from tunnel_util import concurrent_echo
from udp_util import tcp_refused


# --------------------------------------------------------------------------------------
# the mesh: 3 agents, 10 routes, one hub (started once for the module)
# --------------------------------------------------------------------------------------

class Mesh:
    pass


def _build_mesh(st):
    m = Mesh()
    m.stack = st
    base = port_block(30)
    m.base = base
    m.alice = account("alice", ports=[f"{base}-{base + 19}"])
    m.bob = account("bob", ports=[f"{base + 20}-{base + 29}"], hosts=["*.bob.hub.test"])
    m.hub = st.hub([m.alice, m.bob], http=True, https=True, ports=(base, base + 29),
                   env={"POSTERN_HANDSHAKE_TIMEOUT": "3s"})
    m.web = {n: st.http_echo(n) for n in ("A1", "A2", "B1", "C1")}
    m.tls = {n: st.tls_echo(n) for n in ("s1.hub.test", "s2.bob.hub.test")}
    m.udp = {n: st.udp_echo(n) for n in ("U1", "U2")}
    m.echo = st.tcp(echo_handler, name="tcp-echo")
    m.ident = st.tcp(id_handler("auto-backend"), name="tcp-id")
    m.routes = {
        "a1": Route("http", m.web["A1"].port, host="a1.hub.test"),
        "a2": Route("http", m.web["A2"].port, host="a2"),          # bare label: a2.hub.test
        "t1": Route("tcp", m.echo.port, port=base + 1),
        "u1": Route("udp", m.udp["U1"].port, port=base + 2),
        "b1": Route("http", m.web["B1"].port, host="b1.hub.test"),
        "s1": Route("https", m.tls["s1.hub.test"].port, host="s1.hub.test"),
        "auto": Route("tcp", m.ident.port, name="auto-tcp"),      # the hub picks the port
        "c1": Route("http", m.web["C1"].port, host="c1.bob.hub.test"),
        "s2": Route("https", m.tls["s2.bob.hub.test"].port, host="s2.bob.hub.test"),
        "u2": Route("udp", m.udp["U2"].port, port=base + 21),
    }
    r = m.routes
    m.agents = [
        st.agent(m.hub, m.alice["token"], [r["a1"], r["a2"], r["t1"], r["u1"]], start=False,
                 label="agent1"),
        st.agent(m.hub, m.alice["token"], [r["b1"], r["s1"], r["auto"]], start=False,
                 label="agent2"),
        st.agent(m.hub, m.bob["token"], [r["c1"], r["s2"], r["u2"]], start=False,
                 label="agent3"),
    ]
    for a in m.agents:
        a.start(wait=False)
    m.registered = {}
    for a in m.agents:
        for rt in a.routes:
            m.registered[rt.name] = a.registered(rt, timeout=15)
    m.auto_port = int(re.search(r"(\d{1,5})\D*$", m.registered["auto-tcp"]).group(1))
    return m


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    st = HubStack(tmp_path_factory.mktemp("hubmesh"))
    try:
        try:
            m = _build_mesh(st)
        except Exception as e:
            raise AssertionError(f"the mesh did not come up: {e}\n{st.outputs()}") from None
        yield m
    finally:
        st.cleanup()


@pytest.fixture
def m(mesh, request):
    """The module's mesh; every postern output is printed when the test failed."""
    yield mesh
    if _failed(request):
        print(mesh.stack.outputs())


HTTP_ROUTES = [("a1.hub.test", "A1"), ("a2.hub.test", "A2"), ("b1.hub.test", "B1"),
               ("c1.bob.hub.test", "C1")]


def test_ten_routes_registered_as_asked(m):
    reg = m.registered
    assert len(reg) == 10, reg
    first = {k: (v.split() or [""])[0] for k, v in reg.items()}
    assert first["http:a1.hub.test"] == "a1.hub.test", reg
    assert first["http:a2"] == f"a2.{DOMAIN}", f"a bare label means <label>.<domain>: {reg}"
    assert first["https:s1.hub.test"] == "s1.hub.test", reg
    assert first["http:c1.bob.hub.test"] == "c1.bob.hub.test", reg
    for name, port in ((f"tcp:{m.base + 1}", m.base + 1), (f"udp:{m.base + 2}", m.base + 2),
                       (f"udp:{m.base + 21}", m.base + 21)):
        assert re.search(rf"(?<!\d){port}\D*$", reg[name]), (name, reg[name])
    # a port the hub chose: in alice's range, not one of the ports asked for
    assert m.base <= m.auto_port <= m.base + 19, f"assigned port {m.auto_port} is outside " \
        f"alice's range {m.base}-{m.base + 19}"
    assert m.auto_port not in (m.base + 1, m.base + 2)


def test_hub_state_lists_clients_routes_and_accounts(m):
    def complete(s):
        return len(s["clients"]) == 3 and len(s["routes"]) == 10
    s = m.hub.wait_state(complete, timeout=5, what="HUB_STATE with 3 clients, 10 routes")
    assert sorted(c["account"] for c in s["clients"]) == ["alice", "alice", "bob"], s["clients"]
    assert sorted(c["routes"] for c in s["clients"]) == [3, 3, 4], s["clients"]
    for c in s["clients"]:
        assert c["peer"].startswith("127.0.0.1:"), c
        for k in ("id", "since", "pool", "ping_ms"):
            assert k in c, (k, c)
    want = {("http", "a1.hub.test"), ("http", "a2.hub.test"), ("http", "b1.hub.test"),
            ("http", "c1.bob.hub.test"), ("https", "s1.hub.test"),
            ("https", "s2.bob.hub.test"), ("tcp", str(m.base + 1)), ("tcp", str(m.auto_port)),
            ("udp", str(m.base + 2)), ("udp", str(m.base + 21))}
    got = {(r["type"], str(r["key"])) for r in s["routes"]}
    assert got == want, f"HUB_STATE routes {got} != {want}"
    for r in s["routes"]:
        assert r["members"] == 1 and r["online"] == 1, r
        key = str(r["key"])
        assert r["account"] == ("bob" if "bob" in key or key == str(m.base + 21)
                                else "alice"), r
    alice, bob = state_account(s, "alice"), state_account(s, "bob")
    assert alice and alice["clients"] == 2 and alice["routes"] == 7, alice
    assert bob and bob["clients"] == 1 and bob["routes"] == 3, bob
    for a in (alice, bob):
        for k in ("conns", "requests", "rx", "tx", "refused"):
            assert k in a, (k, a)


def test_http_routes_by_host_with_curl(m):
    for host, name in HTTP_ROUTES:
        # Host "<name>:<port>" (curl --resolve) ...
        status, body = curl_host(m.hub.http_port, host, f"/r/{name}")
        assert status == 200, f"curl {host}: {status} {body[:300]!r}"
        assert b'"backend": "%s"' % name.encode() in body, f"{host} reached {body[:200]!r}"
        # ... and a bare "Host: <name>"
        status, body = curl_host(m.hub.http_port, host, f"/h/{name}", resolve=False)
        assert status == 200 and b'"backend": "%s"' % name.encode() in body, \
            f"curl -H 'Host: {host}': {status} {body[:300]!r}"
    for name in ("A1", "A2", "B1", "C1"):
        paths = [r["path"] for r in m.web[name].requests]
        assert f"/r/{name}" in paths and f"/h/{name}" in paths, (name, paths)


def test_concurrent_requests_to_all_http_routes_reach_the_right_backend(m):
    errors = []

    def worker(k):
        for i in range(8):
            host, name = HTTP_ROUTES[(k + i) % len(HTTP_ROUTES)]
            path = f"/conc/{k}/{i}"
            try:
                r = http_request(m.hub.http_port, host, path, timeout=10)
                rec = r.json()
                if rec["backend"] != name or rec["path"] != path:
                    errors.append(f"{host}{path} -> {rec['backend']}{rec['path']}")
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{host}{path}: {type(e).__name__}: {e}")

    ts = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(30)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in ts), "requests still running after 60 s"
    assert not errors, f"{len(errors)} of 240 concurrent requests failed: {errors[:5]}"


def test_http_host_is_matched_case_insensitively(m):
    """Host names are case-insensitive (RFC 9110 §4.2.3); a user typing A1.HUB.TEST
    reaches a1.hub.test, as with frp's or ngrok's routing."""
    r = http_request(m.hub.http_port, "A1.Hub.TEST", "/case")
    assert backend_of(r) == "A1", r


def test_http_port_does_not_serve_https_routes(m):
    """Routes are per type: the https route s1.hub.test is no http route."""
    r = http_request(m.hub.http_port, "s1.hub.test", "/")
    assert r.status == 404, r


def test_sni_is_matched_case_insensitively(m):
    """DNS names are case-insensitive; a ClientHello naming S1.HUB.TEST reaches
    s1.hub.test (the frp/ngrok behaviour)."""
    rc, out, err, fp = s_client(m.hub.https_port, "S1.Hub.Test")
    assert fp == m.tls["s1.hub.test"].fingerprint, \
        f"SNI S1.Hub.Test: rc {rc}, certificate {fp}\n{err.decode(errors='replace')[-500:]}"


def test_tcp_routes_through_published_ports(m):
    t1 = m.base + 1
    assert echo_once(t1, b"hello through the hub") is True
    bad = concurrent_echo(t1, 150, size=lambda i: 1000 + 997 * i, timeout=30)
    assert not bad, f"{len(bad)} of 150 concurrent echoes failed: {list(bad.items())[:5]}"
    assert ask_id(m.auto_port) == "auto-backend"
    # a port of the range that no route took: nothing listens there
    assert tcp_refused(m.base + 15), f"port {m.base + 15} accepts without a route"


def test_udp_routes_through_published_ports(m):
    for port, echo in ((m.base + 2, m.udp["U1"]), (m.base + 21, m.udp["U2"])):
        before = echo.counts()[0]
        with UdpClient(port, name=f"udp-{port}-a") as a, UdpClient(port, name=f"udp-{port}-b") as b:
            for size in (1, 512, 8000, 30000):
                a.exchange(os.urandom(size), timeout=1.5, retries=3)
                b.exchange(os.urandom(size), timeout=1.5, retries=3)
        assert echo.counts()[0] - before >= 6, f"{echo.name} saw {echo.counts()[0] - before}"


def test_https_by_sni_reaches_the_backends_own_certificate(m):
    for name, other in (("s1.hub.test", "s2.bob.hub.test"), ("s2.bob.hub.test", "s1.hub.test")):
        b = m.tls[name]
        rc, out, err, fp = s_client(m.hub.https_port, name, data=b"ping\n")
        assert fp is not None, f"s_client -servername {name}: no certificate (rc {rc})\n" \
                               f"{out.decode(errors='replace')}\n{err.decode(errors='replace')}"
        assert fp == b.fingerprint, \
            f"{name}: the certificate seen is not the backend's (terminated at the hub, or " \
            f"routed to {other}?)"
        assert fp != m.tls[other].fingerprint
        assert f"hello from {name}".encode() in out, out.decode(errors="replace")
        assert f"{name} echo: ping".encode() in out, out.decode(errors="replace")
        assert name in b.snis, f"the backend saw SNI {b.snis}: the ClientHello was altered"


def test_https_client_hello_in_small_pieces(m):
    """The hub reads the ClientHello whole before it routes, however it is cut into TCP
    segments."""
    b = m.tls["s2.bob.hub.test"]
    fp, line = tls_in_pieces(m.hub.https_port, "s2.bob.hub.test", cuts=(1, 3, 9, 60))
    assert fp == b.fingerprint and line == "hello from s2.bob.hub.test", (fp, line)


def test_https_unknown_or_missing_sni_is_closed(m):
    before = {n: len(t.snis) for n, t in m.tls.items()}
    for sni in ("nope.hub.test", None):
        rc, out, err, fp = s_client(m.hub.https_port, sni, data=b"ping\n", timeout=8)
        assert rc != "timeout", f"SNI {sni}: the hub kept the connection open"
        assert fp is None, f"SNI {sni}: a certificate came back"
        assert b"echo:" not in out
    # not TLS at all: closed, nothing forwarded
    with socket.create_connection(("127.0.0.1", m.hub.https_port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: s1.hub.test\r\n\r\n")
        s.settimeout(5)
        try:
            data = s.recv(4096)
        except (ConnectionResetError, socket.timeout) as e:
            data = e
        assert data == b"" or isinstance(data, ConnectionResetError), \
            f"a non-TLS connection on the https port got {data!r} (expected a close)"
    after = {n: len(t.snis) for n, t in m.tls.items()}
    assert after == before, "a TLS backend was reached without its server name"


# --------------------------------------------------------------------------------------
# taken names and ports, groups (a hub per test)
# --------------------------------------------------------------------------------------

def test_taken_port_and_host_are_refused_with_a_reason(hubstack, tmp_path):
    base = port_block(10)
    alice, bob = account("alice"), account("bob")
    # a route whose agents are gone stays theirs for POSTERN_HUB_HOLD (docs/hub.md §1)
    hub = hubstack.hub([alice, bob], ports=(base, base + 9), env={"POSTERN_HUB_HOLD": "1s"})
    first = hubstack.tcp(id_handler("first"), name="first")
    second = hubstack.tcp(id_handler("second"), name="second")
    web1, web2 = hubstack.http_echo("web1"), hubstack.http_echo("web2")
    p = base + 3
    owner = hubstack.agent(hub, alice["token"], [Route("tcp", first.port, port=p),
                                                 Route("http", web1.port, host="t.hub.test")],
                           label="owner")

    # another account: the port and the host are taken
    late = hubstack.agent(hub, bob["token"], config_routes=[Route("tcp", second.port, port=p)],
                          routes=[Route("http", web2.port, host="t.hub.test")], wait=False,
                          label="late")
    reason = late.refused(f"tcp:{p}")
    assert re.search(r"(?i)taken", reason) and str(p) in reason, \
        f"unclear reason for a taken port: {reason!r}"
    reason = late.refused("http:t.hub.test")
    assert re.search(r"(?i)taken", reason), f"unclear reason for a taken host: {reason!r}"
    # the same account's second agent: taken as well
    same = hubstack.agent(hub, alice["token"], [Route("tcp", second.port, port=p)], wait=False,
                          label="same")
    assert re.search(r"(?i)taken", same.refused(f"tcp:{p}"))

    # the owner keeps both
    assert ask_id(p) == "first"
    r = http_request(hub.http_port, "t.hub.test", "/who")
    assert backend_of(r) == "web1", r
    assert web2.count() == 0

    # the owner leaves; a reload of the refused agent retries its route and gets the port
    same.kill()
    owner.kill()
    hub.wait_state(lambda s: (state_account(s, "alice") or {"clients": 0})["clients"] == 0,
                   timeout=5,
                   what="HUB_STATE with alice's agents gone")
    # held for alice first: bob's retry right away is refused, after the hold it succeeds
    mark = late.proc.mark()
    late.reload()
    assert re.search(r"(?i)taken", late.refused(f"tcp:{p}", start=mark))
    time.sleep(1.8)             # the hold (1s) plus the hub's sweep (every 500ms report)
    mark = late.proc.mark()
    late.reload()
    assert late.port_of(f"tcp:{p}", timeout=10, start=mark) == p
    wait_until(lambda: ask_id(p) == "second", timeout=5, what=f"port {p} served by the "
               f"agent that retried")


def test_http_group_same_key_round_robin_other_key_refused(hubstack):
    alice = account("alice")
    hub = hubstack.hub([alice])
    w1, w2, w3 = (hubstack.http_echo(n) for n in ("g1", "g2", "g3"))
    for w, label in ((w1, "member1"), (w2, "member2")):
        hubstack.agent(hub, alice["token"],
                       [Route("http", w.port, host="g.hub.test", group_key="k-one")], label=label)
    s = hub.wait_state(lambda s: state_route(s, "g.hub.test")["members"] == 2, timeout=5,
                       what="HUB_STATE with 2 members for g.hub.test")
    assert state_route(s, "g.hub.test")["online"] == 2

    seen = [backend_of(http_request(hub.http_port, "g.hub.test", f"/rr/{i}")) for i in range(12)]
    assert None not in seen, seen
    assert seen.count("g1") >= 4 and seen.count("g2") >= 4, \
        f"requests of a two-member group are not spread round robin: {seen}"

    other = hubstack.agent(hub, alice["token"],
                           [Route("http", w3.port, host="g.hub.test", group_key="k-two")],
                           wait=False, label="otherkey")
    reason = other.refused("http:g.hub.test")
    assert re.search(r"(?i)taken|key|group", reason), f"unclear reason: {reason!r}"
    nokey = hubstack.agent(hub, alice["token"], [Route("http", w3.port, host="g.hub.test")],
                           wait=False, label="nokey")
    nokey.refused("http:g.hub.test")
    for i in range(4):
        assert backend_of(http_request(hub.http_port, "g.hub.test", f"/after/{i}")) in ("g1", "g2")
    assert w3.count() == 0


def test_tcp_group_shares_its_port(hubstack):
    base = port_block(6)
    alice = account("alice")
    hub = hubstack.hub([alice], http=False, ports=(base, base + 5))
    p = base + 2
    for ident in ("m1", "m2"):
        b = hubstack.tcp(id_handler(ident), name=ident)
        hubstack.agent(hub, alice["token"],
                       [Route("tcp", b.port, port=p, group="gt", group_key="gk")], label=ident)
    ids = [ask_id(p) for _ in range(10)]
    assert set(ids) == {"m1", "m2"}, f"a tcp group of two: connections reached {ids}"
    s = hub.wait_state(lambda s: state_route(s, str(p), "tcp")["members"] == 2, timeout=5,
                       what="HUB_STATE with the tcp group's 2 members")
    assert state_route(s, str(p), "tcp")["group"] == "gt", s["routes"]
    b3 = hubstack.tcp(id_handler("m3"), name="m3")
    intruder = hubstack.agent(hub, alice["token"],
                              [Route("tcp", b3.port, port=p, group="gt", group_key="wrong")],
                              wait=False, label="intruder")
    intruder.refused(f"tcp:{p}")
    assert "m3" not in {ask_id(p) for _ in range(6)}


def test_hub_with_tls_data_connections(hubstack):
    """tls=1 on the hub: the agents' data connections are TLS (the hub decides); routes
    work the same."""
    base = port_block(4)
    alice = account("alice")
    hub = hubstack.hub([alice], ports=(base, base + 3), params="tls=1")
    echo = hubstack.tcp(echo_handler, name="echo")
    web = hubstack.http_echo("W")
    a = hubstack.agent(hub, alice["token"], [Route("tcp", echo.port, port=base + 1),
                                             Route("http", web.port, host="tls.hub.test")])
    a.proc.wait_for_log(r"connected to .*tls=1", timeout=5)
    assert echo_once(base + 1, b"x" * 100000) is True
    assert backend_of(http_request(hub.http_port, "tls.hub.test", "/")) == "W"


def test_public_address_of_tcp_routes(hubstack):
    """public=127.0.0.3: tcp/udp route ports are bound there, not on the hub's host."""
    base = port_block(4)
    alice = account("alice")
    hub = hubstack.hub([alice], http=False, ports=(base, base + 3), params="public=127.0.0.3")
    echo = hubstack.tcp(echo_handler, name="echo")
    hubstack.agent(hub, alice["token"], [Route("tcp", echo.port, port=base + 1)])
    with socket.create_connection(("127.0.0.3", base + 1), timeout=5) as s:
        s.sendall(b"on public")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        assert s.recv(100) == b"on public"
    assert tcp_refused(base + 1), "the route port is bound on 127.0.0.1 as well"
