"""The master shows the cluster (docs/master.md "Cluster"): GET /cluster puts together
what the master's hub instances report (their HUB_STATE lines' cluster object): every
live hub with its heartbeat's age, the agents and routes of the hubs the master runs, and
the routes of the others as its hubs see them.

Two real hubs run by a master and a third started here, all on one Redis (a redis-server
of the test's own on loopback); an agent run by the master on hub-a, one started here on
hub-c. When hub-c is killed, it leaves the view with its heartbeat."""
import json

from cluster_util import cluster_hub, redis  # noqa: F401
from conftest import LOOPBACK, echo_handler, free_port, wait_until
from hub_util import Route, account, hubstack, port_block  # noqa: F401
from master_util import start_master


def wait_view(m, pred, what, timeout=20):
    last = {}

    def check():
        st, v, _ = m.request("GET", "/cluster")
        assert st == 200, (st, v)
        last["v"] = v
        return pred(v)
    try:
        wait_until(check, timeout, interval=0.2, what=what)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}; last: "
                             f"{json.dumps(last.get('v'))[:3000]}") from None
    return last["v"]


def by_id(view):
    return {h["id"]: h for h in view["hubs"]}


def test_the_master_shows_the_cluster(postern, tmp_path, redis, hubstack):
    base = port_block(4)
    alice = account("alice")
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({"accounts": [alice]}))
    m = start_master(postern, tmp_path, env={"POSTERN_CLUSTER_TTL": "1500ms"})
    st, v, _ = m.request("GET", "/cluster")
    assert st == 200 and v == {"hubs": [], "instances": 0, "updated": None}, (st, v)

    hub_ports = {}
    inst = {}
    for n, hid in enumerate(("hub-a", "hub-b")):
        hub_ports[hid] = free_port()
        inst[hid] = m.create(f"hub://{LOOPBACK}:{hub_ports[hid]}?accounts={accounts}"
                             f"&ports={base}-{base + 3}&public=127.0.1.{11 + n}"
                             f"&cluster={redis.url()}&id={hid}")["id"]
    echo = hubstack.tcp(echo_handler, name="echo")
    m.create(f"agent://{alice['token']}@{LOOPBACK}:{hub_ports['hub-a']}"
             f"?tcp={LOOPBACK}:{echo.port},port={base}")
    c = cluster_hub(hubstack, [alice], redis, "hub-c", http=False, ports=(base, base + 3))
    hubstack.agent(c, alice["token"], [Route("tcp", echo.port, port=base + 1)])

    def complete(v):
        h = by_id(v)
        return (set(h) == {"hub-a", "hub-b", "hub-c"} and all(x["live"] for x in h.values())
                and [r["route"] for r in h["hub-a"]["routes"]] == [f"tcp:{base}"]
                and [r["route"] for r in h["hub-c"]["routes"]] == [f"tcp:{base + 1}"])
    v = wait_view(m, complete, "the three hubs and their routes")
    assert v["instances"] == 2 and v["updated"], v
    h = by_id(v)
    a, b, c3 = h["hub-a"], h["hub-b"], h["hub-c"]
    # the hubs the master runs: their instance, Redis as they see it, their agents
    assert (a["instance"], b["instance"]) == (inst["hub-a"], inst["hub-b"]), v
    assert a["redis"] == "up" and b["redis"] == "up", v
    assert [x["account"] for x in a["agents"]] == ["alice"] and b["agents"] == [], v
    assert a["routes"] == [{"route": f"tcp:{base}", "account": "alice", "held": False}], a
    # a hub it does not run: known from its hubs' views (no instance, agents unknown)
    assert c3["instance"] is None and c3["agents"] is None and c3["redis"] is None, c3
    assert c3["routes"] == [{"route": f"tcp:{base + 1}", "account": "alice", "held": False}], c3
    assert sorted(c3["seen_by"]) == ["hub-a", "hub-b"], c3
    for x in (a, b, c3):
        assert isinstance(x["age_ms"], int) and 0 <= x["age_ms"] <= 1500, x
    # hub-a and hub-b were given no peer= (they carry no user), hub-c one
    assert a["peer"] == b["peer"] == "-" and c3["peer"].startswith("127.0.0.1:"), v

    # hub-c dies: its heartbeat ends, it and its route leave the view
    c.kill()
    wait_view(m, lambda v: set(by_id(v)) == {"hub-a", "hub-b"}, "hub-c gone from the view")

    st, err, hdr = m.request("POST", "/cluster", body={})
    assert st == 405 and hdr.get("Allow") == "GET", (st, err, hdr)
    st, err, _ = m.request("GET", "/cluster", key=None)
    assert st == 401, (st, err)
    rc, _ = m.p.stop(timeout=10)
    assert rc == 0
