"""Hub-to-hub forwarding (docs/hub.md §7): a user who reaches hub B for a route whose
agent is on hub A is carried B -> A over TLS keyed by the cluster secret, then to the agent:
HTTP by Host (curl), TLS by SNI (openssl s_client), a tcp and a udp route (their ports on B
too), and
a sizeable transfer both ways checked by sha256. A hub with another cluster secret is
refused, and the refusal is logged without the secret."""
import hashlib
import http.client
import os
import socket
import time

import pytest

from cluster_util import CLUSTER_SECRET, RedisServer, cluster_hub, remote_route
from conftest import digest_handler
from hub_util import (DOMAIN, Route, account, curl_host, hubstack, pattern_bytes,  # noqa: F401
                      port_block, s_client)

UPLOAD = 32 * 1024 * 1024       # bytes through the tcp route (256 MiB: bench/cluster-forward.sh)
DOWNLOAD = 16 * 1024 * 1024     # bytes of an HTTP answer


@pytest.fixture
def redis(tmp_path):
    r = RedisServer(tmp_path / "redis").start()
    yield r
    r.cleanup()


def tcp_digest(host, port, n, timeout=60):
    """Send pattern_bytes(<n>) to <host>:<port>, shut the write side, return the answer."""
    data = pattern_bytes(n)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out.decode().strip(), hashlib.sha256(data).hexdigest()
            out += b


def udp_exchange(host, port, payload, timeout=1.5, retries=4):
    """Send <payload> to <host>:<port> until its echo comes back from there; return it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        for _ in range(retries):
            u.sendto(payload, (host, port))
            u.settimeout(timeout)
            try:
                data, peer = u.recvfrom(70000)
            except (socket.timeout, ConnectionRefusedError):
                continue
            assert peer == (host, port)
            return data
    return None


def test_every_route_answers_through_the_other_hub(redis, hubstack):
    st = hubstack
    base = port_block(2)
    alice = account("alice")
    a = cluster_hub(st, [alice], redis, "hub-a", https=True, ports=(base, base + 1))
    b = cluster_hub(st, [alice], redis, "hub-b", https=True, ports=(base, base + 1))
    web = st.http_echo("A")
    tls = st.tls_echo(f"s.{DOMAIN}")
    dig = st.tcp(digest_handler, name="digest")
    uecho = st.udp_echo("U")
    routes = [Route("http", web.port, host="app"), Route("https", tls.port, host=f"s.{DOMAIN}"),
              Route("tcp", dig.port, port=base + 1), Route("udp", uecho.port, port=base)]
    st.agent(a, alice["token"], routes)
    b.wait_state(lambda s: all(remote_route(s, k) is not None for k in
                               (f"http:app.{DOMAIN}", f"https:s.{DOMAIN}", f"tcp:{base + 1}",
                                f"udp:{base}")) and
                 len(s["cluster"]["hubs"]) == 2, timeout=5)
    # HTTP by Host, through hub B: answered by the backend behind hub A's agent
    status, body = curl_host(b.http_port, f"app.{DOMAIN}", "/through-b")
    assert status == 200, body
    assert b'"backend": "A"' in body or b'"backend":"A"' in body
    assert b"/through-b" in body
    # a sizeable answer, byte for byte
    status, body = curl_host(b.http_port, f"app.{DOMAIN}", f"/bytes/{DOWNLOAD}")
    assert status == 200 and len(body) == DOWNLOAD
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(pattern_bytes(DOWNLOAD)).hexdigest()
    # TLS by SNI, through hub B: the backend's own certificate answers
    rc, out, err, fp = s_client(b.https_port, f"s.{DOMAIN}")
    assert fp == tls.fingerprint, (rc, err[-500:])
    # the tcp route's port on hub B, a sizeable upload checked by sha256
    got, want = tcp_digest(b.public, base + 1, UPLOAD)
    assert got == f"{UPLOAD} {want}"
    # a udp route's port on hub B: datagrams of several sizes, boundaries kept
    for size in (1, 512, 8000, 30000):
        d = os.urandom(size)
        assert udp_exchange(b.public, base, d) == d, f"{size}-byte datagram"
    # and directly on hub A still
    assert curl_host(a.http_port, f"app.{DOMAIN}", "/direct")[0] == 200
    # a name no hub holds: hub B's own 404
    assert curl_host(b.http_port, f"none.{DOMAIN}", "/")[0] == 404
    # a connection carried to A is A's to route: its next request, for a host B holds,
    # is not carried back (no bouncing between hubs): A's 404
    st.agent(b, alice["token"], [Route("http", web.port, host="bee")])
    c = http.client.HTTPConnection("127.0.0.1", b.http_port, timeout=10)
    c.request("GET", "/1", headers={"Host": f"app.{DOMAIN}"})
    r1 = c.getresponse()
    r1.read()
    c.request("GET", "/2", headers={"Host": f"bee.{DOMAIN}"})
    r2 = c.getresponse()
    r2.read()
    c.close()
    assert (r1.status, r2.status) == (200, 404)
    assert curl_host(b.http_port, f"bee.{DOMAIN}", "/")[0] == 200    # a new connection: B's


def test_a_hub_with_another_cluster_secret_is_refused(redis, hubstack):
    st = hubstack
    alice = account("alice")
    other = "another-secret-" + "z" * 20
    a = cluster_hub(st, [alice], redis, "hub-a")
    b = cluster_hub(st, [alice], redis, "hub-b", secret=other)
    web = st.http_echo("A")
    st.agent(a, alice["token"], [Route("http", web.port, host="app")])
    b.wait_state(lambda s: remote_route(s, f"http:app.{DOMAIN}") is not None and
                 len(s["cluster"]["hubs"]) == 2, timeout=5)
    status, _ = curl_host(b.http_port, f"app.{DOMAIN}", "/x")
    assert status == 0          # the link is refused: the user's connection closes
    a.proc.wait_for_log(r"cluster: hub link from 127\.0\.0\.1:\d+: TLS handshake failed", timeout=5)
    b.proc.wait_for_log(r"cluster: hub link to 127\.0\.0\.1:\d+: TLS handshake failed", timeout=5)
    for h in (a, b):
        out = h.proc.output()
        assert other not in out and CLUSTER_SECRET not in out


def answers(hub, port):
    """The http route answers through <hub>, and the tcp route on its <port> there."""
    if curl_host(hub.http_port, f"app.{DOMAIN}", "/again")[0] != 200:
        return False
    try:
        got, want = tcp_digest(hub.public, port, 1000, timeout=3)
    except OSError:
        return False
    return got == f"1000 {want}"


@pytest.mark.asan_skip
def test_an_agent_moves_when_its_hub_dies(redis, hubstack):
    st = hubstack
    base = port_block(2)
    alice = account("alice")
    hubs = [cluster_hub(st, [alice], redis, f"hub-{n}", ports=(base, base + 1)) for n in "abc"]
    a, b, c = hubs
    web = st.http_echo("A")
    dig = st.tcp(digest_handler, name="digest")
    others = f"hubs=127.0.0.1:{b.ctl},127.0.0.1:{c.ctl}"
    ag = st.agent(a, alice["token"], [Route("http", web.port, host="app"),
                                       Route("tcp", dig.port, port=base + 1)], params=others)
    for h in (b, c):
        h.wait_state(lambda s: remote_route(s, f"tcp:{base + 1}") is not None and
                     len(s["cluster"]["hubs"]) == 3, timeout=5)
        assert answers(h, base + 1)
    mark = ag.proc.mark()
    a.kill()                    # SIGKILL: no goodbye, its claims live until its heartbeat ends
    t0 = time.monotonic()
    # The mechanism: the agent sees its session end at once, tries the next hub after
    # 100 ms, whose claim waits (UNAVAILABLE, asked again every second) until hub-a's
    # heartbeat ends (POSTERN_CLUSTER_TTL=1.5s here); hub-c then learns where the routes
    # went. Well within 5 s; the deadline leaves room for a loaded machine.
    deadline = t0 + 10
    while not (answers(b, base + 1) and answers(c, base + 1)):
        assert time.monotonic() < deadline, "the routes did not come back through b and c"
        time.sleep(0.1)
    elapsed = time.monotonic() - t0
    print(f"routes answered again through both remaining hubs {elapsed:.2f} s after kill -9")
    assert elapsed < 5.0, f"{elapsed:.2f} s"
    ag.proc.wait_for_log(r"agent: next hub: 127\.0\.0\.1:\d+", start=mark, timeout=1)
    s = c.wait_state(lambda s: remote_route(s, f"http:app.{DOMAIN}") is not None and
                     remote_route(s, f"http:app.{DOMAIN}")["hub"] == "hub-b", timeout=5)
    assert "hub-a" not in [x["id"] for x in s["cluster"]["hubs"]]
