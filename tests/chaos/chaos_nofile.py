"""Descriptor exhaustion of each kind of process at its own limit (docs/security.md):
server, client (a forwarder), hub, agent, proxy entrance and master, each at
`ulimit -n 64`, are driven out of descriptors by connections that finish their head (so
that admission does not end them: live relays, kept-alive API connections). While they
are held: the process must not spin (CPU from /proc/<pid>/stat) nor flood its log; once
they leave, a good client must be served again within a bounded time."""
import base64
import contextlib
import socket
import time

import pytest

from harness.attack import child_nofile, cpu_seconds, get_ok
from harness.backends import echo_handler
from harness.net import port_block
from hub_util import HubStack, Route, account
from master_util import start_master
from proxy_util import socks_open, start_proxy, write_users
from tunnel_util import Tunnel

import scale

NOFILE = 64
ATTACKERS = 80          # more than the limit: each takes one descriptor or more


def _connect_send(port, data):
    """An attacker's connection, held by the caller. The victim's side may reset it at
    once (a hub resets a user whose data connection cannot come: the agent is out of
    descriptors), which is a defence, not the test's failure."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(data)
    except OSError:
        pass
    return s


def _echo(port):
    return scale.echo_ok(port, src=None)


def _relay_kind(kind, postern, backends, tmp_path, stack):
    """(pid, proc, attack(), good()) of a process of <kind> at NOFILE, relaying to an echo."""
    echo = backends(echo_handler, name="echo")
    if kind == "client":
        with child_nofile(NOFILE):
            p = postern.client([echo.port])
        return p.proc.pid, p, (lambda: _connect_send(p.port, b"ping")), (lambda: _echo(p.port))
    if kind == "server":
        t = Tunnel(postern, "reverse", echo.port, key="chaos-key")
        with child_nofile(NOFILE):
            t.start_server()
        t.start_client()
        t.wait_ready()
        port = t.user_port
        return (t.server.proc.pid, t.server, (lambda: _connect_send(port, b"ping")),
                (lambda: _echo(port)))
    if kind in ("hub", "agent"):
        base = port_block(1)
        acct = account("nofile")
        with child_nofile(NOFILE) if kind == "hub" else contextlib.nullcontext():
            hub = stack.hub([acct], http=False, ports=(base, base))
        with child_nofile(NOFILE) if kind == "agent" else contextlib.nullcontext():
            agent = stack.agent(hub, acct["token"], [Route("tcp", echo.port, port=base)])
        victim = hub.proc if kind == "hub" else agent.proc
        return (victim.proc.pid, victim, (lambda: _connect_send(base, b"ping")),
                (lambda: _echo(base)))
    if kind == "proxy":
        users = write_users(tmp_path / "users.json", [{"name": "u", "password": "pw"}])
        # The admission gate (a quarter of ulimit -n for heads in progress, an eighth of
        # that per source) would close the burst's heads before the descriptors run out;
        # this test is about running out, so the gate is opened wide here.
        with child_nofile(NOFILE):
            p = start_proxy(postern, users, env={"POSTERN_GATE_MAX": "1000",
                                                 "POSTERN_GATE_PER_SRC": "1000"})
        auth = base64.b64encode(b"u:pw").decode()
        head = (f"CONNECT 127.0.0.1:{echo.port} HTTP/1.1\r\nHost: 127.0.0.1:{echo.port}\r\n"
                f"Proxy-Authorization: Basic {auth}\r\n\r\n").encode()

        def good():
            s, _st, rep, _bnd = socks_open(p.port, "u", "pw", "127.0.0.1", echo.port,
                                           timeout=3)
            with s:
                if rep != 0:
                    return False
                s.sendall(b"ping")
                return s.recv(4) == b"ping"
        return p.proc.pid, p, (lambda: _connect_send(p.port, head)), good
    raise AssertionError(kind)


# The attackers' connections still queued when they leave are accepted one by one (the
# accept pause after EMFILE reaches 1 s); those that never finish their head are closed at
# the handshake deadline (10 s): a good client is served within both. Measured recovery
# is reported (docs/security.md), 0-0.8 s usually, up to 6.5 s seen on a loaded machine.
RECOVERY_MAX = 10 + 1 + 1


@pytest.mark.parametrize("kind", ["server", "client", "hub", "agent", "proxy", "master"])
def test_descriptor_exhaustion(kind, postern, backends, tmp_path):
    stack = HubStack(tmp_path)
    held = []
    try:
        if kind == "master":
            with child_nofile(NOFILE):
                m = start_master(postern, tmp_path)
            path = m.prefix + "/v1/instances"
            req = (f"GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {m.key}\r\n\r\n").encode()
            pid, proc = m.pid, m.p
            attack = lambda: _connect_send(m.port, req)  # noqa: E731
            good = lambda: get_ok(m.port, path, {"X-API-Key": m.key})  # noqa: E731
        else:
            pid, proc, attack, good = _relay_kind(kind, postern, backends, tmp_path, stack)
        assert good()
        for _ in range(ATTACKERS):
            held.append(attack())
        time.sleep(1.0)
        log0 = scale.log_bytes(proc)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(2.0)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(pid) - cpu0
        logb = scale.log_bytes(proc) - log0
        out = proc.output()
        for s in held:
            s.close()
        held = []
        t1 = time.monotonic()
        while True:
            try:
                if good():
                    break
            except OSError:
                pass
            assert time.monotonic() - t1 < RECOVERY_MAX, \
                f"{kind}: not served within {RECOVERY_MAX} s after; its log:\n{proc.output()[-4000:]}"
            time.sleep(0.05)
        recovery = time.monotonic() - t1
        scale.report(f"descriptor exhaustion ({kind} at ulimit -n {NOFILE})",
                     cpu_pct=round(100 * cpu / wall, 1), log_bytes=logb,
                     seconds=round(wall, 1), recovery_s=round(recovery, 2),
                     emfile_logged="Too many open files" in out)
        assert "Too many open files" in out, out[-3000:]
        assert cpu < 0.5 * wall, f"{kind}: {100 * cpu / wall:.0f} % CPU out of descriptors"
        assert logb < 16384, f"{kind}: {logb} bytes of log in {wall:.1f} s"
    finally:
        for s in held:
            s.close()
        stack.cleanup()
