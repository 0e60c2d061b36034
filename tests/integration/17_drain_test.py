"""Graceful shutdown (docs/usage.md "Exit codes and signals"): on SIGTERM a single-end
forwarder stops accepting, lets an open connection finish within POSTERN_SHUTDOWN_TIMEOUT
(NodePass's NP_SHUTDOWN_TIMEOUT is the same), then exits 0; at the timeout what is still
open is closed; 0 closes at once."""
import signal
import socket
import time

import pytest

from conftest import LOOPBACK
from drain_util import drain_then_finish, open_echo


@pytest.mark.asan_keep("NP_SHUTDOWN_TIMEOUT")
@pytest.mark.parametrize("var", ["POSTERN_SHUTDOWN_TIMEOUT", "NP_SHUTDOWN_TIMEOUT"])
def test_sigterm_lets_an_open_connection_finish(postern, echo_backend, var):
    p = postern.client([echo_backend.port], "noudp=1",
                       env={var: "5s", "POSTERN_SHUTDOWN_TIMEOUT": "" if var[0] == "N" else "5s"})
    s = open_echo(p.port)

    def refused():
        try:
            socket.create_connection((LOOPBACK, p.port), timeout=1).close()
        except OSError:
            return True
        return False
    drain_then_finish(p, s, refused, within=1.0, port=p.port)


def test_drain_timeout_closes_what_is_left(postern, echo_backend):
    p = postern.client([echo_backend.port], "noudp=1", env={"POSTERN_SHUTDOWN_TIMEOUT": "1s"})
    s = open_echo(p.port)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    rc = p.wait_exit(4)
    took = time.monotonic() - t0
    assert rc == 0 and 0.8 < took < 2.5, (rc, took, p.output())
    assert "timeout reached, closing 1 open connection" in p.output()
    s.close()


def test_zero_closes_at_once(postern, echo_backend):
    p = postern.client([echo_backend.port], "noudp=1", env={"POSTERN_SHUTDOWN_TIMEOUT": "0"})
    s = open_echo(p.port)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait_exit(2) == 0 and time.monotonic() - t0 < 1.0, p.output()
    s.close()
