"""metrics=[host]:port on every mode but the master (net/scrape.h, modes/imetrics.h):
GET /metrics in Prometheus text 0.0.4, parsed by the Python client's parser, whose
samples move with real traffic, and checked by Prometheus's own `promtool check metrics`
(Debian's prometheus package: format and naming lint); other paths 404; a bad value exits 2.
The master's /metrics at its root, with and without the API key."""
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import LOOPBACK, connect, free_port, recv_all
from harness.procs import require_tool
from harness.net import wait_port, wait_until
from master_util import start_master
from hub_util import hubstack  # noqa: F401 - fixture
from tunnel_util import tunnel  # noqa: F401 - fixture

import prometheus_client.parser as parser  # noqa: E402 - deps.sh: python3-prometheus-client


def scrape(port, path="/metrics"):
    """(status, text) of GET <path> on the metrics port."""
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{path}", timeout=5) as r:
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def promtool_check(text):
    """`promtool check metrics` reads the exposition on stdin: exit 0, no lint line."""
    r = subprocess.run([require_tool("promtool"), "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip(), (r.stdout + r.stderr).decode()


def families(port):
    st, text = scrape(port)
    assert st == 200, text
    promtool_check(text)
    return {f.name: f for f in parser.text_string_to_metric_families(text)}


def value(fams, family, sample=None, **labels):
    for s in fams[family].samples:
        if s.name == (sample or family) and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no {sample or family} {labels} in {fams[family].samples}")


def push(port, n):
    """Send <n> bytes through an echo path and read them back."""
    data = os.urandom(n)
    with connect(port) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        back = recv_all(s, limit=n)
    assert back == data


def test_single_end_metrics_move_with_traffic(postern, echo_backend):
    mport = free_port()
    p = postern.client([echo_backend.port], params=f"metrics={LOOPBACK}:{mport}")
    wait_port(mport, proc=p.proc)
    fams = families(mport)
    assert value(fams, "postern_build_info", mode="single") == 1
    assert fams["postern_bytes"].type == "counter"
    rx0 = value(fams, "postern_bytes", "postern_bytes_total", proto="tcp", direction="rx")
    assert value(fams, "postern_uptime_seconds") >= 0
    push(p.port, 30000)

    def moved():
        f = families(mport)
        return (value(f, "postern_bytes", "postern_bytes_total", proto="tcp",
                      direction="rx") >= rx0 + 30000
                and value(f, "postern_bytes", "postern_bytes_total", proto="tcp",
                          direction="tx") >= 30000
                and value(f, "postern_connections_accepted", "postern_connections_accepted_total") >= 1
                and value(f, "postern_connections", proto="tcp") == 0)
    wait_until(moved, timeout=5, what="byte counters to count the echo")
    assert "postern_tunnel_take_seconds" not in families(mport)
    st, _ = scrape(mport, "/")
    assert st == 404
    st, _ = scrape(mport, "/metricsx")
    assert st == 404
    # A raw request that is not HTTP: 400 and closed, the listener still serves.
    with connect(mport) as s:
        s.sendall(b"\x16\x03\x01garbage\r\n\r\n")
        assert recv_all(s, limit=4096).startswith(b"HTTP/1.1 400 ")
    assert families(mport)


def test_unfinished_heads_are_gated(postern, echo_backend):
    """The listener is behind net/gate.h: with 2 unfinished requests allowed per
    source, a third evicts the oldest (closed), and scrapes still work."""
    mport = free_port()
    p = postern.client([echo_backend.port], params=f"metrics={LOOPBACK}:{mport}",
                       env={"POSTERN_GATE_PER_SRC": "2"})
    wait_port(mport, proc=p.proc)
    held = [connect(mport) for _ in range(3)]
    try:
        for s in held:
            s.sendall(b"GET /metrics HTTP/1.1\r\n")   # never finished
            time.sleep(0.1)
        held[0].settimeout(3)
        try:                                          # evicted: closed without an answer
            assert held[0].recv(100) == b""
        except ConnectionResetError:
            pass
        assert value(families(mport), "postern_build_info", mode="single") == 1
    finally:
        for s in held:
            s.close()


def test_tunnel_server_and_client_metrics(tunnel, echo_backend):
    sport, cport = free_port(), free_port()
    t = tunnel("reverse", echo_backend.port, key="k21",
               server_params=f"metrics={LOOPBACK}:{sport}",
               client_params=f"mode=2&metrics={LOOPBACK}:{cport}").start()
    for port, mode in ((sport, "server"), (cport, "client")):
        wait_port(port, proc=t.server.proc)
        assert value(families(port), "postern_build_info", mode=mode) == 1
    for _ in range(5):
        push(t.user_port, 20000)

    def served():
        f = families(sport)
        return (value(f, "postern_bytes", "postern_bytes_total", proto="tcp",
                      direction="rx") >= 100000
                and value(f, "postern_tunnel_take_seconds",
                          "postern_tunnel_take_seconds_count") >= 5)
    wait_until(served, timeout=10, what="the server's counters and take histogram")
    f = families(sport)
    assert f["postern_tunnel_take_seconds"].type == "histogram"
    assert value(f, "postern_tunnel_take_seconds", "postern_tunnel_take_seconds_bucket",
                 le="+Inf") >= 5
    fc = families(cport)
    assert value(fc, "postern_tunnel_pool") >= 0
    assert value(fc, "postern_bytes", "postern_bytes_total", proto="tcp", direction="tx") >= 0


@pytest.mark.parametrize("bad, why", [
    ("nope", "metrics: "),
    ("127.0.0.1:0", "metrics: port"),
    ("127.0.0.1:70000", "metrics: port"),
])
def test_bad_metrics_value_exits_2(postern_bin, bad, why):
    url = f"client://{LOOPBACK}:{free_port()}/{LOOPBACK}:{free_port()}?metrics={bad}"
    r = subprocess.run([postern_bin, url], capture_output=True, timeout=10, text=True)
    assert r.returncode == 2, r
    assert why in r.stderr, r.stderr


def test_metrics_port_taken_exits_1(postern_bin, echo_backend):
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        taken = busy.getsockname()[1]
        url = (f"client://{LOOPBACK}:{free_port()}/{LOOPBACK}:{echo_backend.port}"
               f"?metrics={LOOPBACK}:{taken}")
        r = subprocess.run([postern_bin, url], capture_output=True, timeout=10, text=True)
    assert r.returncode == 1, r
    assert "metrics: listen" in r.stdout + r.stderr


def test_master_root_metrics_needs_the_key(postern, tmp_path):
    m = start_master(postern, tmp_path)
    st, text, h = m.request("GET", "/metrics", api=False, key=None)
    assert st == 401 and "Bearer" in h.get("WWW-Authenticate", "")
    st, text, _ = m.request("GET", "/metrics", api=False, key="wrong")
    assert st == 401
    st, text, h = m.request("GET", "/metrics", api=False, key=None,
                            headers={"Authorization": f"Bearer {m.key}"})
    assert st == 200 and h["Content-Type"].startswith("text/plain; version=0.0.4")
    promtool_check(text)
    fams = {f.name: f for f in parser.text_string_to_metric_families(text)}
    assert [s.value for s in fams["postern_build_info"].samples] == [1]
    assert "postern_master_uptime_seconds" in fams
    st, prefixed, _ = m.request("GET", "/metrics")
    assert st == 200 and "postern_build_info{" in prefixed


def test_hub_and_agent_metrics(hubstack, echo_backend):
    from hub_util import Route, account, echo_once, http_request, port_block  # noqa: F811
    aport = free_port()
    base = port_block(2)
    alice = account("alice")
    web = hubstack.http_echo("web")
    for attempt in range(3):
        # the hub's own retries pick fresh ports but keep params= (the metrics port)
        hport = free_port()
        try:
            hub = hubstack.hub([alice], http=True, ports=(base, base + 1),
                               params=f"metrics={LOOPBACK}:{hport}")
            break
        except AssertionError as e:
            if "address already in use" not in str(e) or attempt == 2:
                raise
    hubstack.agent(hub, alice["token"], [Route("tcp", echo_backend.port, port=base),
                                         Route("http", web.port, host="a.hub.test")],
                   params=f"metrics={LOOPBACK}:{aport}")
    assert echo_once(base, b"x" * 5000) is True
    assert http_request(hub.http_port, "a.hub.test", "/m").status == 200

    def counted():
        f = families(hport)
        return (value(f, "postern_hub_clients") == 1
                and value(f, "postern_hub_routes", type="tcp") == 1
                and value(f, "postern_hub_account_rx_bytes", "postern_hub_account_rx_bytes_total",
                          account="alice") >= 5000
                and value(f, "postern_bytes", "postern_bytes_total", proto="tcp",
                          direction="rx") >= 5000)
    wait_until(counted, timeout=10, what="the hub's agents, routes and per-account bytes")
    f = families(hport)
    assert value(f, "postern_build_info", mode="hub") == 1
    assert value(f, "postern_tunnel_take_seconds", "postern_tunnel_take_seconds_count") >= 1
    assert f["postern_hub_http_response_seconds"].type == "histogram"
    assert value(f, "postern_hub_http_response_seconds",
                 "postern_hub_http_response_seconds_count") == 1
    assert value(f, "postern_hub_routes", type="http") == 1
    fa = families(aport)
    assert value(fa, "postern_build_info", mode="agent") == 1
    assert "postern_tunnel_pool" in fa
    assert scrape(aport, "/nope")[0] == 404


def test_proxy_metrics(postern, tmp_path, echo_backend):
    from proxy_util import socks_open, start_proxy, write_users
    mport = free_port()
    users = write_users(tmp_path / "users.json", [{"name": "u", "password": "pw"}])
    p = start_proxy(postern, users, params=f"allow=127.0.0.0/8&metrics={LOOPBACK}:{mport}")
    wait_port(mport, proc=p.proc)
    assert value(families(mport), "postern_build_info", mode="proxy") == 1
    s, status, rep, _ = socks_open(p.port, "u", "pw", LOOPBACK, echo_backend.port)
    try:
        assert status == 0 and rep == 0
        s.sendall(b"y" * 4000)
        got = b""
        while len(got) < 4000:
            got += s.recv(65536)
    finally:
        s.close()
    wait_until(lambda: value(families(mport), "postern_bytes", "postern_bytes_total",
                             proto="tcp", direction="rx") >= 4000,
               timeout=5, what="the proxy's byte counter")
