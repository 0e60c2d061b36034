"""Helpers for the graceful-shutdown and reload tests (17_drain, 18_reload, 21_tunnel_drain).

- open_echo(port)            a connection through postern to an echo backend, one echo done
- exchange_refused(port)     a new exchange on <port> is not served (no connection, or
                             one closed without an echo)
- drain_then_finish(p, s, refused[, port])
                             SIGTERM <p> with <s> open: the drain is logged, <refused>()
                             holds (no new exchange), <s> is still served; closing <s>
                             ends <p> with exit 0 at once
- wait_accepted(port, n)     until exactly <n> accepted connections on <port> are open
                             (the kernel's table: a readiness probe that postern has not
                             closed yet still counts)"""
import signal
import socket
import time

from conftest import LOOPBACK


def open_echo(port):
    s = socket.create_connection((LOOPBACK, port), timeout=5)
    s.sendall(b"ping")
    assert s.recv(4) == b"ping"
    return s


# /proc/net/tcp states that are not an open accepted connection: TIME_WAIT, CLOSE, LISTEN
_NOT_OPEN = {"06", "07", "0A"}


def wait_accepted(port, n, timeout=5.0):
    """Wait until exactly <n> connections with local port <port> are open (any state but
    listening or closed); bounded by <timeout> s."""
    deadline = time.monotonic() + timeout
    while True:
        count = 0
        for name in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(name) as f:
                    rows = f.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                cols = row.split()
                if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] not in _NOT_OPEN:
                    count += 1
        if count == n:
            return
        assert time.monotonic() < deadline, f"{count} open connections on port {port}, not {n}"
        time.sleep(0.02)


def drain_then_finish(p, s, refused, within=1.5, port=None):
    """<port>: where <s> was accepted, when no other connection should be (a readiness
    probe still ending would make the drain count two)."""
    if port is not None:
        wait_accepted(port, 1)
    p.send_signal(signal.SIGTERM)
    p.wait_for_log(r"no new connections; letting 1 finish", timeout=3)
    assert refused()
    s.sendall(b"still")                       # the open one is still served
    assert s.recv(5) == b"still"
    assert p.alive()
    t0 = time.monotonic()
    s.close()
    rc = p.wait_exit(3)
    assert rc == 0 and time.monotonic() - t0 < within, (rc, p.output())
    assert "every connection finished" in p.output()


def exchange_refused(port):
    try:
        s = socket.create_connection((LOOPBACK, port), timeout=2)
    except OSError:
        return True
    with s:
        s.settimeout(3)
        try:
            s.sendall(b"new")
            return s.recv(3) != b"new"
        except OSError:
            return True
