"""Nodes and the manager (docs/master.md "Nodes"): a master's node side (PUT
/node/config, GET /node/stats) and the manager side (/nodes, /users: pushes,
pulls, quotas, health), with curl as the SOCKS5 client of the entrances."""
import json
import os

from conftest import LOOPBACK, free_port, wait_until
from master_util import start_master
from proxy_util import curl_through, www  # noqa: F401  (fixture)


def entrance_conf(version, port, users, by="m", extra=None):
    body = {"version": version, "updated_at": "2026-12-06T10:00:00Z", "updated_by": by,
            "entrances": [{"name": "socks", "url": f"proxy://{LOOPBACK}:{port}?allow=127.0.0.0/8"}],
            "users": users}
    body.update(extra or {})
    return body


def socks_get(port, user, pw, wport, path="small.bin"):
    return curl_through("--socks5-hostname", f"{user}:{pw}@{LOOPBACK}:{port}",
                        f"http://{LOOPBACK}:{wport}/{path}", timeout=20)


def node_user(m, name):
    st = m.ok("GET", "/node/stats")
    return next((u for u in st["users"] if u["name"] == name), None)


def test_node_config_applied_and_counted(postern, tmp_path, www):
    wport, _, small = www
    m = start_master(postern, tmp_path)
    eport = free_port()
    users = [{"name": "alice", "password": "pw-a"}, {"name": "bob", "password": "pw-b"}]
    r = m.ok("PUT", "/node/config", entrance_conf(1, eport, users))
    assert r["version"] == 1 and r["created"] == ["entrance:socks"], r
    # the entrance is an instance of the node, its users in a file next to the database
    inst = [i for i in m.ok("GET", "/instances") if i["meta"]["tags"].get("postern-node")]
    assert len(inst) == 1 and inst[0]["type"] == "proxy", inst
    ufile = os.path.join(os.path.dirname(m.db), "node-users.json")
    assert oct(os.stat(ufile).st_mode & 0o777) == "0o600"
    assert "users=" + ufile in inst[0]["url"]
    wait_until(lambda: socks_get(eport, "alice", "pw-a", wport).stdout == small, timeout=10,
               what="a transfer through the node's entrance")
    wait_until(lambda: (node_user(m, "alice") or {}).get("down", 0) >= len(small), timeout=10,
               what="alice's counters in /node/stats")
    st = m.ok("GET", "/node/stats")
    assert st["version"] == 1 and st["updated_by"] == "m" and len(st["boot"]) == 16, st
    assert st["entrances"][0]["name"] == "socks" and st["entrances"][0]["tcptx"] >= len(small)
    # the same state again: nothing touched; bob disabled: the entrance reloads, pid kept
    pid = inst[0]["pid"]
    r = m.ok("PUT", "/node/config", entrance_conf(2, eport, users))
    assert (r["created"], r["changed"], r["removed"], r["unchanged"]) == ([], [], [], 1), r
    users[1]["enabled"] = False
    r = m.ok("PUT", "/node/config", entrance_conf(3, eport, users))
    assert r["reloaded"] == ["entrance:socks"], r
    assert m.instance(inst[0]["id"])["pid"] == pid
    wait_until(lambda: socks_get(eport, "bob", "pw-b", wport).returncode != 0, timeout=10,
               what="bob refused once disabled")
    assert socks_get(eport, "alice", "pw-a", wport).stdout == small
    # an older version from the same manager is refused; the version stays
    st_, v, _ = m.request("PUT", "/node/config", entrance_conf(2, eport, users))
    assert st_ == 409 and v["field"] == "version" and v["version"] == 3, v
    # every malformed body names its field; nothing changes
    bad = [({"version": 4, "users": [{"name": "x", "password": "p", "rate": "fast"}]},
            "users[0].rate"),
           ({"version": 4, "entrances": [{"name": "e", "url": "proxy://:1?users=/etc/x"}]},
            "entrances[0].url"),
           ({"version": 4, "tunnels": [{"name": "t", "url": "nope://"}]}, "tunnels[0].url"),
           ({"version": "4"}, "version"), ({"version": 4, "more": 1}, "more")]
    for body, field in bad:
        st_, v, _ = m.request("PUT", "/node/config", body)
        assert st_ == 400 and v["field"] == field and v["error"].startswith(field + ":"), (body, v)
        assert "pw-" not in json.dumps(v)
    assert m.ok("GET", "/node/config")["version"] == 3
    # no entrances: the node's instance is removed, other instances are left alone
    other = m.create(f"client://{LOOPBACK}:{free_port()}/{LOOPBACK}:{wport}?mode=1")
    r = m.ok("PUT", "/node/config", {"version": 5, "updated_by": "m", "users": users})
    assert r["removed"] == ["entrance:socks"], r
    ids = [i["id"] for i in m.ok("GET", "/instances")]
    assert ids == [other["id"]], ids
    # a wrong token is refused before the body is read
    st_, _, _ = m.request("PUT", "/node/config", entrance_conf(9, eport, users), key="0" * 64)
    assert st_ == 401
