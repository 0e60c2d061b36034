"""Faults in the middle of transfers (docs/security.md; descriptor exhaustion: chaos_nofile.py).

Every transfer is checked: one that completes has every byte (sha256 against what the
source sent); one that does not must be seen by the user as an error (a reset), never as
a clean end of stream. Data connections use tls=1, where a killed peer is detectable
(a plain-TCP peer killed with nothing unread sends an ordinary FIN)."""
import os
import signal
import socket
import threading

import pytest

from harness.attack import download, held_peers
from harness.backends import paced_source_handler
from harness.net import LOOPBACK, port_block, wait_until
from hub_util import HubStack, Route, account
from tunnel_util import Tunnel, wait_checkpoint

import scale

PARALLEL = 4


def _parallel_downloads(port, fault_at, fault):
    """PARALLEL downloads from <port>; <fault>() runs once the first has <fault_at> bytes
    and every one has some (all relaying: a user of the hub still waiting for its data
    connection is reset too, test_kill9_hub_user_waiting). Return [(n, sha, outcome)]."""
    fired = threading.Event()
    lock = threading.Lock()
    out = [None] * PARALLEL
    got = [0] * PARALLEL

    def progress(i, n):
        with lock:
            got[i] = n
            go = max(got) >= fault_at and min(got) > 0 and not fired.is_set()
            if go:
                fired.set()
        if go:
            fault()

    def one(i):
        out[i] = download(port, lambda n: progress(i, n), timeout=30.0)

    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(PARALLEL)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(90)
    assert all(o is not None for o in out), "a download did not finish within 90 s"
    return out, fired.is_set()


def _judge(results, sent, total, name, **extra):
    """Every result is complete and right, or an error; none is a short clean end."""
    shas = {r[2] for r in sent}
    complete = [r for r in results if r[2] == "eof"]
    for n, sha, outcome in results:
        if outcome == "eof":
            assert n == total and sha in shas, \
                f"{name}: a clean end after {n} of {total} bytes (sha known: {sha in shas})"
    scale.report(name, transfers=len(results), complete=len(complete),
                 errors=[r[2] for r in results if r[2] != "eof"], **extra)


def _sent(src, k, timeout=30):
    wait_until(lambda: sum(1 for r in src.records if r[0] == "sent") >= k, timeout,
               what="the source's records")
    return [r for r in src.records if r[0] == "sent"]


@pytest.mark.parametrize("tls", ["1", "0"])
@pytest.mark.parametrize("victim,flow", [("client", "reverse"), ("server", "forward")])
def test_kill9_mid_transfer(postern, backends, victim, flow, tls):
    """kill -9 of the end the data leaves from (reverse: the client next to the source;
    forward: the server), then a new one serves whole transfers again. With tls=0 too:
    a relay's sockets are reset by the kernel when its process dies (relay/relay.c)."""
    src = backends(paced_source_handler(scale.TRANSFER, chunk=256 * 1024, gap=0.002),
                   name="source")
    t = Tunnel(postern, flow, src.port, key="chaos-key", server_params=f"tls={tls}").start()
    results, fired = _parallel_downloads(t.user_port, 2 * 1024 * 1024,
                                         lambda: getattr(t, victim).kill())
    assert fired
    _judge(results, [r for r in src.records if r[0] == "sent"], scale.TRANSFER,
           f"kill -9 {victim} mid-transfer (tls={tls})")
    if victim == "client":
        t.start_client()
        t.wait_ready()
        n, sha, outcome = download(t.user_port)
        assert (n, outcome) == (scale.TRANSFER, "eof")
        assert sha in {r[2] for r in _sent(src, 1)}


def test_sigstop_sigcont_server_mid_transfer(postern, backends):
    src = backends(paced_source_handler(scale.TRANSFER, chunk=256 * 1024, gap=0.002),
                   name="source")
    t = Tunnel(postern, "reverse", src.port, key="chaos-key", server_params="tls=1").start()
    pid = t.server.proc.pid

    def pause():
        import os
        os.kill(pid, signal.SIGSTOP)
        threading.Timer(1.0, os.kill, (pid, signal.SIGCONT)).start()

    results, fired = _parallel_downloads(t.user_port, 2 * 1024 * 1024, pause)
    assert fired
    sent = _sent(src, PARALLEL)
    _judge(results, sent, scale.TRANSFER, "SIGSTOP 1 s + SIGCONT server mid-transfer")
    assert all(r[2] == "eof" for r in results), "a transfer failed across a 1 s SIGSTOP"


def test_kill9_agent_mid_transfer(tmp_path):
    st = HubStack(tmp_path)
    try:
        base = port_block(2)
        acct = account("chaos")
        hub = st.hub([acct], http=False, ports=(base, base + 1), params="tls=1")
        src = st.tcp(paced_source_handler(scale.TRANSFER, chunk=256 * 1024, gap=0.002),
                     name="source")
        agent = st.agent(hub, acct["token"], [Route("tcp", src.port, port=base)])
        agent.proc.wait_for_log(r"connected to .*tls=1", timeout=5)
        results, fired = _parallel_downloads(base, 2 * 1024 * 1024, agent.kill)
        assert fired
        _judge(results, [r for r in src.records if r[0] == "sent"], scale.TRANSFER,
               "kill -9 agent mid-transfer (hub tcp route)")
    finally:
        st.cleanup()


def _hub_route(st, tls="1", env=None):
    """A hub (tls=<tls>, <env>) with one tcp route of an agent to a paced source: (hub,
    agent, src, port)."""
    base = port_block(2)
    acct = account("chaos")
    hub = st.hub([acct], http=False, ports=(base, base + 1), params=f"tls={tls}", env=env)
    src = st.tcp(paced_source_handler(scale.TRANSFER, chunk=256 * 1024, gap=0.002),
                 name="source")
    agent = st.agent(hub, acct["token"], [Route("tcp", src.port, port=base)])
    agent.proc.wait_for_log(rf"connected to .*tls={tls}", timeout=5)
    return hub, agent, src, base


@pytest.mark.parametrize("tls", ["1", "0"])
def test_kill9_hub_mid_transfer(tmp_path, tls):
    """kill -9 of the hub itself: every cut download is an error for its user (the
    kernel resets the relay's sockets); a new hub on the same ports gets the agent back
    and its route serves whole downloads."""
    st = HubStack(tmp_path)
    try:
        hub, agent, src, port = _hub_route(st, tls)
        results, fired = _parallel_downloads(port, 2 * 1024 * 1024, hub.kill)
        assert fired
        _judge(results, [r for r in src.records if r[0] == "sent"], scale.TRANSFER,
               f"kill -9 hub mid-transfer (tcp route, tls={tls})")
        mark = agent.proc.mark()
        hub.restart()
        agent.registered(agent.routes[0], timeout=15, start=mark)
        n, sha, outcome = download(port)
        assert (n, outcome) == (scale.TRANSFER, "eof"), (n, outcome)
        assert sha in {r[2] for r in _sent(src, 1)}
    finally:
        st.cleanup()


def test_sigstop_sigcont_hub_mid_transfer(tmp_path):
    """SIGSTOP 1 s + SIGCONT of the hub: every download completes, sha256 equal."""
    st = HubStack(tmp_path)
    try:
        hub, _agent, src, port = _hub_route(st)
        pid = hub.proc.proc.pid

        def pause():
            import os
            os.kill(pid, signal.SIGSTOP)
            threading.Timer(1.0, os.kill, (pid, signal.SIGCONT)).start()

        results, fired = _parallel_downloads(port, 2 * 1024 * 1024, pause)
        assert fired
        assert all(r[2] == "eof" for r in results), \
            f"a transfer failed across a 1 s SIGSTOP: {[r[1:] for r in results if r[2] != 'eof']}"
        _judge(results, _sent(src, PARALLEL), scale.TRANSFER,
               "SIGSTOP 1 s + SIGCONT hub mid-transfer (tcp route)")
    finally:
        st.cleanup()


def _waiting_users_reset(pid, port, n, kill, head=b""):
    """<n> users connect to <port> (and send <head>), in turn, and are held by <pid>;
    kill(); each must see a reset, not a clean end with no byte that it could take for an
    empty answer. (All are checked at once: a check per user took a loaded machine 0.3 s
    each, longer than the stopped peer's session lasted.)"""
    users = []
    try:
        for _ in range(n):
            s = socket.create_connection((LOOPBACK, port), timeout=10)
            users.append(s)
            s.sendall(head)
        mine = {s.getsockname()[1] for s in users}
        wait_until(lambda: mine <= held_peers(pid), 5, what="every user's accept")
        kill()
        for s in users:
            with pytest.raises(ConnectionResetError):
                got = s.recv(1)
                raise AssertionError(f"{got!r} (b'': a clean end) after the kill -9")
    finally:
        for s in users:
            s.close()


def test_kill9_hub_user_waiting(tmp_path):
    """kill -9 of the hub while users of a tcp route still wait for their data connection
    (the agent stopped: none comes; one user more than the hub's idle pool): each is
    reset. (Report interval 3 s: the stopped agent's session lasts up to 9 s, and the
    users must all be held before it ends; at 1 s a loaded machine lost that race.)"""
    st = HubStack(tmp_path)
    agent = None
    try:
        hub, agent, _src, port = _hub_route(st, env={"POSTERN_REPORT_INTERVAL": "3s"})
        os.kill(agent.proc.proc.pid, signal.SIGSTOP)
        pool = hub.state()["clients"][0]["pool"]        # only shrinks from now on
        _waiting_users_reset(hub.proc.proc.pid, port, pool + 1, hub.kill)
    finally:
        if agent is not None:
            os.kill(agent.proc.proc.pid, signal.SIGCONT)
        st.cleanup()


def test_kill9_hub_http_user_waiting(tmp_path):
    """The same on the hub's http= port: users whose request head named an http route
    whose agent is stopped (one more than the hub's idle pool, so the last still waits
    for its data connection) are each reset when the hub is killed, never given a clean
    end they could take for an empty answer. (Report interval 3 s, as above.)"""
    st = HubStack(tmp_path)
    agent = None
    try:
        acct = account("chaos-http")
        hub = st.hub([acct], http=True, env={"POSTERN_REPORT_INTERVAL": "3s"})
        echo = st.http_echo("A")
        agent = st.agent(hub, acct["token"], [Route("http", echo.port, host="a.hub.test")])
        os.kill(agent.proc.proc.pid, signal.SIGSTOP)
        pool = hub.state()["clients"][0]["pool"]
        _waiting_users_reset(hub.proc.proc.pid, hub.http_port, pool + 1, hub.kill,
                             head=b"GET / HTTP/1.1\r\nHost: a.hub.test\r\n\r\n")
    finally:
        if agent is not None:
            os.kill(agent.proc.proc.pid, signal.SIGCONT)
        st.cleanup()


def test_kill9_tunnel_server_user_waiting(postern, backends):
    """The same for a tunnel (reverse): users of the server's port still waiting for a
    pooled data connection (the client stopped) are reset when the server is killed."""
    src = backends(paced_source_handler(scale.TRANSFER, chunk=256 * 1024, gap=0.002),
                   name="source")
    t = Tunnel(postern, "reverse", src.port, key="chaos-key",
               env={"POSTERN_REPORT_INTERVAL": "1s"}).start()
    os.kill(t.client.proc.pid, signal.SIGSTOP)
    try:
        pool = wait_checkpoint(t.server, lambda v: True, 5, start=t.server.mark())["pool"]
        _waiting_users_reset(t.server.proc.pid, t.user_port, pool + 1, t.server.kill)
    finally:
        os.kill(t.client.proc.pid, signal.SIGCONT)
