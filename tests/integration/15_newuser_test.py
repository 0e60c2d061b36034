"""What a new user met (issue 19, "found as a new user"), one test per item:

- auto mode (mode=0) whose first address is on this machine but taken exits 1 with
  "address in use (mode=2 makes this a tunnel client)" instead of becoming a tunnel
  client that dials whatever holds the port;
- a target name that does not resolve at start is retried in the background (the process
  stays up, says so, and serves once the name resolves), not a bad URL (exit 2);
- master:// with db= in a folder that does not exist makes the folder (0700);
- log lines: no "kernel TLS unavailable" at INFO, a client's normal exit is not a WARN
  "error from the client", a wrong key says "wrong key" and is final (exit 1), as is a
  hub agent's wrong token; under the master a wrong key is an error state that is not
  restarted; a hub the master stops is reported "stopped", not "killed by signal 15"; a
  probed route's first success does not say "answers again"."""
import os
import re
import socket
import stat
import subprocess
import time

import pytest

from conftest import LOOPBACK, POSTERN_BIN, ask_id, free_port, id_handler, wait_until
from hub_util import Route, account, hubstack  # noqa: F401 - fixture
from limits_util import hosts_dnsmasq  # noqa: F401 - fixture
from master_util import start_master, wait_instance
from tunnel_util import Tunnel, tunnel  # noqa: F401 - fixture

ENV = {"POSTERN_REPORT_INTERVAL": "1s", "POSTERN_BACKOFF_MAX": "1s"}


def run_briefly(url, timeout=5.0, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([POSTERN_BIN, url], capture_output=True, text=True, timeout=timeout,
                          env=e)


def held_port(host=LOOPBACK):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(4)
    return s, s.getsockname()[1]


# ---- auto mode and a taken port ---------------------------------------------------------

def test_auto_mode_on_a_taken_local_port_exits_1_naming_mode_2():
    holder, port = held_port()
    try:
        for listen in (f"127.0.0.1:{port}", f":{port}"):
            r = run_briefly(f"client://{listen}/127.0.0.1:{free_port()}")
            assert r.returncode == 1, (listen, r.returncode, r.stdout, r.stderr)
            assert "address in use (mode=2 makes this a tunnel client)" in r.stderr, r.stderr
            assert "tunnel client for" not in r.stdout, r.stdout
    finally:
        holder.close()


def test_mode_2_on_a_taken_port_is_still_a_tunnel_client(postern):
    holder, port = held_port()
    try:
        p = postern.run([f"client://127.0.0.1:{port}/127.0.0.1:{free_port()}?mode=2"], ENV)
        p.wait_for_log(r"tunnel client for", timeout=5)
        assert p.alive(), p.output()
    finally:
        holder.close()


# ---- DNS at start -----------------------------------------------------------------------

def test_a_target_name_that_does_not_resolve_at_start_is_retried(postern, backends,
                                                               hosts_dnsmasq):
    name = "late.postern.test"
    b = backends(id_handler("late"), name="backend")
    d = hosts_dnsmasq(name, "127.0.0.1")
    d.remove()
    p = postern.client([f"{name}:{b.port}"], "dns=1m",
                       env=dict(ENV, POSTERN_DNS_SERVER=f"127.0.0.1:{d.port}"))
    p.wait_for_log(rf"{re.escape(name)} does not resolve yet", timeout=5)
    assert p.alive(), p.output()
    # A connection meanwhile is closed with a reason, the process stays.
    try:
        ask_id(p.port, timeout=2)
    except (OSError, AssertionError):
        pass
    assert p.alive(), p.output()
    d.set_address("127.0.0.1")
    wait_until(lambda: _answers(p.port, "late"), 8, interval=0.3,
               what="the name resolving and the forwarder reaching it")
    p.wait_for_log(rf"dns: {re.escape(name)} resolves to 127\.0\.0\.1", timeout=1)


def _answers(port, want):
    try:
        return ask_id(port, timeout=1) == want
    except (OSError, AssertionError):
        return False


# ---- master db= folder --------------------------------------------------------------------

def test_master_db_in_a_missing_folder_makes_it_0700(postern, tmp_path):
    db = tmp_path / "new" / "deeper" / "m.db"
    m = start_master(postern, tmp_path, db=db)
    assert db.exists(), m.p.output()
    for d in (tmp_path / "new", tmp_path / "new" / "deeper"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, oct(d.stat().st_mode)


# ---- log lines ----------------------------------------------------------------------------

def test_tls0_tunnel_and_a_clients_normal_exit_log_no_warning(postern, echo_backend):
    t = Tunnel(postern, "reverse", echo_backend.port, key="k-normal", env=ENV).start()
    rc, _ = t.client.stop()
    assert rc == 0
    t.server.wait_for_log(r"detached", timeout=5)
    out = t.server.output() + t.client.output()
    assert "kernel TLS unavailable" not in out, out
    assert not re.search(r"(?m) WARN .*(SHUTDOWN|shutting down)", out), out
    assert "error from the client" not in out, out
    assert re.search(r"detached: the client stopped", t.server.output()), t.server.output()


def test_a_wrong_key_says_so_and_is_final(postern, echo_backend):
    t = Tunnel(postern, "reverse", echo_backend.port, server_key="right-key",
               client_key="wrong-key", env=ENV)
    t.start_server()
    c = t.start_client()
    rc = c.wait_exit(8)
    assert rc == 1, f"exit {rc} (None: still retrying after 8 s):\n{c.output()}"
    out = c.output()
    assert "wrong key" in out, out
    assert "illegal parameter" not in out, out
    assert t.server.alive()


def test_an_agents_wrong_token_is_final(hubstack):
    hub = hubstack.hub([account("alice")])
    a = hubstack.agent(hub, "not-the-token-0123456789", [Route("tcp", free_port(), port=0,
                                                                 name="t")], wait=False)
    rc = a.proc.wait_exit(8)
    assert rc == 1, f"exit {rc}:\n{a.proc.output()}"
    assert "wrong token" in a.proc.output(), a.proc.output()


def test_first_probe_success_does_not_say_again(hubstack):
    acct = account("probed")
    hub = hubstack.hub([acct])
    web = hubstack.http_echo("P")
    a = hubstack.agent(hub, acct["token"], [Route("http", web.port, host="p.hub.test",
                                                  probe="http:/health",
                                                  probe_interval="200ms")])
    a.proc.wait_for_log(r"route .* online: its service answers", timeout=5)
    assert "answers again" not in a.proc.output(), a.proc.output()


@pytest.mark.asan_skip
def test_master_wrong_key_is_an_error_not_restarted(postern, tmp_path, echo_backend):
    t = Tunnel(postern, "reverse", echo_backend.port, server_key="right-key", env=ENV)
    t.start_server()
    m = start_master(postern, tmp_path)
    inst = m.create(f"client://wrong-key@127.0.0.1:{t.tunnel_port}/127.0.0.1:"
                    f"{echo_backend.port}?mode=2")
    v = wait_instance(m, inst["id"], lambda v: v["status"] == "error", timeout=10,
                      what="the instance in error")
    assert "wrong key" in v.get("error", ""), v
    time.sleep(2.5)     # the master's first restart would come after 1 s
    v = m.instance(inst["id"])
    assert v["status"] == "error" and v.get("restarts", 0) == 0, v


def test_master_reports_a_stopped_hub_as_stopped(postern, tmp_path):
    accounts = tmp_path / "accounts.json"
    accounts.write_text('{"accounts": [{"name": "a", "token": "a-token-0123456789abcdef"}]}')
    m = start_master(postern, tmp_path)
    inst = m.create(f"hub://127.0.0.1:{free_port()}?accounts={accounts}")
    wait_instance(m, inst["id"], lambda v: v["status"] == "running", what="the hub running")
    time.sleep(0.5)
    m.ok("PATCH", f"/instances/{inst['id']}", {"action": "stop"})
    wait_instance(m, inst["id"], lambda v: v["status"] == "stopped", what="the hub stopped")
    m.p.wait_for_log(rf"instance {inst['id']} stopped", timeout=5)
    line = [ln for ln in m.p.lines() if f"instance {inst['id']} stopped" in ln][-1]
    assert "signal" not in line, line
