"""Account quotas (docs/hub.md §3): max_routes (the extra route refused, counted over all
the account's agents), max_conns (connections over the limit closed; 503 for HTTP), rps
(429 with Retry-After: 1), mbps (a timed transfer is bounded, both directions, shared by
the account's routes), allowed ports and hosts; and the hub's own prerequisites (no ports=
range: tcp/udp routes refused; no http= listener: http routes refused). A hub per test."""
import os
import re
import socket
import threading
import time

import pytest

from conftest import digest_handler, echo_handler, recv_all, wait_until
from hub_util import (HttpConn, Route, UdpClient, account, assert_page, backend_of, echo_once,
                      held_conn, http_request, hubstack, pattern_bytes, port_block,  # noqa: F401
                      state_account, state_route)
from limits_util import closed_promptly, timed_upload
from tunnel_util import download_all
from udp_util import tcp_refused


def test_max_routes_refuses_the_extra_route_of_all_agents_together(hubstack):
    base = port_block(10)
    acct = account("capped", max_routes=2)
    hub = hubstack.hub([acct], http=False, ports=(base, base + 9))
    echo = hubstack.tcp(echo_handler, name="echo")
    routes = [Route("tcp", echo.port, port=base + i) for i in (1, 2, 3)]
    a = hubstack.agent(hub, acct["token"], routes, wait=False, label="three")
    outcomes = {}
    for r in routes:
        m = a._outcome(r, timeout=10, start=0)
        outcomes[r.name] = "ok" if m.group("ok") else m.group("reason")
    ok = [n for n, v in outcomes.items() if v == "ok"]
    refused = {n: v for n, v in outcomes.items() if v != "ok"}
    assert len(ok) == 2 and len(refused) == 1, f"max_routes=2, 3 routes: {outcomes}"
    (name, reason), = refused.items()
    assert re.search(r"(?i)limit|max_routes|too many|routes", reason), \
        f"unclear reason for the route over max_routes: {reason!r}"
    refused_port = int(name.split(":")[1])
    assert tcp_refused(refused_port), "the refused route's port is listening"
    for n in ok:
        assert echo_once(int(n.split(":")[1])) is True

    # a second agent of the same account: the account is at its limit
    b = hubstack.agent(hub, acct["token"], [Route("tcp", echo.port, port=base + 5)],
                       wait=False, label="fourth")
    b.refused(f"tcp:{base + 5}")
    s = hub.wait_state(lambda s: state_account(s, "capped")["clients"] == 2, timeout=5,
                       what="HUB_STATE with both agents")
    acc = state_account(s, "capped")
    assert acc["routes"] == 2, acc
    assert acc["refused"]["routes"] >= 2, acc


def test_max_conns_closes_tcp_and_answers_503_over_the_limit(hubstack):
    base = port_block(4)
    acct = account("conns", max_conns=2)
    hub = hubstack.hub([acct], http=True, ports=(base, base + 3))
    echo = hubstack.tcp(echo_handler, name="echo")
    web = hubstack.http_echo("web")
    p = base + 1
    hubstack.agent(hub, acct["token"], [Route("tcp", echo.port, port=p),
                                        Route("http", web.port, host="c.hub.test")])
    held = [held_conn(p, b"one"), held_conn(p, b"two")]
    try:
        s = socket.create_connection(("127.0.0.1", p), timeout=5)
        with s:
            how, data, _ = closed_promptly(s, within=3, send=b"third")
        assert how in ("eof", "reset") and data == b"", \
            f"a third connection with max_conns=2: {how}, got {data!r}"
        r = http_request(hub.http_port, "c.hub.test", "/", keepalive=True, check_close=True)
        assert_page(r, 503, "too many connections")
        assert r.header("Retry-After") == "1", r
        assert web.count() == 0, "a request over the connection limit reached the backend"
        s = hub.wait_state(lambda s: state_account(s, "conns")["conns"] == 2, timeout=5,
                           what="HUB_STATE with the account's 2 connections")
        assert state_route(s, str(p), "tcp")["conns"] == 2, s["routes"]
        # the held connections still work
        for i, c in enumerate(held):
            c.sendall(b"still")
            assert c.recv(5) == b"still", f"held connection {i} broke"
    finally:
        for c in held:
            c.close()
    # below the limit again: both kinds work
    wait_until(lambda: echo_once(p) is True, timeout=3, what="tcp echo after closing two")
    r = http_request(hub.http_port, "c.hub.test", "/ok")
    assert backend_of(r) == "web", r
    hub.wait_state(lambda s: state_account(s, "conns")["refused"]["conns"] >= 2,
                       timeout=5, what="HUB_STATE counting the refused connections")


def test_max_conns_counts_udp_sessions(hubstack):
    base = port_block(4)
    acct = account("udpconns", max_conns=2)
    hub = hubstack.hub([acct], http=False, ports=(base, base + 3),
                       env={"POSTERN_UDP_IDLE": "30s"})
    u = hubstack.udp_echo("U")
    p = base + 1
    hubstack.agent(hub, acct["token"], [Route("udp", u.port, port=p)])
    with UdpClient(p, name="a") as a, UdpClient(p, name="b") as b, \
            UdpClient(p, name="c") as c:
        a.exchange(b"from a", retries=3)
        b.exchange(b"from b", retries=3)
        before = u.counts()[0]
        c.expect_silence([b"from c %d" % i for i in range(3)], window=1.5)
        assert u.counts()[0] == before, "a third UDP user's datagrams reached the backend"
        a.exchange(b"a again")
        b.exchange(b"b again")
    hub.wait_state(lambda s: state_account(s, "udpconns")["refused"]["conns"] >= 1,
                   timeout=5, what="HUB_STATE counting the refused UDP session")


def test_rps_over_the_rate_gets_429(hubstack):
    acct = account("rate", rps=2)
    hub = hubstack.hub([acct], http=True)
    web = hubstack.http_echo("web")
    hubstack.agent(hub, acct["token"], [Route("http", web.port, host="r.hub.test")])
    results = []
    t0 = time.monotonic()
    for i in range(10):
        results.append(http_request(hub.http_port, "r.hub.test", f"/burst/{i}",
                                    keepalive=True, check_close=False))
    took = time.monotonic() - t0
    ok = [r for r in results if r.status == 200]
    limited = [r for r in results if r.status == 429]
    assert len(ok) + len(limited) == 10, [r.status for r in results]
    assert took < 1.0, f"the burst took {took:.2f}s (too slow to test rps=2)"
    assert 1 <= len(ok) <= 4, f"rps=2: {len(ok)} of 10 requests within {took:.2f}s passed"
    assert len(limited) >= 6, [r.status for r in results]
    for r in limited[:2]:
        assert_page(r, 429, "too many requests")
        assert r.header("Retry-After") == "1", r
    assert web.count("/burst/") == len(ok), "a request answered 429 reached the backend"
    time.sleep(1.2)
    assert backend_of(http_request(hub.http_port, "r.hub.test", "/after")) == "web"
    # the rate applies to requests, also on one keep-alive connection
    time.sleep(1.2)
    statuses = []
    with HttpConn(hub.http_port) as c:
        for i in range(5):
            r = c.request("r.hub.test", f"/ka/{i}")
            statuses.append(r.status)
            if r.status != 200:
                break
    assert statuses[-1] == 429 and len(statuses) <= 4, \
        f"rps=2, requests on one keep-alive connection: {statuses}"
    hub.wait_state(lambda s: state_account(s, "rate")["refused"]["rate"] >= len(limited)
                   and state_account(s, "rate")["requests"] >= len(ok) + 1, timeout=5,
                   what="HUB_STATE counting requests and rate refusals")


MB = 1_000_000
MBPS_LIMIT = 8                  # 1,000,000 bytes/s
MIN_3MB = 1.8                   # 3 MB at 1 MB/s, even with a whole second of burst: >= 2 s


def _mbps_hub(hubstack):
    base = port_block(6)
    slow = account("slow", mbps=MBPS_LIMIT)
    fast = account("fast")
    hub = hubstack.hub([slow, fast], http=False, ports=(base, base + 5))
    sink = hubstack.tcp(digest_handler, name="sink")
    return hub, base, slow, fast, sink


@pytest.mark.asan_skip
def test_mbps_bounds_an_upload(hubstack):
    hub, base, slow, fast, sink = _mbps_hub(hubstack)
    hubstack.agent(hub, fast["token"], [Route("tcp", sink.port, port=base + 1)])
    hubstack.agent(hub, slow["token"], [Route("tcp", sink.port, port=base + 2)])
    t_fast = timed_upload(base + 1, 3 * MB)
    assert t_fast < 1.5, f"3 MB through an unlimited account took {t_fast:.2f}s"
    t_slow = timed_upload(base + 2, 3 * MB)
    assert MIN_3MB <= t_slow <= 15, \
        f"3 MB through an account with mbps={MBPS_LIMIT} took {t_slow:.2f}s " \
        f"(unlimited: {t_fast:.2f}s); expected about 3 s"
    # usage is counted per account: bytes from users (rx) and to users (tx)
    hub.wait_state(lambda s: state_account(s, "slow")["rx"] >= 3 * MB
                   and state_account(s, "fast")["rx"] >= 3 * MB, timeout=5,
                   what="HUB_STATE with 3 MB received from users on each account")
    s = hub.state()
    for name in ("slow", "fast"):
        acc = state_account(s, name)
        assert 3 * MB <= acc["rx"] <= 3 * MB + 4096 and acc["tx"] < 4096, acc


def _cpu_seconds(pid):
    """User + system CPU seconds of process <pid> so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_account_at_its_limit_keeps_its_agents_session(hubstack):
    """An account held at its mbps= limit for well over 10 report intervals (200 ms here):
    the bandwidth slows data only, so the agent's control channel keeps its heartbeats and
    the session survives (no "session ended", no reconnect), and the limited relay waits
    for its tokens instead of spinning (the hub stays far below one core)."""
    env = {"POSTERN_REPORT_INTERVAL": "200ms"}
    base = port_block(2)
    slow = account("slow", mbps=MBPS_LIMIT)
    hub = hubstack.hub([slow], http=False, ports=(base, base + 1), env=env)
    sink = hubstack.tcp(digest_handler, name="sink")
    a = hubstack.agent(hub, slow["token"], [Route("tcp", sink.port, port=base)], env=env)
    mark = a.proc.mark()
    cpu0, t0 = _cpu_seconds(hub.proc.proc.pid), time.monotonic()
    took = timed_upload(base, 4 * MB)       # 1 s of burst, then 3 s held at the limit
    cpu = _cpu_seconds(hub.proc.proc.pid) - cpu0
    wall = time.monotonic() - t0
    assert took >= 2.5, f"4 MB at mbps={MBPS_LIMIT} took {took:.2f}s: not held at the limit"
    later = a.proc.lines()[mark:]
    ended = [ln for ln in later if re.search(r"session ended|reconnecting|connected to", ln)]
    assert not ended, "the agent's session did not survive its account's limit:\n" \
        + "\n".join(ended)
    assert cpu < 0.5 * wall, \
        f"the hub used {cpu:.2f} s of CPU in {wall:.2f} s relaying at the limit: it spins"
    assert echo_once_digest(base), "the route no longer answers after the limited upload"


def echo_once_digest(port):
    """A small upload through <port> to the digest backend answers correctly."""
    return timed_upload(port, 1000, timeout=10) < 10


@pytest.mark.asan_skip
def test_mbps_bounds_a_download(hubstack):
    hub, base, slow, fast, sink = _mbps_hub(hubstack)
    data = os.urandom(3 * MB)

    def source(backend, conn):
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(20)
        recv_all(conn)
    src = hubstack.tcp(source, name="source")
    hubstack.agent(hub, slow["token"], [Route("tcp", src.port, port=base + 3)])
    t0 = time.monotonic()
    n, _ = download_all(base + 3, timeout=30)
    took = time.monotonic() - t0
    assert n == len(data), f"downloaded {n} of {len(data)} bytes"
    assert MIN_3MB <= took <= 15, \
        f"a 3 MB download through an account with mbps={MBPS_LIMIT} took {took:.2f}s"
    hub.wait_state(lambda s: state_account(s, "slow")["tx"] >= 3 * MB, timeout=5,
                   what="HUB_STATE with 3 MB sent to users")


def test_mbps_paces_http_responses_on_a_keepalive_connection(hubstack):
    """Two 2 MB responses in a row on one keep-alive connection of an account with
    mbps=8: both arrive whole (the end of the first one, held back by the bandwidth, is
    not lost when the response is complete) and together take about 3 s."""
    slow = account("slow", mbps=MBPS_LIMIT)
    hub = hubstack.hub([slow])
    web = hubstack.http_echo("web")
    hubstack.agent(hub, slow["token"], [Route("http", web.port, host="paced.hub.test")])
    size = 2 * MB
    t0 = time.monotonic()
    with HttpConn(hub.http_port, timeout=20) as c:
        for i in range(2):
            r = c.request("paced.hub.test", f"/bytes/{size}")
            assert r.status == 200 and r.body == pattern_bytes(size), \
                f"response {i + 1}: status {r.status}, {len(r.body)} of {size} bytes"
    took = time.monotonic() - t0
    assert 2.5 <= took <= 15, f"4 MB at mbps={MBPS_LIMIT} (1 s of burst) took {took:.2f}s"


def test_mbps_is_shared_by_the_accounts_routes(hubstack):
    """Two uploads of 1.5 MB at once on two routes (two agents) of one account: one
    budget for the account takes about 3 s, a budget per route about 1.5 s."""
    hub, base, slow, fast, sink = _mbps_hub(hubstack)
    hubstack.agent(hub, slow["token"], [Route("tcp", sink.port, port=base + 1)])
    hubstack.agent(hub, slow["token"], [Route("tcp", sink.port, port=base + 2)])
    times, errors = {}, []

    def one(port):
        try:
            times[port] = timed_upload(port, 3 * MB // 2)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{port}: {type(e).__name__}: {e}")

    t0 = time.monotonic()
    ts = [threading.Thread(target=one, args=(p,), daemon=True) for p in (base + 1, base + 2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=40)
    total = time.monotonic() - t0
    assert not errors and len(times) == 2, f"uploads failed: {errors} {times}"
    assert total >= MIN_3MB, \
        f"2 x 1.5 MB on two routes of one account with mbps={MBPS_LIMIT} took {total:.2f}s " \
        f"({times}): the budget is not shared by the account's routes"


def test_allowed_ports_of_an_account(hubstack):
    base = port_block(20)
    acct = account("ported", ports=[f"{base}-{base + 4}", str(base + 9)])
    hub = hubstack.hub([acct], http=False, ports=(base, base + 14))
    echo = hubstack.tcp(echo_handler, name="echo")
    inside = Route("tcp", echo.port, port=base + 2)
    single = Route("tcp", echo.port, port=base + 9)
    outside = Route("tcp", echo.port, port=base + 7)          # in the hub's range only
    beyond = Route("tcp", echo.port, port=base + 17)          # outside the hub's range
    auto = Route("tcp", echo.port, name="auto")
    a = hubstack.agent(hub, acct["token"], [inside, single, outside, beyond, auto], wait=False)
    assert a.port_of(inside) == base + 2
    assert a.port_of(single) == base + 9
    for r in (outside, beyond):
        reason = a.refused(r)
        assert reason.strip(), f"{r.name} refused without a reason"
    p_auto = a.port_of(auto)
    assert base <= p_auto <= base + 4 or p_auto == base + 9, \
        f"the hub assigned port {p_auto}, outside the account's ports"
    for p in (base + 2, base + 9, p_auto):
        assert echo_once(p) is True, f"port {p}"
    for p in (base + 7, base + 17):
        assert tcp_refused(p), f"the refused port {p} is listening"


def test_allowed_hosts_of_an_account(hubstack):
    acct = account("carol", hosts=["carol.hub.test", "*.carol.hub.test"])
    hub = hubstack.hub([acct], http=True, https=True)
    web = hubstack.http_echo("web")
    good = [Route("http", web.port, host="carol.hub.test"),
            Route("http", web.port, host="app.carol.hub.test"),
            Route("http", web.port, host="x.y.carol.hub.test")]
    bad = [Route("http", web.port, host="evil.hub.test"),
           Route("http", web.port, host="xcarol.hub.test"),
           Route("http", web.port, host="app"),                  # app.hub.test
           Route("https", web.port, host="other.hub.test")]
    a = hubstack.agent(hub, acct["token"], good + bad, wait=False)
    for r in good:
        a.registered(r)
    for r in bad:
        assert a.refused(r).strip(), f"{r.name} refused without a reason"
    for host in ("carol.hub.test", "app.carol.hub.test", "x.y.carol.hub.test"):
        assert backend_of(http_request(hub.http_port, host, "/")) == "web", host
    for host in ("evil.hub.test", "xcarol.hub.test", "app.hub.test"):
        r = http_request(hub.http_port, host, "/")
        assert r.status == 404, (host, r)


def test_hub_without_ports_or_http_listener_refuses_those_routes(hubstack):
    acct = account("plain")
    hub = hubstack.hub([acct], http=False)
    echo = hubstack.tcp(echo_handler, name="echo")
    web = hubstack.http_echo("web")
    p = port_block(1)
    tcp_r, udp_r = Route("tcp", echo.port, port=p), Route("udp", echo.port, port=p)
    http_r = Route("http", web.port, host="w.hub.test")
    https_r = Route("https", web.port, host="s.hub.test")
    a = hubstack.agent(hub, acct["token"], [tcp_r, udp_r, http_r, https_r], wait=False)
    for r in (tcp_r, udp_r, http_r, https_r):
        assert a.refused(r).strip()
    assert tcp_refused(p)
    assert a.proc.alive(), "a refused route must not stop the agent"
