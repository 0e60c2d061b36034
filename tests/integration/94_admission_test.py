"""Admission on listeners facing users (net/gate.h, docs/security.md): slow clients and
descriptor exhaustion.

- The hub's HTTP port gives a request head a deadline from its first byte, not an idle
  timer: one byte every 0.4 s does not keep a connection past POSTERN_HANDSHAKE_TIMEOUT.
- With the hub at `ulimit -n 256`, 300 slowloris connections do not stop a good client
  (another source address) from being served.
- The master's API: the same, with its 10 s deadline for a whole request.
- The master out of descriptors (EMFILE) pauses accepting, uses little CPU, writes
  little log, and serves again once descriptors are free.
- Live connections per source on a user's port (POSTERN_LIVE_PER_SRC): a forwarder,
  a hub tcp route and the hub's http= port (kept-alive connections) refuse the one over the cap, serve other sources, and serve the
  source again once one of its connections closes.
- A soft descriptor limit under the hard one (systemd's 1024 for a service) is raised
  to the hard one at start, by a forwarder and by the master."""
import os
import resource
import socket
import time

import pytest

from conftest import LOOPBACK
from harness.attack import GoodClient, Slowloris, child_nofile, cpu_seconds, get_ok
from hub_util import USER_IP, HubStack, Route, account, build_request, http_request, read_response
from master_util import start_master

ATTACKER = "127.0.0.1"


def _trickle_lifetime(port, head, gap, limit, src="127.0.0.3"):
    """Open one connection from <src>, send head[0], then one byte of <head> every <gap>
    s; return how long until the server closed it (None: still open after <limit> s)."""
    s = socket.socket()
    s.bind((src, 0))
    s.connect((LOOPBACK, port))
    s.settimeout(gap)
    t0 = time.monotonic()
    try:
        i = 0
        while time.monotonic() - t0 < limit:
            try:
                s.send(head[i % len(head):i % len(head) + 1])
                i += 1
                if s.recv(4096) == b"":
                    return time.monotonic() - t0
            except socket.timeout:
                continue
            except OSError:
                return time.monotonic() - t0
            return time.monotonic() - t0    # an answer (a 400 page) ends it as well
        return None
    finally:
        s.close()


def _hub(tmp_path):
    st = HubStack(tmp_path)
    acct = account("web")
    with child_nofile(256):
        hub = st.hub([acct], http=True, env={"POSTERN_HANDSHAKE_TIMEOUT": "2s"})
    echo = st.http_echo("A")
    st.agent(hub, acct["token"], [Route("http", echo.port, host="a.hub.test")])
    return st, hub


def test_hub_http_head_has_a_deadline_not_an_idle_timer(tmp_path):
    st, hub = _hub(tmp_path)
    try:
        head = b"GET / HTTP/1.1\r\nHost: a.hub.test\r\nX-Slow: " + b"a" * 200
        took = _trickle_lifetime(hub.http_port, head, 0.4, 8.0)
        assert took is not None, "a head trickling one byte every 0.4 s was kept for 8 s"
        assert 1.5 <= took <= 4.0, f"closed after {took:.1f} s; the deadline is 2 s"
    finally:
        st.cleanup()


@pytest.mark.asan_skip
def test_hub_http_slowloris_at_ulimit_256(tmp_path):
    st, hub = _hub(tmp_path)
    port = hub.http_port
    try:
        def good():
            r = http_request(port, "a.hub.test", "/ok", src_ip=USER_IP, timeout=3.0)
            return r.status == 200

        assert good()
        head = b"GET / HTTP/1.1\r\nHost: a.hub.test\r\n"
        with Slowloris(port, 300, head, interval=1.0, src=ATTACKER) as sl:
            time.sleep(1.0)
            with GoodClient(good, gap=0.02, duration=5.0) as gc:
                time.sleep(5.0)
        print(f"hub http slowloris: {gc.summary()}; attacker opened {sl.opened}, "
              f"closed by the hub {sl.closed}, held at most {sl.max_held}")
        assert gc.total() >= 20, gc.summary()
        assert gc.success() >= 0.99, gc.summary()
        assert sl.closed > 0, "the hub closed no trickling connection"
        assert good()
    finally:
        st.cleanup()


def _master_get(m, src=USER_IP):
    return get_ok(m.port, m.prefix + "/v1/instances", {"X-API-Key": m.key}, src)


@pytest.mark.asan_skip
def test_master_api_slowloris_at_ulimit_256(postern, tmp_path):
    with child_nofile(256):
        m = start_master(postern, tmp_path)
    assert _master_get(m)
    head = b"GET /api/v1/instances HTTP/1.1\r\nHost: x\r\n"
    with Slowloris(m.port, 300, head, interval=1.0, src=ATTACKER) as sl:
        time.sleep(1.0)
        with GoodClient(lambda: _master_get(m), gap=0.02, duration=4.0) as gc:
            # Meanwhile one trickling connection of its own: the deadline is 10 s for
            # the whole request, however steadily bytes come.
            took = _trickle_lifetime(m.port, head + b"X-Slow: " + b"a" * 100, 0.5, 14.0)
    print(f"master slowloris: {gc.summary()}; attacker opened {sl.opened}, closed by the "
          f"master {sl.closed}, held at most {sl.max_held}; trickle closed after {took}")
    assert gc.success() >= 0.99, gc.summary()
    assert took is not None and 8.0 <= took <= 13.0, \
        f"trickle closed after {took}\n" + "\n".join(m.p.lines("stderr")[-20:])
    assert _master_get(m)


def test_master_at_emfile_pauses_without_spinning(postern, tmp_path):
    with child_nofile(64):
        m = start_master(postern, tmp_path)
    assert _master_get(m)
    req = (f"GET {m.prefix}/v1/instances HTTP/1.1\r\nHost: x\r\nX-API-Key: {m.key}\r\n\r\n"
           ).encode()
    held = []
    try:
        # Served keep-alive connections hold a descriptor each: past 64, accept fails.
        for _ in range(90):
            s = socket.create_connection((LOOPBACK, m.port), timeout=3)
            s.sendall(req)
            held.append(s)
        time.sleep(1.0)
        lines0 = len(m.p.lines("stdout")) + len(m.p.lines("stderr"))
        cpu0, t0 = cpu_seconds(m.pid), time.monotonic()
        time.sleep(3.0)
        cpu = cpu_seconds(m.pid) - cpu0
        wall = time.monotonic() - t0
        lines = len(m.p.lines("stdout")) + len(m.p.lines("stderr")) - lines0
        out = "\n".join(m.p.lines("stderr")[-5:] + m.p.lines("stdout")[-5:])
        print(f"master at EMFILE: {cpu:.2f} s CPU in {wall:.1f} s, {lines} log lines\n{out}")
        assert "Too many open files" in out or "pausing accepts" in out, out
        assert cpu < 0.3 * wall, f"{cpu:.2f} s of CPU in {wall:.1f} s at EMFILE"
        assert lines <= 8, f"{lines} log lines in {wall:.1f} s at EMFILE"
    finally:
        for s in held:
            s.close()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5.0:
        try:
            if _master_get(m):
                break
        except OSError:
            time.sleep(0.1)
    else:
        raise AssertionError("the master did not serve again within 5 s of the descriptors "
                             "being freed")
    print(f"master recovered in {time.monotonic() - t0:.2f} s")


def _echo_from(port, src, timeout=3.0):
    """A connection from <src> whose echo works: the socket (open), or None when the
    server closed it instead."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((LOOPBACK, port))
    try:
        s.sendall(b"ping")
        if s.recv(4) == b"ping":
            return s
    except OSError:
        pass
    s.close()
    return None


def _http_from(port, src, timeout=3.0):
    """A kept-alive connection from <src> to the hub's http= port whose request was
    answered 200: the socket (open), or None when the hub closed it instead."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((LOOPBACK, port))
    try:
        s.sendall(build_request("a.hub.test", keepalive=True))
        if read_response(s.makefile("rb")).status == 200:
            return s
    except (OSError, ConnectionError):
        pass
    s.close()
    return None


def _live_cap(port, proc, probe=_echo_from):
    """8 live connections from 127.0.0.3 are served, the 9th is refused (logged) while
    another source is served; once one of the 8 closes, 127.0.0.3 is served again."""
    held = [probe(port, "127.0.0.3") for _ in range(8)]
    try:
        assert all(held), "a connection under the cap was not served"
        assert probe(port, "127.0.0.3") is None, "the 9th from one source was served"
        other = probe(port, "127.0.0.4")
        assert other is not None, "another source was refused"
        other.close()
        proc.wait_for_log(r"127\.0\.0\.3 has 8 connections open \(the cap, "
                          r"POSTERN_LIVE_PER_SRC\)", timeout=5)
        held.pop().close()
        deadline = time.monotonic() + 5
        again = None
        while again is None and time.monotonic() < deadline:
            again = probe(port, "127.0.0.3")
            if again is None:
                time.sleep(0.1)
        assert again is not None, "not served again after one of its connections closed"
        held.append(again)
    finally:
        for s in held:
            if s is not None:
                s.close()


def test_live_connections_per_source_forwarder(postern, echo_backend):
    p = postern.client([echo_backend.port], env={"POSTERN_LIVE_PER_SRC": "8"})
    _live_cap(p.port, p)


def test_live_connections_per_source_hub_tcp_route(tmp_path):
    from harness.backends import echo_handler
    from harness.net import port_block
    st = HubStack(tmp_path)
    try:
        base = port_block(1)
        acct = account("live")
        hub = st.hub([acct], http=False, ports=(base, base), env={"POSTERN_LIVE_PER_SRC": "8"})
        echo = st.tcp(echo_handler, name="echo")
        st.agent(hub, acct["token"], [Route("tcp", echo.port, port=base)])
        _live_cap(base, hub.proc)
    finally:
        st.cleanup()


def test_live_connections_per_source_hub_http_ports(tmp_path):
    """The hub's http= port (kept-alive connections, each answered) and its https= port
    (connections still before their ClientHello) hold the same live cap."""
    st = HubStack(tmp_path)
    try:
        acct = account("web")
        hub = st.hub([acct], http=True, https=True, env={"POSTERN_LIVE_PER_SRC": "8"})
        echo = st.http_echo("A")
        st.agent(hub, acct["token"], [Route("http", echo.port, host="a.hub.test")])
        _live_cap(hub.http_port, hub.proc, probe=_http_from)
        held = []
        for _ in range(8):
            held.append(socket.create_connection((LOOPBACK, hub.https_port), timeout=3,
                                                 source_address=("127.0.0.5", 0)))
        try:
            s = socket.create_connection((LOOPBACK, hub.https_port), timeout=3,
                                         source_address=("127.0.0.5", 0))
            try:
                assert s.recv(1) == b"", "the 9th from one source was not closed at once"
            except ConnectionResetError:
                pass
            finally:
                s.close()
            hub.proc.wait_for_log(r"127\.0\.0\.5 has 8 connections open \(the cap, "
                                  r"POSTERN_LIVE_PER_SRC\)", timeout=5)
        finally:
            for s in held:
                s.close()
    finally:
        st.cleanup()


def _soft_nofile(pid):
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no Max open files line")


def test_soft_descriptor_limit_raised_to_hard(postern, tmp_path, echo_backend):
    # root may set any hard limit in the child; another user at most its own
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if os.geteuid() == 0 or hard == resource.RLIM_INFINITY or hard > 2048:
        hard = 2048
    soft = min(256, hard // 2)
    with child_nofile(soft, hard=hard):
        fwd = postern.client([echo_backend.port])
        m = start_master(postern, tmp_path)
    assert _soft_nofile(fwd.pid) == hard
    assert _soft_nofile(m.pid) == hard
    with child_nofile(soft):                    # soft already at hard: left alone
        fwd = postern.client([echo_backend.port])
    assert _soft_nofile(fwd.pid) == soft
