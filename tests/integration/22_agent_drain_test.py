"""Graceful shutdown of an agent (docs/usage.md "Exit codes and signals"): on SIGTERM it
refuses the exchanges the hub starts for its routes, lets an open one finish within
POSTERN_SHUTDOWN_TIMEOUT, then tells the hub SHUTDOWN and exits 0; the hub stays."""

from conftest import echo_handler
from drain_util import drain_then_finish, exchange_refused, open_echo
from hub_util import Route, account, hubstack, port_block  # noqa: F401 - fixture


def test_agent_sigterm_drains_its_routes(hubstack):
    base = port_block(4)
    acct = account("drainer")
    hub = hubstack.hub([acct], ports=(base, base + 3))
    echo = hubstack.tcp(echo_handler, name="tcp-echo")
    route = Route("tcp", echo.port, port=base + 1)
    a = hubstack.agent(hub, acct["token"], [route],
                       env={"POSTERN_SHUTDOWN_TIMEOUT": "5s"})
    port = a.port_of(route)
    s = open_echo(port)
    drain_then_finish(a.proc, s, lambda: exchange_refused(port))
    hub.proc.wait_for_log(r"the agent is stopping", timeout=3)
    assert hub.proc.alive()
