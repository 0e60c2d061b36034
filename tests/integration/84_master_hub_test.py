"""master:// and hub instances: GET /instances/{id}/hub, `hub` events, the postern_hub_*
metrics (docs/master.md "Hub state", docs/hub.md §6).

1. A stand-in hub (POSTERN_INSTANCE_EXE runs a script for hub:// URLs) prints HUB_STATE
   lines the real hub would not: one of nearly 1 MiB, one over 1 MiB, bad ones. The master
   keeps the good ones (normalised), never logs them, notes the bad ones, clears the state
   when the process ends; non-hubs and unknown ids get 404.
2. A real hub run by the master and a real agent (started here, not by the master): the
   agent's client, its tcp and http routes and its account's byte counters appear in the
   API and in /metrics as traffic goes through.

Each test starts its own master (POSTERN_REPORT_INTERVAL=200ms, passed on to its
instances) on a fresh database in tmp_path."""
import json
import os
import socket
import sys

import pytest

from conftest import (LOOPBACK, POSTERN_BIN, connect, free_port, recv_all, recv_exact,
                      wait_port, wait_until)
from master_util import EventStream, start_master, wait_instance

MIB = 1024 * 1024
TOKEN = "a3f9c1e07d5b48a2b9e4f6c8d0a1b2c3"


@pytest.fixture
def streams():
    made = []
    yield made
    for s in made:
        s.stop()


def hub_url(hub_port, accounts, http_port=None, ports=None):
    url = f"hub://{LOOPBACK}:{hub_port}?accounts={accounts}"
    if http_port:
        url += f"&http={LOOPBACK}:{http_port}"
    if ports:
        url += f"&ports={ports[0]}-{ports[1]}"
    return url


def client_url(port, target):
    return f"client://{LOOPBACK}:{port}/{LOOPBACK}:{target}?mode=1"


def write_accounts(tmp_path, accounts=None):
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"accounts": accounts or [{"name": "alice", "token": TOKEN}]}))
    return path


def get_hub(m, iid):
    st, v, _ = m.request("GET", f"/instances/{iid}/hub")
    assert st == 200, (st, v)
    assert set(v) == {"clients", "routes", "accounts", "truncated", "updated"}, v
    return v


def wait_hub(m, iid, pred, timeout=15, what="hub state"):
    last = {}

    def check():
        last["v"] = get_hub(m, iid)
        return pred(last["v"])
    try:
        wait_until(check, timeout, interval=0.1, what=what)
    except AssertionError:
        v = last.get("v")
        raise AssertionError(f"timed out waiting for {what}; last: {json.dumps(v)[:2000]}") from None
    return last["v"]


def metric_families(m):
    from prometheus_client import parser     # python3-prometheus-client (scripts/deps.sh)
    st, text, h = m.request("GET", "/metrics")
    assert st == 200 and h["Content-Type"].startswith("text/plain; version=0.0.4"), (st, h)
    return {f.name: f for f in parser.text_string_to_metric_families(text)}, text


def samples(fams, family, iid, sname=None):
    """{labels other than id/alias (as a sorted tuple): value} of <iid>'s samples."""
    out = {}
    for s in fams[family].samples:
        if s.name == (sname or family) and s.labels.get("id") == iid:
            out[tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("id", "alias")))] = s.value
    return out


# --------------------------------------------------------------------------------------
# 1. a stand-in hub
# --------------------------------------------------------------------------------------

# Prints its lines, then on each appearance of the file <dir>/next prints the state in it
# (and removes the file); exits on SIGTERM.
STANDIN = r'''
import json, os, signal, sys, time
d = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
out = sys.stdout
def put(line):
    out.write(line + "\n")
out.write("2026-01-01 10:00:00.000 INFO stand-in hub starting\n")
small = {"clients": [{"id": "c1", "account": "alice", "peer": "127.0.0.1:5", "since": 1,
                      "routes": 1, "pool": 2, "ping_ms": 3, "extra": {"x": 1}}],
         "routes": [{"type": "tcp", "key": "10022", "account": "alice", "group": "",
                     "members": 1, "online": 1, "conns": 0}],
         "accounts": [{"name": "alice", "clients": 1, "routes": 1, "conns": 0, "requests": 0,
                       "rx": 1, "tx": 2, "refused": {"rate": 0, "conns": 0, "routes": 0}}]}
put("2026-01-01 10:00:00.100 EVENT HUB_STATE|" + json.dumps(small, separators=(",", ":")))
over = dict(small, pad="x" * (1024 * 1024))
put("2026-01-01 10:00:00.200 EVENT HUB_STATE|" + json.dumps(over, separators=(",", ":")))
put("HUB_STATE|{not json")
put('2026-01-01 10:00:00.300 EVENT HUB_STATE|{"clients":[],"routes":{},"accounts":[]}')
routes = [{"type": "http", "key": "r%05d.%s.hub.test" % (i, "y" * 40), "account": "alice",
           "group": "", "members": 1, "online": 1, "conns": 0} for i in range(7000)]
big = {"clients": small["clients"], "routes": routes, "accounts": small["accounts"],
       "truncated": True}
text = json.dumps(big, separators=(",", ":"))
assert 800 * 1024 < len(text) <= 1024 * 1024, len(text)
put("HUB_STATE|" + text)
put("2026-01-01 10:00:00.400 INFO an ordinary line after the states")
out.flush()
while True:
    p = os.path.join(d, "next")
    if os.path.exists(p):
        with open(p) as f:
            state = f.read()
        os.unlink(p)
        put("2026-01-01 10:00:01.000 EVENT HUB_STATE|" + state)
        put("2026-01-01 10:00:01.000 INFO state printed")
        out.flush()
    time.sleep(0.05)
'''


def test_hub_state_lines_from_a_stand_in(postern, tmp_path, streams):
    script = tmp_path / "standin.py"
    script.write_text(STANDIN)
    wrapper = tmp_path / "instance.sh"
    wrapper.write_text("#!/bin/sh\ncase \"$POSTERN_URL\" in\nhub://*) exec \"" + sys.executable +
                       "\" \"" + str(script) + "\" \"" + str(tmp_path) + "\";;\nesac\nexec \"" +
                       POSTERN_BIN + "\" \"$@\"\n")
    wrapper.chmod(0o755)
    m = start_master(postern, tmp_path, env={"POSTERN_INSTANCE_EXE": str(wrapper)})
    es = EventStream(m)
    streams.append(es)
    accounts = write_accounts(tmp_path)
    hub = m.create(hub_url(free_port(), accounts, ports=(10000, 10100)), alias="hub")
    assert hub["type"] == "hub", hub
    iid = hub["id"]

    # The big state (the last one printed) is read whole; the bad ones are not.
    v = wait_hub(m, iid, lambda v: len(v["routes"]) == 7000, what="the ~900 KiB state")
    assert v["truncated"] is True and v["updated"] is not None, {k: v[k] for k in ("truncated", "updated")}
    assert v["clients"] == [{"id": "c1", "account": "alice", "peer": "127.0.0.1:5", "since": 1,
                             "routes": 1, "pool": 2, "ping_ms": 3}], v["clients"]
    assert v["routes"][6999]["key"].startswith("r06999."), v["routes"][6999]
    assert v["accounts"][0]["refused"] == {"rate": 0, "conns": 0, "routes": 0}
    ev = es.wait_event(lambda e: e["type"] == "hub" and e["id"] == iid and e["routes"] == 7000,
                       what="a hub event for the big state")
    assert ev["clients"] == 1 and ev["accounts"] == 1 and ev["updated"], ev

    # Never logged: not in GET /logs, not in `log` events, not in the error reason.
    def logs():
        return m.ok("GET", f"/instances/{iid}/logs")["logs"]
    wait_until(lambda: any("an ordinary line after the states" in l for l in logs()), 10,
               what="the ordinary line in the logs")
    lines = logs()
    assert not any("HUB_STATE|" in l for l in lines), [l[:120] for l in lines]
    assert any("stand-in hub starting" in l for l in lines), lines
    notes = [l for l in lines if l.startswith("postern master: ")]
    assert len(notes) == 3, notes
    assert notes[0] == "postern master: a HUB_STATE line over 1 MiB was dropped", notes
    assert notes[1].startswith("postern master: a HUB_STATE line was ignored: not JSON"), notes
    assert notes[2] == "postern master: a HUB_STATE line was ignored: routes: expected an array", notes
    es.wait_event(lambda e: e["type"] == "log" and "an ordinary line after" in e["logs"],
                  what="the ordinary line as a log event")
    assert not any("HUB_STATE|" in l for l in es.lines), "a HUB_STATE line reached the event stream"
    assert max(len(l) for l in es.lines) < 64 * 1024, "an event carried a whole state"

    # A new state replaces it; a port key given as a number reads as a string.
    state = {"clients": [{"id": "a"}, {"id": "b", "account": "bob"}],
             "routes": [{"type": "tcp", "key": 10022, "account": "bob"},
                        {"type": "udp", "key": "10053", "account": "bob"},
                        {"type": "https", "key": "s.hub.test", "account": "bob", "members": 2,
                         "online": 1}],
             "accounts": [{"name": "bob", "conns": 3, "requests": 7, "rx": 1000, "tx": 2000,
                           "refused": {"rate": 4, "hosts": 1}},
                          {"name": "carol"}]}
    (tmp_path / "next.tmp").write_text(json.dumps(state))
    os.rename(tmp_path / "next.tmp", tmp_path / "next")
    v = wait_hub(m, iid, lambda v: len(v["clients"]) == 2, what="the replaced state")
    assert [r["key"] for r in v["routes"]] == ["10022", "10053", "s.hub.test"], v["routes"]
    assert v["truncated"] is False
    assert v["routes"][0] == {"type": "tcp", "key": "10022", "account": "bob", "group": "",
                              "members": 0, "online": 0, "conns": 0}, v["routes"][0]
    assert v["accounts"][0]["refused"] == {"rate": 4, "conns": 0, "routes": 0, "hosts": 1}

    # Metrics of that state, as Prometheus' own parser reads them.
    fams, text = metric_families(m)
    assert samples(fams, "postern_hub_clients", iid) == {(): 2}
    assert samples(fams, "postern_hub_routes", iid) == {
        (("type", "tcp"),): 1, (("type", "udp"),): 1, (("type", "http"),): 0, (("type", "https"),): 1}
    assert fams["postern_hub_account_rx_bytes"].type == "counter"
    assert samples(fams, "postern_hub_account_rx_bytes", iid, "postern_hub_account_rx_bytes_total") == {
        (("account", "bob"),): 1000, (("account", "carol"),): 0}
    assert samples(fams, "postern_hub_account_tx_bytes", iid, "postern_hub_account_tx_bytes_total") == {
        (("account", "bob"),): 2000, (("account", "carol"),): 0}
    assert fams["postern_hub_account_connections"].type == "gauge"
    assert samples(fams, "postern_hub_account_connections", iid)[(("account", "bob"),)] == 3
    assert samples(fams, "postern_hub_account_requests", iid,
                   "postern_hub_account_requests_total")[(("account", "bob"),)] == 7
    refused = samples(fams, "postern_hub_account_refused", iid, "postern_hub_account_refused_total")
    assert refused[(("account", "bob"), ("reason", "rate"))] == 4
    assert refused[(("account", "bob"), ("reason", "hosts"))] == 1
    assert refused[(("account", "carol"), ("reason", "conns"))] == 0
    for name in ("postern_hub_clients", "postern_hub_routes", "postern_hub_account_refused_total"):
        assert text.count(f"# TYPE {name} ") == 1, name

    # Not a hub, or no such instance: 404 naming the id.
    other = m.create(client_url(free_port(), free_port()))
    for path in (f"/instances/{other['id']}/hub", "/instances/0badc0de/hub"):
        st, err, _ = m.request("GET", path)
        assert st == 404 and err.get("field") == "id" and err["error"].startswith("id: "), (path, st, err)
    st, err, h = m.request("POST", f"/instances/{iid}/hub", body={})
    assert st == 405 and h.get("Allow") == "GET", (st, err, h)
    fams, _ = metric_families(m)
    assert samples(fams, "postern_hub_clients", other["id"]) == {}

    # The process ends: the state is gone (not shown stale), and a hub event says so.
    m.ok("PATCH", f"/instances/{iid}", {"action": "stop"})
    wait_instance(m, iid, lambda i: i["pid"] == 0, what="the stand-in stopped")
    v = get_hub(m, iid)
    assert v == {"clients": [], "routes": [], "accounts": [], "truncated": False, "updated": None}, v
    es.wait_event(lambda e: e["type"] == "hub" and e["id"] == iid and e["updated"] is None
                  and e["clients"] == 0, what="a hub event for the cleared state")
    fams, _ = metric_families(m)
    assert samples(fams, "postern_hub_clients", iid) == {(): 0}
    assert samples(fams, "postern_hub_account_rx_bytes", iid, "postern_hub_account_rx_bytes_total") == {}

    # Started again: it reports again.
    m.ok("PATCH", f"/instances/{iid}", {"action": "start"})
    wait_hub(m, iid, lambda v: len(v["routes"]) == 7000, what="the state after a restart")
    m.ok("DELETE", f"/instances/{iid}", status=204)
    assert m.request("GET", f"/instances/{iid}/hub")[0] == 404
    rc, _ = m.p.stop(timeout=10)
    assert rc == 0


def test_hub_and_agent_types(postern, tmp_path):
    """hub:// and agent:// URLs are accepted, with their types; a hub without a state yet
    answers empty lists and a null time."""
    wrapper = tmp_path / "instance.sh"
    # Instances that print nothing and wait: no real hub or agent is needed here.
    wrapper.write_text("#!/bin/sh\nexec sleep 600\n")
    wrapper.chmod(0o755)
    m = start_master(postern, tmp_path, env={"POSTERN_INSTANCE_EXE": str(wrapper)})
    accounts = write_accounts(tmp_path)
    hub = m.create(hub_url(free_port(), accounts))
    agent = m.create(f"agent://{TOKEN}@{LOOPBACK}:{free_port()}?tcp={LOOPBACK}:{free_port()}")
    assert (hub["type"], agent["type"]) == ("hub", "agent")
    assert get_hub(m, hub["id"]) == {"clients": [], "routes": [], "accounts": [],
                                     "truncated": False, "updated": None}
    st, err, _ = m.request("GET", f"/instances/{agent['id']}/hub")
    assert st == 404 and err["field"] == "id", (st, err)
    # The types survive a restart of the master (they come from the stored URLs).
    rc, _ = m.p.stop(timeout=10)
    assert rc == 0
    m2 = start_master(postern, tmp_path, db=m.db, expect_key=False,
                      env={"POSTERN_INSTANCE_EXE": str(wrapper)})
    m2.key = m.key
    types = {i["id"]: i["type"] for i in m2.ok("GET", "/instances")}
    assert types == {hub["id"]: "hub", agent["id"]: "agent"}, types
    rc, _ = m2.p.stop(timeout=10)
    assert rc == 0


# --------------------------------------------------------------------------------------
# 2. a real hub and a real agent
# --------------------------------------------------------------------------------------

def http_handler(backend, conn):
    """A tiny HTTP/1.1 service: answer each request head with 'hello', then close."""
    conn.settimeout(10)
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = conn.recv(65536)
        if not b:
            return
        buf += b
    backend.record(buf.split(b"\r\n\r\n")[0].decode("latin-1"))
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                 b"Connection: close\r\n\r\nhello")
    conn.shutdown(socket.SHUT_WR)


def test_real_hub_and_agent(postern, tmp_path, backends, echo_backend, streams):
    web = backends(http_handler, name="web")
    m = start_master(postern, tmp_path)
    es = EventStream(m)
    streams.append(es)
    accounts = write_accounts(tmp_path)
    hub_port, http_port, route_port = free_port(), free_port(), free_port()
    url = hub_url(hub_port, accounts, http_port, ports=(route_port, route_port))
    hub = m.create(url, alias="the-hub")
    iid = hub["id"]
    assert hub["type"] == "hub"
    try:
        wait_port(hub_port, timeout=10)
        wait_port(http_port, timeout=10)
    except AssertionError:
        raise AssertionError(f"the hub does not listen: {m.instance(iid)}; logs: "
                             f"{m.ok('GET', f'/instances/{iid}/logs')['logs'][-20:]}") from None
    # Its first reports: no agent yet.
    v = wait_hub(m, iid, lambda v: v["updated"] is not None, what="the hub's first report")
    assert v["clients"] == [] and v["routes"] == [], v

    agent = postern.run([f"agent://{TOKEN}@{LOOPBACK}:{hub_port}"
                         f"?tcp={LOOPBACK}:{echo_backend.port},port={route_port}"
                         f"&http={LOOPBACK}:{web.port},host=app.test"],
                        env={"POSTERN_REPORT_INTERVAL": "200ms"})
    try:
        v = wait_hub(m, iid, lambda v: len(v["clients"]) == 1 and len(v["routes"]) == 2,
                     what="the agent's client and its two routes")
    except AssertionError as e:
        raise AssertionError(f"{e}\nagent output:\n{agent.output()[-3000:]}") from None
    client = v["clients"][0]
    assert client["account"] == "alice" and client["routes"] == 2, client
    assert client["peer"].startswith(LOOPBACK + ":"), client
    routes = {(r["type"], r["key"]): r for r in v["routes"]}
    assert set(routes) == {("tcp", str(route_port)), ("http", "app.test")}, routes
    for r in routes.values():
        assert r["account"] == "alice" and r["members"] == 1 and r["online"] == 1, r
    base = {a["name"]: a for a in v["accounts"]}["alice"]
    assert base["clients"] == 1 and base["routes"] == 2, base

    # Bytes through the tcp route (echoed) and one request through the http route.
    wait_port(route_port, timeout=10)
    data = os.urandom(256 * 1024)
    with connect(route_port) as s:
        s.sendall(data)
        assert recv_exact(s, len(data)) == data
    with connect(http_port) as s:
        s.sendall(b"GET /x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        reply = recv_all(s)
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello"), reply[:200]
    web.wait_record(lambda r: r.startswith("GET /x HTTP/1.1"), timeout=5)

    want = len(data)
    v = wait_hub(m, iid, lambda v: any(a["name"] == "alice" and a["rx"] >= base["rx"] + want
                                       and a["tx"] >= base["tx"] + want and a["requests"] >= 1
                                       for a in v["accounts"]),
                 what="alice's rx/tx counters to grow by the bytes pushed")
    alice = {a["name"]: a for a in v["accounts"]}["alice"]
    es.wait_event(lambda e: e["type"] == "hub" and e["id"] == iid and e["clients"] == 1
                  and e["routes"] == 2, what="a hub event with the agent")

    fams, _ = metric_families(m)
    assert samples(fams, "postern_hub_clients", iid) == {(): 1}
    assert samples(fams, "postern_hub_routes", iid) == {
        (("type", "tcp"),): 1, (("type", "udp"),): 0, (("type", "http"),): 1, (("type", "https"),): 0}
    rx = samples(fams, "postern_hub_account_rx_bytes", iid, "postern_hub_account_rx_bytes_total")
    tx = samples(fams, "postern_hub_account_tx_bytes", iid, "postern_hub_account_tx_bytes_total")
    assert rx[(("account", "alice"),)] >= alice["rx"] >= want, rx
    assert tx[(("account", "alice"),)] >= alice["tx"] >= want, tx
    req = samples(fams, "postern_hub_account_requests", iid, "postern_hub_account_requests_total")
    assert req[(("account", "alice"),)] >= 1, req
    assert (("account", "alice"),) in samples(fams, "postern_hub_account_connections", iid)
    assert any(k[0] == ("account", "alice")
               for k in samples(fams, "postern_hub_account_refused", iid,
                                "postern_hub_account_refused_total"))
    # The hub's state lines never reach its log.
    lines = m.ok("GET", f"/instances/{iid}/logs")["logs"]
    assert not any("HUB_STATE|" in l for l in lines), [l[:120] for l in lines if "HUB_STATE" in l]

    # The agent goes away: so does its client; its routes stay, held for its account
    # (POSTERN_HUB_HOLD, docs/hub.md §1), with no member left.
    agent.stop(timeout=10)
    wait_hub(m, iid, lambda v: v["clients"] == [] and len(v["routes"]) == 2 and
             all(r["members"] == 0 and r["online"] == 0 for r in v["routes"]),
             what="the client gone and its routes held with no member after the agent stopped")
    # The hub stops: its state is cleared.
    m.ok("PATCH", f"/instances/{iid}", {"action": "stop"})
    wait_instance(m, iid, lambda i: i["pid"] == 0, what="the hub stopped")
    assert get_hub(m, iid)["updated"] is None
    rc, _ = m.p.stop(timeout=10)
    assert rc == 0
