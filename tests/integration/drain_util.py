"""Helpers for the graceful-shutdown and reload tests (17_drain, 18_reload, 21_tunnel_drain).

- open_echo(port)            a connection through postern to an echo backend, one echo done
- exchange_refused(port)     a new exchange on <port> is not served (no connection, or
                             one closed without an echo)
- drain_then_finish(p, s, refused)
                             SIGTERM <p> with <s> open: the drain is logged, <refused>()
                             holds (no new exchange), <s> is still served; closing <s>
                             ends <p> with exit 0 at once"""
import signal
import socket
import time

from conftest import LOOPBACK


def open_echo(port):
    s = socket.create_connection((LOOPBACK, port), timeout=5)
    s.sendall(b"ping")
    assert s.recv(4) == b"ping"
    return s


def drain_then_finish(p, s, refused, within=1.5):
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
