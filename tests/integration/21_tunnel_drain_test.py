"""Graceful shutdown of a tunnel end (docs/usage.md "Exit codes and signals"): on SIGTERM
the server or client stops taking new exchanges (the end where users connect closes its
listener; the end that dials refuses the exchanges its peer starts), lets an open one finish
within POSTERN_SHUTDOWN_TIMEOUT, then tells its peer SHUTDOWN and exits 0. In both flows,
for both ends."""
import signal
import time

import pytest

from drain_util import drain_then_finish, exchange_refused, open_echo
from tunnel_util import Tunnel, wait_checkpoint

ENV = {"POSTERN_SHUTDOWN_TIMEOUT": "5s"}


# (flow, the end that stops); users connect to the server in reverse flow, to the client
# in forward flow.
CASES = [("reverse", "server"), ("reverse", "client"), ("forward", "client"),
         ("forward", "server")]


@pytest.mark.asan_keep("forward-client", "reverse-server")
@pytest.mark.parametrize("flow,end", CASES, ids=[f"{f}-{e}" for f, e in CASES])
def test_sigterm_drains_a_tunnel_end(postern, echo_backend, flow, end):
    t = Tunnel(postern, flow, echo_backend.port, key="drain-key", env=ENV).start()
    s = open_echo(t.user_port)
    p = getattr(t, end)
    # The readiness check's own connection may still be going through: drain ours alone.
    wait_checkpoint(p, lambda v: v["tcps"] == 1, timeout=5)
    drain_then_finish(p, s, lambda: exchange_refused(t.user_port))
    peer = t.client if end == "server" else t.server
    peer.wait_for_log(rf"the {end} is stopping", timeout=3)     # a normal end, not an error
    assert peer.alive()


def test_tunnel_drain_timeout_closes_what_is_left(postern, echo_backend):
    t = Tunnel(postern, "reverse", echo_backend.port, key="drain-key",
               env={"POSTERN_SHUTDOWN_TIMEOUT": "1s"}).start()
    s = open_echo(t.user_port)
    t0 = time.monotonic()
    t.client.send_signal(signal.SIGTERM)
    assert t.client.wait_exit(5) == 0
    assert 0.8 < time.monotonic() - t0 < 4.0, t.client.output()
    assert "timeout reached, closing 1 open connection" in t.client.output()
    s.close()


def test_tunnel_drain_second_signal_closes_at_once(postern, echo_backend):
    t = Tunnel(postern, "reverse", echo_backend.port, key="drain-key", env=ENV).start()
    s = open_echo(t.user_port)
    t.server.send_signal(signal.SIGTERM)
    t.server.wait_for_log(r"no new connections; letting 1 finish", timeout=3)
    t0 = time.monotonic()
    t.server.send_signal(signal.SIGTERM)
    # at once: well before the 5 s drain would end (a loaded machine may take a second
    # or two to schedule the exit, so the bound is the drain's, not a stopwatch's)
    assert t.server.wait_exit(4) == 0 and time.monotonic() - t0 < 4.0, t.server.output()
    assert "second signal, closing now" in t.server.output()
    s.close()
