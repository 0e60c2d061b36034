"""h2c routes (docs/hub.md §1.2): an http route with proto=h2c gets its users' HTTP/2 streams
as HTTP/2. A gRPC-style bidirectional stream through the hub's terminated https= port to a
service that speaks HTTP/2 without TLS (python3-h2 here): each message the user sends is
echoed before the user sends the next (both directions interleaved on one stream), and the
service's trailers (grpc-status) reach the user; a trailers-only answer too. The hub's pages
still answer before the service (401 of an h2c route with auth=); an HTTP/1.1 user of an h2c
route gets 502. WebSocket over HTTP/2 (RFC 8441 extended CONNECT, :protocol websocket) to an
HTTP/1.1 WebSocket service (python3-websockets): 200, then masked frames echoed. One hub and
one agent serve the module."""
import os
import socket
import ssl
import time

import pytest

from conftest import _failed
from hub_util import Route, TlsHub, account, auth_spec, curl

try:
    import h2.config
    import h2.connection
    import h2.events
except ImportError:         # Debian's python3-h2 (scripts/deps.sh)
    h2 = None


def need_h2():
    if h2 is None:
        if os.environ.get("POSTERN_REQUIRE_TOOLS") == "1":
            pytest.fail("python3-h2 is missing (scripts/deps.sh)")
        pytest.skip("python3-h2 is missing")


def send_chunks(c, sid, data):
    for i in range(0, len(data), 16000):
        c.send_data(sid, data[i:i + 16000])


def h2c_service(backend, conn):
    """An HTTP/2 service without TLS: a request gets its head at once, then the bytes of each
    DATA in upper case, and at the request's end trailers grpc-status 0; /fail answers
    trailers-only (grpc-status 12), /drop its head and then closes the connection. The
    request's fields are recorded."""
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False,
                                                             header_encoding="utf-8"))
    c.initiate_connection()
    conn.sendall(c.data_to_send())
    while True:
        data = conn.recv(65536)
        if not data:
            return
        for ev in c.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                fields = dict(ev.headers)
                backend.record(fields)
                if fields[":path"] == "/drop":     # the head, then the connection goes
                    c.send_headers(ev.stream_id, [(":status", "200")])
                    conn.sendall(c.data_to_send())
                    return
                if fields[":path"] == "/fail":
                    c.send_headers(ev.stream_id, [(":status", "200"),
                                                  ("content-type", "application/grpc"),
                                                  ("grpc-status", "12"),
                                                  ("grpc-message", "not here")], end_stream=True)
                else:
                    c.send_headers(ev.stream_id, [(":status", "200"),
                                                  ("content-type", "application/grpc")])
            elif isinstance(ev, h2.events.DataReceived):
                c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                if ev.data:
                    send_chunks(c, ev.stream_id, ev.data.upper())
            elif isinstance(ev, h2.events.StreamEnded):
                try:
                    c.send_headers(ev.stream_id, [("grpc-status", "0"), ("grpc-message", "ok")],
                                   end_stream=True)
                except h2.exceptions.StreamClosedError:
                    pass
        out = c.data_to_send()
        if out:
            conn.sendall(out)


@pytest.fixture(scope="module")
def hub2c(tmp_path_factory):
    c = TlsHub(tmp_path_factory.mktemp("hubh2c"), "w", "*.h2c.hub.test", [account("h2c")])
    try:
        c.svc = c.st.tcp(h2c_service, name="h2c")
        c.ws = c.st.ws_echo()
        c.st.agent(c.hub, c.acct["token"], [
            Route("http", c.ws.port, host="w.h2c.hub.test"),
            Route("http", c.svc.port, host="g.h2c.hub.test", proto="h2c"),
            Route("http", c.svc.port, host="p.h2c.hub.test", proto="h2c", auth=auth_spec("u", "pw")),
        ])
        yield c
    finally:
        c.cleanup()


@pytest.fixture
def h(hub2c, request):
    yield hub2c
    if _failed(request):
        print(hub2c.st.outputs())


class User:
    """An HTTP/2 user (python3-h2) over TLS to the hub's https= port."""

    def __init__(self, h, name):
        ctx = ssl.create_default_context(cafile=str(h.ca.ca_pem))
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection(("127.0.0.1", h.hub.https_port), timeout=20)
        self.sock = ctx.wrap_socket(raw, server_hostname=name)
        assert self.sock.selected_alpn_protocol() == "h2"
        self.name = name
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                      header_encoding="utf-8"))
        self.c.initiate_connection()
        self.flush()

    def flush(self):
        out = self.c.data_to_send()
        if out:
            self.sock.sendall(out)

    def request(self, path, extra=(), end=False):
        sid = self.c.get_next_available_stream_id()
        self.c.send_headers(sid, [(":method", "POST"), (":scheme", "https"),
                                  (":authority", self.name), (":path", path),
                                  ("content-type", "application/grpc"), ("te", "trailers"),
                                  *extra], end_stream=end)
        self.flush()
        return sid

    def events(self, want, timeout=20.0):
        """Events until one matches <want>; all of them."""
        got = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.sock.recv(65536)
            assert data, f"the hub closed the connection; events: {got}"
            for ev in self.c.receive_data(data):
                got.append(ev)
                if isinstance(ev, h2.events.DataReceived):
                    self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            self.flush()
            if any(want(e) for e in got):
                return got
        raise AssertionError(f"no awaited event within {timeout}s: {got}")

    def finish(self, sid, kind):
        """Events until stream <sid> ends: (the first of <kind> on it or None, all events)."""
        evs = self.events(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == sid)
        got = [e for e in evs if isinstance(e, kind) and e.stream_id == sid]
        return (got[0] if got else None), evs

    def close(self):
        self.sock.close()


def test_bidirectional_stream_with_trailers(h):
    need_h2()
    u = User(h, "g.h2c.hub.test")
    try:
        sid = u.request("/pkg.Echo/Chat")
        heads = u.events(lambda e: isinstance(e, h2.events.ResponseReceived))
        resp = [e for e in heads if isinstance(e, h2.events.ResponseReceived)][0]
        assert dict(resp.headers)[":status"] == "200"
        # Interleaved: each echo comes back while the request is still open.
        for i in range(5):
            msg = f"message {i} ".encode() * (1 + 3000 * (i == 3))    # one of 30 KB
            send_chunks(u.c, sid, msg)
            u.flush()
            want = msg.upper()
            got = b""
            while len(got) < len(want):
                evs = u.events(lambda e: isinstance(e, h2.events.DataReceived))
                got += b"".join(e.data for e in evs if isinstance(e, h2.events.DataReceived))
            assert got == want
        u.c.end_stream(sid)
        u.flush()
        evs = u.events(lambda e: isinstance(e, h2.events.StreamEnded))
        tr = [e for e in evs if isinstance(e, h2.events.TrailersReceived)]
        assert tr and dict(tr[0].headers) == {"grpc-status": "0", "grpc-message": "ok"}, evs
        rec = h.svc.wait_record(lambda r: r[":path"] == "/pkg.Echo/Chat")
        assert rec[":authority"] == "g.h2c.hub.test" and rec[":scheme"] == "http"
        assert rec["te"] == "trailers" and rec["x-forwarded-proto"] == "https"
        assert rec["x-forwarded-for"] == "127.0.0.1"
        # A trailers-only answer on the same connection: HEADERS with END_STREAM.
        resp, evs = u.finish(u.request("/fail", end=True), h2.events.ResponseReceived)
        assert resp and dict(resp.headers)["grpc-status"] == "12", evs
    finally:
        u.close()


def test_authority_found_as_the_router_finds_it(h):
    """The stream's h2c mark comes from the authority normalised as the router's parser does
    (case, port, trailing dot): such a request reaches the service as h2c, not a 502."""
    need_h2()
    u = User(h, "g.h2c.hub.test")
    try:
        for authority in ("G.H2C.Hub.Test:443", "g.h2c.hub.test."):
            u.name = authority
            resp, evs = u.finish(u.request("/fail", end=True), h2.events.ResponseReceived)
            assert resp and dict(resp.headers).get("grpc-status") == "12", (authority, evs)
    finally:
        u.close()


def test_pages_before_the_service_and_http1_refused(h):
    need_h2()
    u = User(h, "p.h2c.hub.test")
    try:
        sid = u.request("/pkg.Echo/Chat", end=True)
        evs = u.events(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == sid)
        resp = [e for e in evs if isinstance(e, h2.events.ResponseReceived)][0]
        fields = dict(resp.headers)
        assert fields[":status"] == "401" and "www-authenticate" in fields, fields
        sid = u.request("/pkg.Echo/Chat", extra=(("authorization", "Basic dTpwdw=="),))
        evs = u.events(lambda e: isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid)
        assert dict([e for e in evs if isinstance(e, h2.events.ResponseReceived)][0].headers)[
            ":status"] == "200"
        u.c.end_stream(sid)
        u.flush()
        evs = u.events(lambda e: isinstance(e, h2.events.StreamEnded) and e.stream_id == sid)
        assert any(isinstance(e, h2.events.TrailersReceived) for e in evs), evs
    finally:
        u.close()
    port = h.hub.https_port
    r = curl("--cacert", str(h.ca.ca_pem), "--resolve", f"g.h2c.hub.test:{port}:127.0.0.1",
             "--http1.1", "-s", "-o", "-", "-w", "|%{http_code}", f"https://g.h2c.hub.test:{port}/x")
    body, _, code = r.stdout.decode().rpartition("|")
    assert code == "502" and "HTTP/2 only" in body, r.stdout


def ws_frame(payload, opcode=1):
    """A client's (masked) WebSocket frame of <payload> (< 64 KiB)."""
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_websocket_over_h2_extended_connect(h):
    need_h2()
    u = User(h, "w.h2c.hub.test")
    try:
        u.events(lambda e: isinstance(e, h2.events.RemoteSettingsChanged))
        assert u.c.remote_settings.enable_connect_protocol == 1
        sid = u.c.get_next_available_stream_id()
        u.c.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                               (":scheme", "https"), (":authority", u.name), (":path", "/ws"),
                               ("sec-websocket-version", "13")])
        u.flush()
        evs = u.events(lambda e: isinstance(e, h2.events.ResponseReceived))
        fields = dict([e for e in evs if isinstance(e, h2.events.ResponseReceived)][0].headers)
        assert fields[":status"] == "200" and "sec-websocket-accept" not in fields, fields
        for i in range(3):
            msg = f"hello {i}".encode() * (1 + 500 * (i == 1))
            send_chunks(u.c, sid, ws_frame(msg))
            u.flush()
            got = b""
            hl = 2 if len(msg) < 126 else 4
            while len(got) < hl + len(msg):
                evs = u.events(lambda e: isinstance(e, h2.events.DataReceived))
                got += b"".join(e.data for e in evs if isinstance(e, h2.events.DataReceived))
            assert got[0] == 0x81 and got[hl:] == msg, got[:20]
        assert h.ws.messages >= 3
    finally:
        u.close()


def test_resets_both_ways(h):
    """The service's connection lost mid-stream resets the user's stream; a user's reset of
    a stream in flight ends it at the service; the connection serves the next stream."""
    need_h2()
    u = User(h, "g.h2c.hub.test")
    try:
        sid = u.request("/drop")
        # Reset, with or without the head before it (a reset may overtake frames still queued).
        evs = u.events(lambda e: isinstance(e, (h2.events.StreamReset, h2.events.StreamEnded)) and
                       e.stream_id == sid)
        assert any(isinstance(e, h2.events.StreamReset) and e.stream_id == sid for e in evs), evs
        assert not any(isinstance(e, h2.events.StreamEnded) and e.stream_id == sid for e in evs), evs
        sid = u.request("/pkg.Echo/Cancelled")
        u.events(lambda e: isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid)
        u.c.reset_stream(sid)
        u.flush()
        tr, evs = u.finish(u.request("/pkg.Echo/After", end=True), h2.events.TrailersReceived)
        assert tr and dict(tr.headers)["grpc-status"] == "0", evs
    finally:
        u.close()
