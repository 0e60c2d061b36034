"""Honest instance states (docs/master.md "States"): what an instance says of itself in
its STATE lines shows in the API (`health`), as a `state` event, in the metric
postern_instance_state{id,alias,state} and on the dashboard.

1. A tunnel client attached to its server: connected (both).
2. A tunnel client with a wrong key: error, "wrong key" in the reason (it ends, not
   restarted).
3. A single-end forwarder whose every target refuses: connected until a user's dial
   fails on every target, then degraded ("every target down"); connected again once a
   target answers.
4. A hub agent whose route's probe fails: degraded, the route and "probe failed" in the
   reason.
5. The dashboard (headless Chromium, tests/web/page_check.mjs) shows each of them.

Each test starts its own master (POSTERN_REPORT_INTERVAL=200ms) on a fresh database."""
import json
import os

from conftest import LOOPBACK, connect, echo_handler, free_port, wait_port, wait_until
from master_util import (EventStream, page_check, start_master, streams,  # noqa: F401
                         wait_instance)

TOKEN = "7c0de5a1b2c3d4e5f60718293a4b5c6d"
STATES = ("connecting", "connected", "degraded", "error", "stopped")



def live_stream(m, streams):
    """An event stream that is connected (its retry line arrived): no change is missed."""
    es = EventStream(m)
    streams.append(es)
    es.wait_line("retry: 3000")
    return es


def health(m, iid):
    return m.instance(iid)["health"]


def wait_health(m, iid, state, reason="", timeout=15):
    """Wait until the API shows <state> with <reason> in its reason; return the health."""
    v = wait_instance(m, iid, lambda v: v["health"]["state"] == state
                      and reason in v["health"]["reason"], timeout=timeout,
                      what=f"health {state} ({reason!r})")
    h = v["health"]
    assert set(h) == {"state", "reason", "since"}, h
    assert h["since"] and h["since"].endswith("Z"), h
    return h


def wait_state_event(es, iid, state, reason=""):
    return es.wait_event(lambda ev: ev.get("type") == "state" and ev.get("id") == iid
                         and ev.get("state") == state and reason in ev.get("reason", ""),
                         timeout=15, what=f"a state event {state} for {iid}")


def state_metric(m, iid):
    """{state: value} of postern_instance_state for <iid>, read with the Prometheus
    client's parser."""
    import prometheus_client.parser as parser    # deps.sh: python3-prometheus-client
    st, text, _ = m.request("GET", "/metrics")
    assert st == 200, (st, text)
    fams = {f.name: f for f in parser.text_string_to_metric_families(text)}
    out = {s.labels["state"]: s.value for s in fams["postern_instance_state"].samples
           if s.labels.get("id") == iid}
    assert set(out) == set(STATES), out
    return out


def assert_state_everywhere(m, es, iid, state, reason=""):
    """The API, an SSE `state` event and the metric agree on <state>."""
    h = wait_health(m, iid, state, reason)
    ev = wait_state_event(es, iid, state, reason)
    assert ev["since"] and set(ev) >= {"type", "time", "id", "alias", "status", "state",
                                       "reason", "since"}, ev
    wait_until(lambda: state_metric(m, iid)[state] == 1, 5, interval=0.1,
               what=f"postern_instance_state{{state={state!r}}} 1")
    values = state_metric(m, iid)
    assert sum(values.values()) == 1, values
    return h


def tunnel_pair(m, key_server, key_client, echo_port):
    """A reverse tunnel server and its client as instances of <m>: (server, client, the
    server's published port)."""
    tport, uport = free_port(), free_port()
    server = m.create(f"server://{key_server}@{LOOPBACK}:{tport}/{LOOPBACK}:{uport}",
                      alias="tserver")
    wait_port(tport, timeout=10)
    client = m.create(f"client://{key_client}@{LOOPBACK}:{tport}/{LOOPBACK}:{echo_port}?mode=2",
                      alias="tclient")
    return server, client, uport


def forwarder(m):
    """A single-end forwarder to two ports nobody listens on: (instance, its port, the
    two target ports), once it listens (no connection to it yet: each one dials)."""
    lport, t1, t2 = free_port(), free_port(), free_port()
    inst = m.create(f"client://{LOOPBACK}:{lport}/{LOOPBACK}:{t1},{LOOPBACK}:{t2}?mode=1",
                    alias="fwd")
    wait_health(m, inst["id"], "connected", "serving 2 target(s)")
    return inst, lport, (t1, t2)


def dial_through(port):
    """One user connection through a forwarder; the forwarder resets it when its dials
    fail, which can happen before connect() has returned here (a loaded machine)."""
    try:
        with connect(port) as s:
            s.settimeout(5)
            s.recv(1)
    except OSError:
        pass


def hub_and_agent(m, tmp_path):
    """A hub and an agent whose tcp route's service is down, probed every 200 ms."""
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({"accounts": [{"name": "alice", "token": TOKEN}]}))
    hub_port, route_port, dead = free_port(), free_port(), free_port()
    m.create(f"hub://{LOOPBACK}:{hub_port}?accounts={accounts}"
             f"&ports={route_port}-{route_port}", alias="hub")
    wait_port(hub_port, timeout=10)
    agent = m.create(f"agent://{TOKEN}@{LOOPBACK}:{hub_port}?tcp={LOOPBACK}:{dead},"
                     f"port={route_port},probe=tcp,probe_interval=200ms", alias="agent")
    return agent


# --------------------------------------------------------------------------------------

def test_connected_tunnel_client(postern, tmp_path, echo_backend, streams):
    m = start_master(postern, tmp_path)
    es = live_stream(m, streams)
    key = "k3y-" + os.urandom(6).hex()
    server, client, _ = tunnel_pair(m, key, key, echo_backend.port)
    h = assert_state_everywhere(m, es, client["id"], "connected", f"connected to {LOOPBACK}:")
    assert m.instance(client["id"])["status"] == "running"
    assert_state_everywhere(m, es, server["id"], "connected", "serving the tunnel client at")
    # The key never shows in a state.
    assert key not in json.dumps(h) and key not in json.dumps(health(m, server["id"]))
    # Stopped by request: stopped, in the API, the event and the metric.
    m.ok("PATCH", f"/instances/{client['id']}", {"action": "stop"})
    assert_state_everywhere(m, es, client["id"], "stopped")
    # Without its client, the server waits for one.
    assert_state_everywhere(m, es, server["id"], "connecting", "waiting for a client")


def test_wrong_key_is_an_error_with_its_reason(postern, tmp_path, echo_backend, streams):
    m = start_master(postern, tmp_path)
    es = live_stream(m, streams)
    _, client, _ = tunnel_pair(m, "right-" + os.urandom(6).hex(), "wrong-" + os.urandom(6).hex(),
                               echo_backend.port)
    h = assert_state_everywhere(m, es, client["id"], "error", "wrong key")
    assert "authentication failed" in h["reason"], h
    # The instance says so, then ends (exit 1, final): not restarted, same state and reason.
    v = wait_instance(m, client["id"], lambda v: v["status"] == "error", what="the client ended")
    assert v["restarts"] == 0 and v["health"]["state"] == "error", v
    assert "wrong key" in v["health"]["reason"], v


def test_forwarder_with_every_target_down_is_degraded(postern, tmp_path, backends, streams):
    m = start_master(postern, tmp_path)
    es = live_stream(m, streams)
    inst, lport, (t1, _) = forwarder(m)
    iid = inst["id"]
    assert_state_everywhere(m, es, iid, "connected", "serving 2 target(s)")
    dial_through(lport)
    h = assert_state_everywhere(m, es, iid, "degraded", "every target down (2 of 2)")
    assert m.instance(iid)["status"] == "running"
    # A target comes back: the next user gets through, and the state follows.
    backends(echo_handler, port=t1, name="t1")
    wait_until(lambda: _echo_once(lport), 10, interval=0.2, what="a user through the forwarder")
    assert_state_everywhere(m, es, iid, "connected", "1 of 2 targets down")
    assert h["since"] <= health(m, iid)["since"]


def _echo_once(port):
    try:
        with connect(port) as s:
            s.settimeout(3)
            s.sendall(b"ping")
            return s.recv(4) == b"ping"
    except OSError:
        return False


def test_agent_whose_probe_fails_is_degraded(postern, tmp_path, streams):
    m = start_master(postern, tmp_path)
    es = live_stream(m, streams)
    agent = hub_and_agent(m, tmp_path)
    h = assert_state_everywhere(m, es, agent["id"], "degraded", "probe failed")
    assert "offline" in h["reason"], h


def test_dashboard_shows_each_state(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    key = "k3y-" + os.urandom(6).hex()
    _, good, _ = tunnel_pair(m, key, key, echo_backend.port)
    _, bad, _ = tunnel_pair(m, "right-" + os.urandom(6).hex(), "wrong-" + os.urandom(6).hex(),
                            echo_backend.port)
    fwd, lport, _ = forwarder(m)
    dial_through(lport)
    agent = hub_and_agent(m, tmp_path)
    expect = [
        {"id": good["id"], "state": "connected", "reason": "connected to"},
        {"id": bad["id"], "state": "error", "reason": "wrong key"},
        {"id": fwd["id"], "state": "degraded", "reason": "every target down"},
        {"id": agent["id"], "state": "degraded", "reason": "probe failed"},
    ]
    for e in expect:
        wait_health(m, e["id"], e["state"], e["reason"])
    out = page_check(m, "states", expect)
    assert "page_check: ok: states: 4 checks" in out, out
