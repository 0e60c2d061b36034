"""Slow clients against listeners, with a good client measuring its success rate and
latency meanwhile (docs/security.md has the figures of the long form).

Attackers come from several loopback addresses (127.0.1.x) so that both the per-source
and the global caps of net/gate.h are exercised; the good client comes from 127.0.0.2.
Each attack: slowloris connections that send a request line and then one header byte a
second, reconnecting when closed (so the attack never lets up)."""
import os
import socket
import ssl
import subprocess
import time

from harness.attack import (GoodClient, NonReader, Slowloris, child_nofile, cpu_seconds,
                            get_ok, open_fds)
from harness.backends import echo_handler
from harness.net import LOOPBACK, free_port, port_block
from harness.nginx import Nginx, static_site
from hub_util import HubStack, Route, account, http_request
from master_util import start_master
from proxy_util import recv_n, socks_addr, start_proxy, write_users
from tunnel_util import Tunnel

import scale


def _attack(port, head, pid, proc, good, name, make=None, attackers=scale.ATTACKERS):
    """<attackers> Slowloris connections (or make(src, n) workers) against <port> from
    the attacking addresses while <good>() is called; the figures."""
    per = max(1, attackers // scale.SOURCES)
    if make is None:
        def make(src, n):
            return Slowloris(port, n, head, interval=1.0, src=src, duration=scale.ATTACK_S + 15)
    slows = [make(s, per) for s in scale.sources()]
    for sl in slows:
        sl.__enter__()
    held, fds = [], []
    try:
        time.sleep(1.0)
        cpu0, log0, t0 = cpu_seconds(pid), scale.log_bytes(proc), time.monotonic()
        with GoodClient(good, gap=0.02, duration=scale.ATTACK_S + 10) as gc:
            while time.monotonic() - t0 < scale.ATTACK_S:
                time.sleep(0.25)
                held.append(sum(sl.held() for sl in slows))
                fds.append(open_fds(pid))
        wall = time.monotonic() - t0
        cpu = cpu_seconds(pid) - cpu0
        logb = scale.log_bytes(proc) - log0
    finally:
        for sl in slows:
            sl.stop()
    t1 = time.monotonic()
    while not _ok(good) and time.monotonic() - t1 < 10:
        time.sleep(0.05)
    recovery = time.monotonic() - t1
    fig = {
        "attackers": per * len(slows), "sources": len(slows), "nofile": scale.NOFILE,
        "seconds": round(wall, 1),
        "attacker_open_mean": round(sum(held) / max(1, len(held))),
        "attempts": sum(sl.opened for sl in slows),
        "closed_by_server": sum(sl.closed for sl in slows),
        "server_fds_max": max(fds) if fds else 0,
        "good_requests": gc.total(), "good_success_pct": round(100 * gc.success(), 2),
        "good_p99_ms": round(1000 * gc.p99(), 1),
        "cpu_pct": round(100 * cpu / wall, 1),
        "log_kib_per_min": round(logb / 1024 * 60 / wall, 1),
        "recovery_s": round(recovery, 2),
    }
    scale.report(name, **fig)
    return gc, fig


def _ok(fn):
    try:
        return fn() is not False
    except Exception:  # noqa: BLE001
        return False


def test_slowloris_hub_http(tmp_path):
    st = HubStack(tmp_path)
    try:
        acct = account("web")
        with child_nofile(scale.NOFILE):
            hub = st.hub([acct], http=True)
        echo = st.http_echo("A")
        st.agent(hub, acct["token"], [Route("http", echo.port, host="a.hub.test")])
        port = hub.http_port

        def good():
            return http_request(port, "a.hub.test", "/", src_ip=scale.GOOD_SRC,
                                timeout=3.0).status == 200

        assert good()
        gc, fig = _attack(port, b"GET / HTTP/1.1\r\nHost: a.hub.test\r\n", hub.proc.proc.pid,
                          hub.proc, good, "slowloris hub http")
        assert gc.success() >= 0.99, gc.summary()
        assert fig["log_kib_per_min"] < 1024, fig
        assert fig["recovery_s"] < 2, fig
    finally:
        st.cleanup()


NGINX_SITE = """
    server {
        listen 127.0.0.1:{port};
        root %s;
        keepalive_requests 100000;
        location / { }
    }
"""


def _established_to(port):
    """Connections established to 127.0.0.1:<port> now (the service's side, by ss)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"sport = :{port}"],
                         capture_output=True, text=True, timeout=10).stdout
    return len([ln for ln in out.splitlines() if ln.strip()])


def test_nonreader_hub_http(tmp_path):
    """Users that pipeline requests for large bodies and never read a byte of the
    answers: POSTERN_SEND_TIMEOUT (net/stall.h) closes each once nothing drained for that
    long, releasing its data connection and the service's connection; a good user is
    served meanwhile. The service is nginx (a real one, in a process of its own, so that
    the good user's latency is the hub's and not this test process's)."""
    st = HubStack(tmp_path)
    try:
        acct = account("web")
        hub = st.hub([acct], http=True, env={"POSTERN_SEND_TIMEOUT": "1s"})
        root = static_site(tmp_path / "nginx", {"index.html": b"ok\n",
                                                "bytes/1048576": os.urandom(1 << 20)})
        svc = st._keep(Nginx(tmp_path / "nginx", NGINX_SITE % root, level="error",
                             conns=4096).start())
        st.agent(hub, acct["token"], [Route("http", svc.port, host="a.hub.test")])
        port = hub.http_port
        big = b"GET /bytes/1048576 HTTP/1.1\r\nHost: a.hub.test\r\n\r\n" * 8

        def good():
            return http_request(port, "a.hub.test", "/", src_ip=scale.GOOD_SRC,
                                timeout=3.0).status == 200

        assert good()
        # Each holds a data connection and a connection of the service until its
        # deadline: fewer than the slowloris attacks, at most 256.
        gc, fig = _attack(port, None, hub.proc.proc.pid, hub.proc, good,
                          "non-reader hub http", attackers=min(scale.ATTACKERS // 4, 256),
                          make=lambda src, n: NonReader(port, n, big, src=src,
                                                        duration=scale.ATTACK_S + 15))
        assert gc.success() >= 0.99, gc.summary()
        assert fig["closed_by_server"] > 0, fig
        hub.proc.wait_for_log(r"read nothing of what was sent to it for 1000 ms", timeout=5)
        assert fig["log_kib_per_min"] < 1024, fig
        assert fig["recovery_s"] < 2, fig
        # One that stays connected is let go, and so is the service's connection.
        with NonReader(port, 1, big, src=scale.GOOD_SRC, duration=15) as nr:
            t0 = time.monotonic()
            while nr.closed == 0 and time.monotonic() - t0 < 10:
                time.sleep(0.1)
            assert nr.closed >= 1, "a non-reader was never closed"
            assert 0.9 < nr.lifetimes[0] < 8, nr.lifetimes
        # Every attacker's connection to the service is released (the agent's kept-alive
        # ones for the good user's requests may stay: a few).
        t0 = time.monotonic()
        while _established_to(svc.port) > 4 and time.monotonic() - t0 < 15:
            time.sleep(0.2)
        assert _established_to(svc.port) <= 4, "the service still holds the attackers' connections"
    finally:
        st.cleanup()


def test_slowloris_master_api(postern, tmp_path):
    with child_nofile(scale.NOFILE):
        m = start_master(postern, tmp_path)

    def good():
        return get_ok(m.port, m.prefix + "/v1/instances", {"X-API-Key": m.key}, scale.GOOD_SRC)

    assert good()
    gc, fig = _attack(m.port, b"GET /api/v1/instances HTTP/1.1\r\nHost: x\r\n", m.pid, m.p,
                      good, "slowloris master api")
    assert gc.success() >= 0.99, gc.summary()
    assert fig["log_kib_per_min"] < 1024, fig
    assert fig["recovery_s"] < 2, fig


def test_slowloris_metrics(postern, backends):
    """The same attack on an instance's metrics= listener (net/scrape.c): scrapes from
    another address keep succeeding."""
    echo = backends(echo_handler, name="echo")
    mport = free_port()
    with child_nofile(scale.NOFILE):
        p = postern.client([echo.port], params=f"metrics={LOOPBACK}:{mport}")
    p.wait_port(mport)

    def good():
        return get_ok(mport, "/metrics", src=scale.GOOD_SRC)

    assert good()
    gc, fig = _attack(mport, b"GET /metrics HTTP/1.1\r\nHost: x\r\n", p.proc.pid, p, good,
                      "slowloris metrics")
    assert gc.success() >= 0.99, gc.summary()
    assert fig["log_kib_per_min"] < 1024, fig
    assert fig["recovery_s"] < 2, fig


# A ClientHello's record and handshake headers (a 512-byte hello announced), then a byte
# a second of the rest: the SNI is never reached.
CLIENT_HELLO_HEAD = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


def test_slowloris_tunnel_port(postern, backends):
    """Attackers trickle a control preamble and a ClientHello at the server's tunnel
    port; users (reverse flow: their data connections come through that port) keep
    working."""
    echo = backends(echo_handler, name="echo")
    with child_nofile(scale.NOFILE):
        t = Tunnel(postern, "reverse", echo.port, key="chaos-key").start()
    assert scale.echo_ok(t.user_port)
    gc, fig = _attack(t.tunnel_port, b"PN\x01C" + CLIENT_HELLO_HEAD, t.server.proc.pid,
                      t.server, lambda: scale.echo_ok(t.user_port), "slowloris tunnel port")
    assert gc.success() >= 0.99, gc.summary()
    assert fig["log_kib_per_min"] < 1024, fig
    assert fig["recovery_s"] < 2, fig


def test_slowloris_proxy_entrance(postern, backends, tmp_path):
    """The same attack on a proxy entrance (proxy://, SOCKS5 with a users file): each
    attacker greets, starts its user/password message (a name of 127 bytes announced)
    and sends one byte of the name a second. A good user's SOCKS5 CONNECT and echo from
    another address keep succeeding."""
    echo = backends(echo_handler, name="echo")
    users = write_users(tmp_path / "users.json",
                        [{"name": "alice", "password": "chaos-pw"}])
    with child_nofile(scale.NOFILE):
        p = start_proxy(postern, users)

    def good():
        s = socket.create_connection((LOOPBACK, p.port), timeout=3.0,
                                     source_address=(scale.GOOD_SRC, 0))
        try:
            s.settimeout(3.0)
            s.sendall(b"\x05\x01\x02")
            u, pw = b"alice", b"chaos-pw"
            s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(pw)]) + pw)
            s.sendall(b"\x05\x01\x00" + socks_addr(LOOPBACK, echo.port))
            got = recv_n(s, 2 + 2 + 10)
            if got[:4] != b"\x05\x02\x01\x00" or got[5] != 0:
                return False
            s.sendall(b"ping")
            return recv_n(s, 4) == b"ping"
        finally:
            s.close()

    assert good()
    gc, fig = _attack(p.port, None, p.proc.pid, p, good, "slowloris proxy entrance (socks5)",
                      make=lambda src, n: Slowloris(p.port, n, b"\x05\x01\x02\x01\x7f",
                                                    drip=b"a", interval=1.0, src=src,
                                                    duration=scale.ATTACK_S + 15))
    assert gc.success() >= 0.99, gc.summary()
    assert fig["log_kib_per_min"] < 1024, fig
    assert fig["recovery_s"] < 2, fig


def test_slowloris_hub_https_sni(tmp_path):
    st = HubStack(tmp_path)
    try:
        acct = account("tls")
        with child_nofile(scale.NOFILE):
            hub = st.hub([acct], http=False, https=True)
        web = st.tls_echo("s.hub.test")
        st.agent(hub, acct["token"], [Route("https", web.port, host="s.hub.test")])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        def good():
            with socket.create_connection(("127.0.0.1", hub.https_port), timeout=3,
                                          source_address=(scale.GOOD_SRC, 0)) as s:
                with ctx.wrap_socket(s, server_hostname="s.hub.test") as tls:
                    return tls.recv(64).startswith(b"hello from s.hub.test")

        assert good()
        gc, fig = _attack(hub.https_port, CLIENT_HELLO_HEAD, hub.proc.proc.pid, hub.proc, good,
                          "slowloris hub https (SNI)")
        assert gc.success() >= 0.99, gc.summary()
        assert fig["log_kib_per_min"] < 1024, fig
        assert fig["recovery_s"] < 2, fig
    finally:
        st.cleanup()


def test_slow_clients_hub_tcp_route(tmp_path):
    """A tcp route has no head to wait for: every attacker is a live relay to the
    service, and the hub cannot tell it from a user. Two bounds hold it: the account's
    max_conns (what all its users hold at once) and the live cap per source address,
    POSTERN_LIVE_PER_SRC, set here as an operator of a public route would: low enough
    that the attacking addresses together hold at most half of max_conns, so a user from
    another address is still served. The hub and the agent must not spin or flood their
    logs, and serve again at once when the attackers leave."""
    st = HubStack(tmp_path)
    try:
        base = port_block(1)
        cap = max(8, scale.NOFILE // 4)
        per_src = max(1, cap // (2 * scale.SOURCES))
        acct = account("tcp", max_conns=cap)
        with child_nofile(scale.NOFILE):
            hub = st.hub([acct], http=False, ports=(base, base),
                         env={"POSTERN_LIVE_PER_SRC": str(per_src)})
        echo = st.tcp(echo_handler, name="echo")
        st.agent(hub, acct["token"], [Route("tcp", echo.port, port=base)])
        assert scale.echo_ok(base)
        gc, fig = _attack(base, b"GET / HTTP/1.1\r\n", hub.proc.proc.pid, hub.proc,
                          lambda: scale.echo_ok(base), "slow clients hub tcp route (max_conns)")
        assert gc.success() >= 0.99, gc.summary()
        assert fig["log_kib_per_min"] < 1024, fig
        assert fig["server_fds_max"] < scale.NOFILE, fig   # never out of descriptors
        assert fig["recovery_s"] < 2, fig
    finally:
        st.cleanup()
