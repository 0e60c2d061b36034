"""HTTP/2 from users on the hub's terminated https= port (docs/hub.md §1.2): curl --http2
and --http1.1 get the same bodies and the same hub pages (404, 401 with WWW-Authenticate), a
hundred concurrent streams on one connection (h2load -n 100 -c 1 -m 100) to an HTTP/1.1
service, a whole window again after the exchanges at rest were trimmed, and bad input (a rapid reset, a PING flood, an HPACK header-list bomb, oversized
headers, a garbage preface), each of which closes its connection with a log line naming the
reason while another user is served. The frames of the bad inputs are built here (RFC 9113,
RFC 7541 static table and literals). One hub and one agent serve the module, once with data
connections of type=0 (a TCP connection per exchange) and once of type=3 (every exchange a
stream of one HTTP/2 connection to the agent), whose DATA frames carry the bodies."""
import json
import re
import socket
import ssl
import struct
import subprocess
import time

import pytest

from conftest import _failed, require_tool
from hub_util import (Route, TlsHub, account, auth_spec, curl, header_values,
                      pattern_bytes)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@pytest.fixture(scope="module", params=["type=0", "type=3"])
def hub2(tmp_path_factory, request):
    c = TlsHub(tmp_path_factory.mktemp("hubh2"), "w", "*.h2.hub.test", [account("h2")],
               params=request.param)
    st = c.st
    try:
        c.A = st.http_echo("A")
        st.agent(c.hub, c.acct["token"], [
            Route("http", c.A.port, host="a.h2.hub.test"),
            Route("http", c.A.port, host="p.h2.hub.test", auth=auth_spec("u", "pw")),
        ])
        yield c
    finally:
        st.cleanup()


@pytest.fixture
def h(hub2, request):
    yield hub2
    if _failed(request):
        print(hub2.st.outputs())


def fetch(h, name, path, version, extra=()):
    port = h.hub.https_port
    r = curl("--cacert", str(h.ca.ca_pem), "--resolve", f"{name}:{port}:127.0.0.1", version,
             "-D", "-", "-o", "-", *extra, f"https://{name}:{port}{path}")
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    fields = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.strip()
    return lines[0], int(lines[0].split()[1]), fields, body


def test_same_bodies_and_pages_over_h1_and_h2(h):
    s1, c1, f1, b1 = fetch(h, "a.h2.hub.test", "/bytes/70000", "--http1.1")
    s2, c2, f2, b2 = fetch(h, "a.h2.hub.test", "/bytes/70000", "--http2")
    assert s1.startswith("HTTP/1.1") and s2.startswith("HTTP/2"), (s1, s2)
    assert c1 == c2 == 200 and b1 == b2 == pattern_bytes(70000)
    _, _, _, body = fetch(h, "a.h2.hub.test", "/echo?x=1", "--http2",
                          extra=("-H", "X-Test: one", "-b", "a=1; b=2"))
    rec = json.loads(body)
    assert rec["path"] == "/echo?x=1"
    assert header_values(rec, "X-Test") == ["one"]
    assert header_values(rec, "Cookie") == ["a=1; b=2"]
    assert header_values(rec, "X-Forwarded-Proto") == ["https"]
    # POST bodies, with and without content-length from curl (it sends one).
    _, c, _, body = fetch(h, "a.h2.hub.test", "/post", "--http2", extra=("--data-binary", "x" * 100000))
    assert c == 200 and json.loads(body)["body_len"] == 100000
    # The hub's own pages: same status, body and fields.
    for name, path, status in (("nothere.h2.hub.test", "/", 404), ("p.h2.hub.test", "/", 401)):
        _, c1, f1, b1 = fetch(h, name, path, "--http1.1")
        _, c2, f2, b2 = fetch(h, name, path, "--http2")
        assert c1 == c2 == status and b1 == b2, (b1, b2)
        for k in ("content-type", "cache-control", "www-authenticate", "content-length"):
            assert f1.get(k) == f2.get(k), (k, f1, f2)
    _, c, _, _ = fetch(h, "p.h2.hub.test", "/", "--http2", extra=("-u", "u:pw"))
    assert c == 200


def test_exchanges_in_turn_on_one_connection(h):
    """One HTTP/2 connection, requests one after the other: chunked, Content-Length, 204, a
    page of the hub, and again: each whole (the exchanges at rest are reused, not mixed)."""
    port = h.hub.https_port
    base = f"https://a.h2.hub.test:{port}"
    urls = [f"{base}/chunked", f"{base}/bytes/3000", f"{base}/nocontent",
            f"https://nothere.h2.hub.test:{port}/", f"{base}/chunked", f"{base}/bytes/5"]
    r = curl("--cacert", str(h.ca.ca_pem), "--http2", "--resolve", f"a.h2.hub.test:{port}:127.0.0.1",
             "--resolve", f"nothere.h2.hub.test:{port}:127.0.0.1",
             "-w", "|%{http_code} %{size_download} %{num_connects}\n",
             *[a for u in urls for a in ("-o", "/dev/null", u)])
    assert r.returncode == 0, r.stderr
    got = [line.split("|")[-1] for line in r.stdout.decode().splitlines()]
    codes = [g.split()[0] for g in got]
    assert codes == ["200", "200", "204", "404", "200", "200"], got
    assert got[1].split()[1] == "3000" and got[5].split()[1] == "5", got
    # Two connections in all (a.h2... and nothere.h2...): the a.h2 requests shared one.
    assert sum(int(g.split()[2]) for g in got) == 2, got
    rec = json.loads(curl("--cacert", str(h.ca.ca_pem), "--http2", "--resolve",
                          f"a.h2.hub.test:{port}:127.0.0.1", f"{base}/chunked").stdout)
    assert rec["backend"] == "A" and rec["path"] == "/chunked"


def test_hundred_streams_on_one_connection(h):
    require_tool("h2load")
    port = h.hub.https_port
    r = subprocess.run(["h2load", "-n", "100", "-c", "1", "-m", "100",
                        f"--connect-to=127.0.0.1:{port}", f"https://a.h2.hub.test:{port}/bytes/1024"],
                       capture_output=True, timeout=60)
    out = r.stdout.decode()
    assert "Application protocol: h2" in out, out
    assert re.search(r"requests: 100 total, 100 started, 100 done, 100 succeeded", out), out
    assert "status codes: 100 2xx" in out, out
    # Bodies of several DATA frames each (both hops), a window of them at once.
    r = subprocess.run(["h2load", "-n", "200", "-c", "1", "-m", "100",
                        f"--connect-to=127.0.0.1:{port}", f"https://a.h2.hub.test:{port}/bytes/70000"],
                       capture_output=True, timeout=60)
    out = r.stdout.decode()
    assert re.search(r"requests: 200 total, 200 started, 200 done, 200 succeeded", out), out
    assert "status codes: 200 2xx" in out, out


def path_block(path, authority=b"a.h2.hub.test"):
    # :method GET, :scheme https, :path (literal, indexed name 4), :authority (literal, name 1)
    return b"\x82\x87" + b"\x04" + hpack_str(path) + b"\x01" + hpack_str(authority)


def read_ends(t, want, timeout=20.0):
    """Read frames until <want> streams ended (END_STREAM on HEADERS or DATA): {stream: DATA
    bytes}. A RST_STREAM, a GOAWAY or the end of the connection fails."""
    t.settimeout(timeout)
    buf, ended, data = b"", set(), {}
    while len(ended) < want:
        while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
            chunk = t.recv(65536)
            assert chunk, "the hub closed the connection"
            buf += chunk
        n, ftype, flags = int.from_bytes(buf[:3], "big"), buf[3], buf[4]
        sid = struct.unpack(">I", buf[5:9])[0] & 0x7fffffff
        payload, buf = buf[9:9 + n], buf[9 + n:]
        assert ftype not in (0x3, 0x7), f"frame type {ftype} on stream {sid}: {payload!r}"
        if ftype == 0x0:
            data[sid] = data.get(sid, 0) + len(payload)
        if ftype in (0x0, 0x1) and flags & 0x1:
            ended.add(sid)
    return data


@pytest.mark.asan_keep("type=0")
def test_window_at_rest_trimmed_then_reused(h):
    """A whole window of streams (100: each exchange is kept at rest after it), the connection
    idle past the trim of its exchanges at rest (5 s: down to 8), then a window again: every
    stream whole, the second window served by the 8 kept and 92 new exchanges alike."""
    t = h2_conn(h)
    try:
        t.sendall(PREFACE + frame(0x4, 0, 0))
        for first in (1, 201):
            sids = range(first, first + 200, 2)
            t.sendall(b"".join(frame(0x1, 0x5, sid, path_block(b"/bytes/100")) for sid in sids))
            got = read_ends(t, 100)
            assert all(got.get(sid) == 100 for sid in sids), got
            if first == 1:
                time.sleep(6)
    finally:
        t.close()
    still_served(h)


# ---- bad input --------------------------------------------------------------------------

def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_int(n, prefix_bits=7, first=0):
    """An HPACK integer with an N-bit prefix (RFC 7541 §5.1), <first> ORed into its byte."""
    limit = (1 << prefix_bits) - 1
    if n < limit:
        return bytes([first | n])
    out, n = [first | limit], n - limit
    while n >= 128:
        out.append((n & 0x7f) | 0x80)
        n >>= 7
    return bytes(out + [n])


def hpack_str(s):
    return hpack_int(len(s)) + s


def req_block(authority=b"a.h2.hub.test"):
    # :method GET, :scheme https, :path /, :authority (literal, indexed name 1, no indexing)
    return b"\x82\x87\x84" + b"\x01" + hpack_str(authority)


def h2_conn(h):
    ctx = ssl.create_default_context(cafile=str(h.ca.ca_pem))
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", h.hub.https_port), timeout=10)
    t = ctx.wrap_socket(raw, server_hostname="a.h2.hub.test")
    assert t.selected_alpn_protocol() == "h2"
    return t


def closed_after(t, data, timeout=10.0):
    """Send <data> (errors once the hub closed are fine), then read until the end: True
    when the hub closed the connection."""
    t.settimeout(timeout)
    try:
        t.sendall(data)
    except (ssl.SSLError, OSError):
        return True
    try:
        while t.recv(65536):
            pass
    except (ssl.SSLError, OSError):
        pass
    return True


def still_served(h):
    _, c, _, _ = fetch(h, "a.h2.hub.test", "/ok", "--http2")
    assert c == 200


def hpack_bomb():
    # x-a: 4000 bytes, added to the dynamic table (index 62), then referenced 2000 times.
    lit = b"\x40" + hpack_str(b"x-a") + hpack_str(b"v" * 4000)
    return req_block() + lit + b"\xbe" * 2000


def oversized():
    # one field of 20000 bytes, literal without indexing, new name
    return req_block() + b"\x00" + hpack_str(b"x-big") + hpack_str(b"z" * 20000)


def headers_frames(sid, block, end_stream=True):
    chunks = [block[i:i + 16384] for i in range(0, len(block), 16384)]
    out = b""
    for i, ch in enumerate(chunks):
        last = i == len(chunks) - 1
        if i == 0:
            flags = (0x1 if end_stream else 0) | (0x4 if last else 0)
            out += frame(0x1, flags, sid, ch)
        else:
            out += frame(0x9, 0x4 if last else 0, sid, ch)
    return out


CASES = {
    "rapid_reset": (lambda: b"".join(frame(0x1, 0x5, sid, req_block()) + frame(0x3, 0, sid, b"\x00\x00\x00\x08")
                                     for sid in range(1, 1200, 2)),
                    r"rapid reset"),
    "ping_flood": (lambda: b"".join(frame(0x6, 0, 0, struct.pack(">Q", i)) for i in range(3000)),
                   r"PING/SETTINGS|flood of frames"),
    "hpack_bomb": (lambda: headers_frames(1, hpack_bomb()), r"header list bomb"),
    "oversized_headers": (lambda: headers_frames(1, oversized()), r"header list bomb"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_closes_that_connection(h, case):
    make, reason = CASES[case]
    mark = h.hub.proc.mark()
    t = h2_conn(h)
    try:
        assert closed_after(t, PREFACE + frame(0x4, 0, 0) + make())
    finally:
        t.close()
    h.hub.proc.wait_for_log(r"WARN hub: h2: 127\.0\.0\.1:\d+: .*(" + reason + r").*closing the connection",
                            timeout=10, start=mark)
    still_served(h)


def test_garbage_preface(h):
    mark = h.hub.proc.mark()
    t = h2_conn(h)
    try:
        assert closed_after(t, b"GET / HTTP/1.1\r\nHost: a.h2.hub.test\r\n\r\n" + b"x" * 100)
    finally:
        t.close()
    h.hub.proc.wait_for_log(r"hub: h2: .*not an HTTP/2 connection preface: closing", timeout=10,
                            start=mark)
    still_served(h)
