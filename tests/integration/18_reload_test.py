"""SIGHUP reloads and never kills (docs/usage.md "Exit codes and signals"): in every
instance mode the process stays, open connections go on, and target names are resolved
again at once (a single-end forwarder with dns=1h follows a moved name right after
SIGHUP). The hub's accounts file and the agent's routes file reloads are tested in
93_hub_lifecycle_test.py; here only that they keep running."""
import signal

from conftest import ask_id, id_handler
from drain_util import open_echo
from hub_util import Route, account, hubstack  # noqa: F401 - fixture
from limits_util import OTHER_IP, hosts_dnsmasq, same_port_backends  # noqa: F401 - fixture
from tunnel_util import Tunnel

NAME = "reload.postern.test"


def _still_echoes(s):
    s.sendall(b"again")
    assert s.recv(5) == b"again"


def test_single_end_sighup_resolves_names_again_and_keeps_connections(postern, backends,
                                                                     hosts_dnsmasq):
    bs = same_port_backends(backends, {ip: id_handler(f"id-{ip}")
                                       for ip in ("127.0.0.1", OTHER_IP)})
    port = bs["127.0.0.1"].port
    d = hosts_dnsmasq(NAME, "127.0.0.1")
    p = postern.client([f"{NAME}:{port}"], "dns=1h",
                       env={"POSTERN_DNS_SERVER": f"127.0.0.1:{d.port}"})
    assert ask_id(p.port) == "id-127.0.0.1"
    d.set_address(OTHER_IP)
    mark = p.mark()
    p.send_signal(signal.SIGHUP)
    p.wait_for_log(rf"dns: {NAME} now resolves to {OTHER_IP}", timeout=5, start=mark)
    assert ask_id(p.port) == f"id-{OTHER_IP}"
    assert p.alive()


def test_single_end_sighup_keeps_an_open_connection(postern, echo_backend):
    p = postern.client([echo_backend.port], "noudp=1")
    s = open_echo(p.port)
    p.send_signal(signal.SIGHUP)
    p.wait_for_log(r"reload: SIGHUP", timeout=5)
    _still_echoes(s)
    s.close()
    assert p.alive()


def test_tunnel_server_and_client_survive_sighup_with_connections_open(postern,
                                                                      echo_backend):
    t = Tunnel(postern, "reverse", echo_backend.port, key="reload-key").start()
    s = open_echo(t.user_port)
    for p in (t.server, t.client):
        p.send_signal(signal.SIGHUP)
        p.wait_for_log(r"reload: SIGHUP", timeout=5)
    _still_echoes(s)
    s.close()
    assert t.server.alive() and t.client.alive()
    _still_echoes(open_echo(t.user_port))


def test_hub_and_agent_survive_sighup(hubstack):
    acct = account("hupper")
    hub = hubstack.hub([acct])
    web = hubstack.http_echo("H")
    a = hubstack.agent(hub, acct["token"], [Route("http", web.port, host="h.hub.test")])
    for p in (hub.proc, a.proc):
        p.send_signal(signal.SIGHUP)
        p.wait_for_log(r"reload: SIGHUP", timeout=5)
    assert hub.proc.alive() and a.proc.alive()
