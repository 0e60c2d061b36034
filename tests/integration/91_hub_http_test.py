"""The hub's HTTP side (docs/hub.md §1): X-Forwarded-For / -Proto / -Host, keep-alive
connections whose Host changes between requests, pipelining, a WebSocket (python3-websockets
on both ends) through an http route, and the hub's own pages: 404 (no route), 502 (local
service down, backend closing, agent gone), 504 (no answer within timeout=1s), 400 (malformed,
head over 16 KiB). One hub (timeout=1s) and two agents serve the module; the agent-gone case
starts and kills an agent of its own."""
import hashlib
import json
import os
import time

import pytest

from conftest import _failed, free_port
from hub_util import (USER_IP, HttpConn, HubStack, Route, account, assert_page, backend_of,
                      close_at_once_handler, curl_host, header_values, http_request,
                      pattern_bytes, wait_status, ws_exchange)


class Web:
    pass


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    st = HubStack(tmp_path_factory.mktemp("hubweb"))
    try:
        w = Web()
        w.stack = st
        w.acct = account("web")
        try:
            w.hub = st.hub([w.acct], http=True, params="timeout=1s")
            w.A, w.B = st.http_echo("A"), st.http_echo("B")
            w.ws = st.ws_echo()
            w.closer = st.tcp(close_at_once_handler, name="closer")
            w.dead_port = free_port()        # nothing listens there
            w.agent1 = st.agent(w.hub, w.acct["token"], [
                Route("http", w.A.port, host="a.hub.test"),
                Route("http", w.ws.port, host="ws.hub.test"),
                Route("http", w.dead_port, host="down.hub.test"),
                Route("http", w.closer.port, host="closer.hub.test"),
            ], label="agent1")
            w.agent2 = st.agent(w.hub, w.acct["token"],
                                [Route("http", w.B.port, host="b.hub.test")], label="agent2")
        except Exception as e:
            raise AssertionError(f"the hub did not come up: {e}\n{st.outputs()}") from None
        yield w
    finally:
        st.cleanup()


@pytest.fixture
def w(web, request):
    yield web
    if _failed(request):
        print(web.stack.outputs())


def _xff_list(rec):
    vals = header_values(rec, "X-Forwarded-For")
    return [x.strip() for v in vals for x in v.split(",")]


def test_x_forwarded_headers(w):
    port = w.hub.http_port
    r = http_request(port, "a.hub.test", "/plain", src_ip=USER_IP)
    rec = r.json()
    assert rec["backend"] == "A", r
    assert _xff_list(rec) == [USER_IP], f"X-Forwarded-For seen: {header_values(rec, 'X-Forwarded-For')}"
    assert header_values(rec, "X-Forwarded-Proto") == ["http"], rec["headers"]
    assert header_values(rec, "X-Forwarded-Host") == [], \
        "X-Forwarded-Host is left alone: the hub must not add one"

    body = os.urandom(30000)
    r = http_request(port, "a.hub.test", "/sent", method="POST", body=body, src_ip=USER_IP,
                     headers=[("X-Forwarded-For", "203.0.113.7"),
                              ("X-Forwarded-Proto", "https"),
                              ("X-Forwarded-Host", "orig.example:8443")])
    rec = r.json()
    assert _xff_list(rec) == ["203.0.113.7", USER_IP], \
        f"the user's address must be appended: {header_values(rec, 'X-Forwarded-For')}"
    assert header_values(rec, "X-Forwarded-Proto") == ["http"], \
        f"X-Forwarded-Proto must replace the user's: {header_values(rec, 'X-Forwarded-Proto')}"
    assert header_values(rec, "X-Forwarded-Host") == ["orig.example:8443"], rec["headers"]
    assert rec["body_len"] == len(body)
    assert rec["body_sha256"] == hashlib.sha256(body).hexdigest(), "the request body changed"


def test_keepalive_connection_routed_request_by_request(w):
    port = w.hub.http_port
    w.A.wait(lambda b: b.open_conns == 0, timeout=5, what="no open connection to A")
    base_a, base_b = w.A.count(), w.B.count()
    with HttpConn(port, src_ip=USER_IP) as c:
        seq = [("a.hub.test", "A"), ("a.hub.test", "A"), ("b.hub.test", "B"),
               ("a.hub.test", "A"), ("b.hub.test", "B")]
        for i, (host, want) in enumerate(seq):
            r = c.request(host, f"/ka/{i}")
            assert backend_of(r) == want, f"request {i} for {host} on one connection: {r!r}"
            rec = r.json()
            assert _xff_list(rec) == [USER_IP], rec["headers"]
            assert (r.header("Connection") or "").lower() != "close", \
                f"the hub closed the keep-alive connection after request {i}: {r!r}"
            if i == 2:
                # Host changed: the old backend connection is closed
                w.A.wait(lambda b: b.open_conns == 0, timeout=3,
                         what="A's connection closed after the Host changed to b")
        assert c.closed(within=0.3) == "open", "the user's connection was closed"
    assert w.A.count() - base_a == 3 and w.B.count() - base_b == 2
    a_reqs = [r for r in w.A.requests if r["path"].startswith("/ka/")]
    assert a_reqs[0]["peer"] != a_reqs[2]["peer"], \
        "after a switch to b and back, A was reached on its old (closed) connection"


def test_keepalive_framing_chunked_head_204_between_host_switches(w):
    """The hub must find where each request and response ends to route the next one:
    chunked request bodies, chunked responses, HEAD and 204 responses (no body)."""
    body = [os.urandom(n) for n in (1, 1000, 70000, 3)]
    whole = b"".join(body)
    with HttpConn(w.hub.http_port) as c:
        c.send_chunked("a.hub.test", "/up", body)
        r = c.read()
        assert backend_of(r) == "A" and r.json()["body_len"] == len(whole), r
        assert r.json()["body_sha256"] == hashlib.sha256(whole).hexdigest()
        r = c.request("b.hub.test", "/after-chunked-body")
        assert backend_of(r) == "B", r
        r = c.request("a.hub.test", "/chunked")
        assert backend_of(r) == "A" and r.json()["path"] == "/chunked", r
        r = c.request("b.hub.test", "/after-chunked-response")
        assert backend_of(r) == "B" and r.json()["path"] == "/after-chunked-response", r
        r = c.request("a.hub.test", "/head", method="HEAD")
        assert r.status == 200 and r.body == b"", r
        r = c.request("b.hub.test", "/after-head")
        assert backend_of(r) == "B" and r.json()["path"] == "/after-head", r
        r = c.request("a.hub.test", "/nocontent")
        assert r.status == 204, r
        r = c.request("b.hub.test", "/after-204")
        assert backend_of(r) == "B" and r.json()["path"] == "/after-204", r
        r = c.request("b.hub.test", "/post", method="POST", body=b"z" * 5000)
        assert backend_of(r) == "B" and r.json()["body_len"] == 5000, r
        r = c.request("a.hub.test", "/after-post")
        assert backend_of(r) == "A" and r.json()["path"] == "/after-post", r
        # an Upgrade request answered 200 (not 101) leaves the connection HTTP
        r = c.request("a.hub.test", "/no-upgrade",
                      headers=[("Connection", "Upgrade"), ("Upgrade", "websocket")])
        assert backend_of(r) == "A", r
        r = c.request("b.hub.test", "/after-refused-upgrade")
        assert backend_of(r) == "B" and r.json()["path"] == "/after-refused-upgrade", r


def test_large_bodies_both_ways_and_100_continue_with_curl(w, tmp_path):
    """curl sends a 2 MB POST with "Expect: 100-continue" (the 100 must be relayed before
    the final response); a 5 MB response comes back intact; a close-delimited response
    (no length) is relayed whole and the connection then closed."""
    upload = tmp_path / "up.bin"
    data = os.urandom(2 * 1024 * 1024)
    upload.write_bytes(data)
    st, body = curl_host(w.hub.http_port, "a.hub.test", "/upload",
                         extra=["-H", "Expect: 100-continue", "--data-binary", f"@{upload}"])
    assert st == 200, (st, body[:300])
    rec = json.loads(body)
    assert rec["body_len"] == len(data) and \
        rec["body_sha256"] == hashlib.sha256(data).hexdigest(), rec
    assert header_values(rec, "Expect") == ["100-continue"], rec["headers"]

    n = 5 * 1000 * 1000
    st, body = curl_host(w.hub.http_port, "b.hub.test", f"/bytes/{n}")
    assert st == 200 and len(body) == n and body == pattern_bytes(n), \
        f"5 MB response: status {st}, {len(body)} bytes"

    r = http_request(w.hub.http_port, "a.hub.test", "/eof", keepalive=True, timeout=10)
    assert r.status == 200 and r.body == pattern_bytes(200000), \
        f"close-delimited response: {r.status}, {len(r.body)} bytes"


def test_pipelined_requests_across_hosts_answered_in_order(w):
    with HttpConn(w.hub.http_port) as c:
        order = [("b.hub.test", "B"), ("a.hub.test", "A"), ("a.hub.test", "A"),
                 ("b.hub.test", "B")]
        for i, (host, _) in enumerate(order):
            c.send(host, f"/pipe/{i}")
        for i, (host, want) in enumerate(order):
            r = c.read()
            assert backend_of(r) == want and r.json()["path"] == f"/pipe/{i}", \
                f"pipelined response {i} (for {host}): {r!r}"


def test_websocket_through_an_http_route(w):
    big = os.urandom(100 * 1024)
    msgs = ["hello", big, "x" * 10, "é" * 30000, b"\x00\x01\x02", os.urandom(1)]
    got = ws_exchange(w.hub.http_port, "ws.hub.test", msgs, timeout=20)
    assert len(got) == len(msgs)
    for i, (sent, back) in enumerate(zip(msgs, got)):
        assert type(sent) is type(back) and sent == back, \
            f"message {i} ({len(sent)} {'bytes' if isinstance(sent, bytes) else 'chars'}) " \
            f"came back different"
    hdrs = w.ws.requests[-1]
    assert any(k.lower() == "x-forwarded-for" for k, _ in hdrs), \
        f"the WebSocket upgrade request lacks X-Forwarded-For: {hdrs}"
    # a second connection works as well (the first one did not break the route)
    assert ws_exchange(w.hub.http_port, "ws.hub.test", [big[:1000]])[0] == big[:1000]


def test_404_no_route_for_host(w):
    r = http_request(w.hub.http_port, "nope.hub.test", "/x", keepalive=True, check_close=True)
    assert_page(r, 404, 'no route for host "nope.hub.test"')
    r = http_request(w.hub.http_port, "nope.hub.test:8080", "/x", keepalive=True,
                     check_close=True)
    assert r.status == 404, r


def test_404_page_escapes_the_host(w):
    evil = 'x"><script>alert(1)</script>.hub.test'
    r = http_request(w.hub.http_port, evil, "/", keepalive=True, check_close=True)
    assert r.status in (400, 404), r
    assert b"<script>" not in r.body, f"a user's host name was put raw in the page: {r.body!r}"
    r2 = http_request(w.hub.http_port, "esc\x1b[31mred.hub.test", "/", keepalive=True,
                      check_close=True)
    assert r2.status in (400, 404), r2
    assert b"\x1b" not in r2.body, f"a control character went into the page: {r2.body!r}"
    time.sleep(0.2)
    out = w.hub.proc.output()
    assert "<script>" not in out, "a user's host name was logged raw"
    assert "\x1b" not in out, "a control character from a user's Host was logged raw"


def test_400_malformed_request_and_oversized_head(w):
    r = http_request(w.hub.http_port, None, raw=b"THIS IS NOT HTTP\r\n\r\n", check_close=True)
    assert_page(r, 400, "bad request")
    big = ("GET / HTTP/1.1\r\nHost: a.hub.test\r\nX-Big: " + "b" * (17 * 1024)
                   + "\r\n\r\n").encode()
    before = w.A.count()
    r = http_request(w.hub.http_port, None, raw=big, check_close=True)
    assert_page(r, 400, "bad request")
    assert w.A.count() == before, "a request with a head over 16 KiB reached the backend"
    # a head just under the limit passes
    r = http_request(w.hub.http_port, "a.hub.test", "/under",
                     headers=[("X-Big", "u" * (15 * 1024))])
    assert backend_of(r) == "A", r


def test_502_local_service_down_or_closing(w):
    r = http_request(w.hub.http_port, "down.hub.test", "/", keepalive=True, check_close=True,
                     timeout=10)
    assert_page(r, 502, 'the service for "down.hub.test" did not answer')
    before = len(w.closer.records)
    r = http_request(w.hub.http_port, "closer.hub.test", "/", keepalive=True, check_close=True,
                     timeout=10)
    assert_page(r, 502, 'the service for "closer.hub.test" did not answer')
    assert len(w.closer.records) > before, "the closing backend was never reached"


def test_504_when_the_backend_never_answers(w):
    t0 = time.monotonic()
    r = http_request(w.hub.http_port, "a.hub.test", "/hang", keepalive=True, check_close=True,
                     timeout=10)
    took = time.monotonic() - t0
    assert_page(r, 504, 'the service for "a.hub.test" did not answer in time')
    assert 0.8 <= took <= 4.0, f"504 after {took:.2f}s with timeout=1s"
    assert any(q["path"] == "/hang" for q in w.A.requests), "the request never reached A"
    # the route still works afterwards
    assert backend_of(http_request(w.hub.http_port, "a.hub.test", "/after-504")) == "A"


def test_502_when_the_agent_is_gone_and_back_when_it_returns(w):
    gb = w.stack.http_echo("G")
    agent = w.stack.agent(w.hub, w.acct["token"], [Route("http", gb.port, host="gone.hub.test")],
                          label="agent-gone")
    assert backend_of(http_request(w.hub.http_port, "gone.hub.test", "/1")) == "G"
    agent.kill()
    r = wait_status(w.hub.http_port, "gone.hub.test", lambda r: not (
        hasattr(r, "status") and r.status == 200), timeout=5, keepalive=True, check_close=True,
        what="an answer other than 200 after the agent was killed")
    assert_page(r, 502, 'the service for "gone.hub.test" is not connected')
    # the other agents' routes are untouched
    assert backend_of(http_request(w.hub.http_port, "a.hub.test", "/still")) == "A"
    agent.restart()
    wait_status(w.hub.http_port, "gone.hub.test", lambda r: backend_of(r) == "G", timeout=5,
                what="G reachable again after the agent came back")
