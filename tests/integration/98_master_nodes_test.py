"""Nodes and the manager (docs/master.md "Nodes"): a master's node side (PUT
/node/config, GET /node/stats) and the manager side (/nodes, /users: pushes,
pulls, quotas, health), with curl as the SOCKS5 client of the entrances."""
import json
import os
import subprocess

from conftest import LOOPBACK, free_port, recv_all, wait_until
from master_util import EventStream, page_check, start_master, streams  # noqa: F401  (fixture)
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
    ufile = m.db + ".users.json"
    assert oct(os.stat(ufile).st_mode & 0o777) == "0o600"
    assert "users=" + ufile in inst[0]["url"]
    wait_until(lambda: socks_get(eport, "alice", "pw-a", wport).stdout == small, timeout=10,
               what="a transfer through the node's entrance")
    # PROXY_USER lines come just before the CHECK_POINT line: both are waited for
    st = wait_until(lambda: (lambda s: (next((u for u in s["users"] if u["name"] == "alice"), {})
                                        .get("down", 0) >= len(small) and
                                        s["entrances"][0]["tcptx"] >= len(small) and s))(
        m.ok("GET", "/node/stats")), timeout=10, what="alice's and the entrance's counters")
    assert st["version"] == 1 and st["updated_by"] == "m" and len(st["boot"]) == 16, st
    assert st["entrances"][0]["name"] == "socks", st
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


# --------------------------------------------------------------------------------------
# the manager: three masters on loopback, a manager and two nodes
# --------------------------------------------------------------------------------------

PULL, SYNC, DOWN = 0.5, 2.0, 3.0        # seconds: POSTERN_NODE_PULL, _SYNC, _DOWN
MANAGER_ENV = {"POSTERN_NODE_PULL": "500ms", "POSTERN_NODE_SYNC": "2s", "POSTERN_NODE_DOWN": "3s",
               "POSTERN_NODE_DEADLINE": "2s"}


class Fleet:
    """A manager and <n> node masters, each node with one entrance on a fresh port."""

    def __init__(self, postern, tmp_path, n=2, env=None):
        self.postern = postern
        self.tmp = tmp_path
        self.nodes = [start_master(postern, tmp_path, name=f"node{i}") for i in range(n)]
        self.mgr = start_master(postern, tmp_path, name="manager", env=dict(MANAGER_ENV, **(env or {})))
        self.eports = [free_port() for _ in range(n)]
        self.ids = []

    def add_nodes(self):
        for node, eport in zip(self.nodes, self.eports):
            n = self.mgr.ok("POST", "/nodes", {
                "address": LOOPBACK, "port": node.port, "token": node.key, "name": f"n{node.port}",
                "entrances": [{"name": "socks", "url": f"proxy://{LOOPBACK}:{eport}?allow=127.0.0.0/8"}]},
                status=201)
            assert "token" not in n, n
            self.ids.append(n["id"])
        return self.ids

    def node(self, i):
        return self.mgr.ok("GET", f"/nodes/{self.ids[i]}")

    def user(self, name):
        return self.mgr.ok("GET", f"/users/{name}")

    def caught_up(self, i):
        n = self.node(i)
        return n if n["push_status"] == "available" and n["acked"] == n["version"] else None

    def wait_caught_up(self, timeout=10):
        for i in range(len(self.ids)):
            wait_until(lambda: self.caught_up(i), timeout, what=f"node {i} acked the version")

    def restart_node(self, i):
        """Start node <i> again on its port and database (after a kill -9)."""
        old = self.nodes[i]
        url = f"master://{LOOPBACK}:{old.port}?db={old.db}"
        p = self.postern.run([url], {"POSTERN_REPORT_INTERVAL": "200ms"})
        wait_until(lambda: port_open(old.port), 10, what="the node's API port")
        old.p = p
        return old


def port_open(port):
    import socket
    try:
        socket.create_connection((LOOPBACK, port), timeout=1).close()
        return True
    except OSError:
        return False


def node_total(m, name):
    u = node_user(m, name)
    return u["up"] + u["down"] if u else 0


def test_manager_counts_usage_across_nodes_and_restarts(postern, tmp_path, www, streams):
    wport, _, small = www
    f = Fleet(postern, tmp_path)
    ev = EventStream(f.mgr)
    streams.append(ev)
    ev.wait_line("retry: 3000")
    f.mgr.ok("POST", "/users", {"name": "alice", "password": "pw-a"}, status=201)
    f.add_nodes()
    f.wait_caught_up()
    ev.wait_event(lambda e: e.get("type") == "create" and e.get("user", {}).get("name") == "alice",
                  what="the user's create event")
    ev.wait_event(lambda e: e.get("type") == "update" and
                  e.get("node", {}).get("push_status") == "available", what="a node's update event")
    for eport in f.eports:
        wait_until(lambda: socks_get(eport, "alice", "pw-a", wport).stdout == small, 10,
                   what="a transfer through each node's entrance")
    # both nodes' counters reach the manager (pulled every 0.5 s): the exact sum
    totals = wait_until(lambda: all(node_total(n, "alice") > len(small) for n in f.nodes) and
                        [node_total(n, "alice") for n in f.nodes], 10, what="the nodes' counters")
    wait_until(lambda: f.user("alice")["usage"] == sum(totals), 4 * PULL + 5,
               what=f"the manager's usage {sum(totals)}")
    assert [f.node(i)["usage"] for i in range(2)] == totals
    # kill -9 node 0 and start it again: its counters start over from 0 (a new boot id),
    # nothing is counted twice
    before = f.user("alice")["usage"]
    f.nodes[0].p.kill()
    f.nodes[0].p.proc.wait(10)
    f.restart_node(0)
    wait_until(lambda: socks_get(f.eports[0], "alice", "pw-a", wport).stdout == small, 15,
               what="the entrance back after the node's restart")
    again = wait_until(lambda: node_total(f.nodes[0], "alice") > len(small) and
                       node_total(f.nodes[0], "alice"), 10, what="the restarted node's counters")
    assert again < totals[0] + len(small), "the node did not start over"
    wait_until(lambda: f.user("alice")["usage"] == before + again, 4 * PULL + 5,
               what=f"usage {before} + {again}")
    assert f.node(0)["usage"] == totals[0] + again
    ev.wait_event(lambda e: e.get("user", {}).get("usage") == before + again,
                  what="the user's new usage announced")
    st, v, _ = f.mgr.request("GET", "/users/nobody")
    assert st == 404 and v["field"] == "name"


def test_quota_refused_on_both_nodes_and_raised(postern, tmp_path, www):
    wport, root, small = www
    (root / "big.bin").write_bytes(os.urandom(4 << 20))     # 32 s at 1 Mbit/s
    f = Fleet(postern, tmp_path)
    f.mgr.ok("POST", "/users", {"name": "q", "password": "pw-q", "quota": 2 * len(small)},
             status=201)
    f.mgr.ok("POST", "/users", {"name": "r", "password": "pw-r", "quota": 200 << 10, "rate": 1},
             status=201)
    f.add_nodes()
    f.wait_caught_up()
    # a running transfer past its quota ends: r's 4 MiB at 1 Mbit/s would take 32 s
    env = {"PATH": "/usr/bin:/bin"}
    run = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", "--max-time", "60",
                            "--socks5-hostname", f"r:pw-r@{LOOPBACK}:{f.eports[0]}",
                            f"http://{LOOPBACK}:{wport}/big.bin"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, _ = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(5)
    assert run.returncode != 0 and int(out or 0) < (4 << 20), (run.returncode, out)
    assert not f.user("r")["active"]
    for eport in f.eports:          # two transfers of 300 KiB: past the quota of 600 KiB
        wait_until(lambda: socks_get(eport, "q", "pw-q", wport).stdout == small, 10,
                   what="a transfer within the quota")
    u = wait_until(lambda: not f.user("q")["active"] and f.user("q"), 4 * PULL + 5,
                   what="q past its quota")
    assert u["usage"] > u["quota"] and u["enabled"] is True, u
    # refused on both nodes within a sync interval (the push follows the pull at once)
    for eport in f.eports:
        wait_until(lambda: socks_get(eport, "q", "pw-q", wport).returncode != 0, SYNC + 5,
                   what="q refused on the node")
    # the quota raised: served again on both
    f.mgr.ok("PATCH", "/users/q", {"quota": 100 * len(small)})
    for eport in f.eports:
        wait_until(lambda: socks_get(eport, "q", "pw-q", wport).stdout == small, SYNC + 5,
                   what="q served again")


def test_node_down_then_caught_up(postern, tmp_path):
    f = Fleet(postern, tmp_path)
    f.mgr.ok("POST", "/users", {"name": "d", "password": "pw-d"}, status=201)
    f.add_nodes()
    f.wait_caught_up()
    f.nodes[1].p.kill()
    f.nodes[1].p.proc.wait(10)
    wait_until(lambda: f.node(1)["pull_status"] == "unavailable", DOWN + 5,
               what="the killed node unavailable")
    assert f.node(0)["pull_status"] == "available"
    # a change while it is down: node 0 gets it, node 1 stays behind
    f.mgr.ok("POST", "/users", {"name": "e", "password": "pw-e"}, status=201)
    wait_until(lambda: f.caught_up(0), 10, what="node 0 caught up")
    n1 = f.node(1)
    assert n1["acked"] < n1["version"] and n1["push_status"] == "unavailable", n1
    node = f.restart_node(1)
    # back: pushed again within a sync interval, pulled again
    wait_until(lambda: f.caught_up(1), SYNC + 8, what="the returned node caught up")
    wait_until(lambda: f.node(1)["pull_status"] == "available", 10, what="pulled again")
    assert node.ok("GET", "/node/config")["version"] == f.node(1)["version"]
    ufile = node.db + ".users.json"
    with open(ufile) as fh:
        assert [u["name"] for u in json.load(fh)["users"]] == ["d", "e"]


def test_wrong_token_and_stalled_nodes(postern, tmp_path, backends):
    from harness.backends import recorder_handler, shut_first_handler
    f = Fleet(postern, tmp_path, n=1, env={"POSTERN_NODE_DEADLINE": "5s"})
    wrong = "f" * 64
    silent = backends(recorder_handler, name="silent-node")
    garbage = backends(shut_first_handler(b"garbage\r\n\r\n"), name="garbage-node")
    bad = f.mgr.ok("POST", "/nodes", {"address": LOOPBACK, "port": f.nodes[0].port,
                                      "token": wrong}, status=201)
    stalls = [f.mgr.ok("POST", "/nodes", {"address": LOOPBACK, "port": b.port, "token": "t"},
                       status=201) for b in (silent, garbage)]
    f.mgr.ok("POST", "/users", {"name": "s", "password": "pw-s"}, status=201)
    f.add_nodes()
    # the good node is served while the silent one's push still waits for its deadline
    wait_until(lambda: f.caught_up(0), 4, what="the good node caught up")
    assert f.mgr.ok("GET", f"/nodes/{stalls[0]['id']}")["push_status"] == "", \
        "the silent node's push ended before the good node's"
    b = wait_until(lambda: (lambda n: n["push_status"] == "unavailable" and n)(
        f.mgr.ok("GET", f"/nodes/{bad['id']}")), 5, what="the wrong token refused")
    assert "token" in b["push_error"], b
    wait_until(lambda: f.mgr.ok("GET", f"/nodes/{bad['id']}")["pull_status"] == "unavailable", 5,
               what="the wrong token's pull unavailable")
    g = wait_until(lambda: (lambda n: n["push_status"] == "unavailable" and n)(
        f.mgr.ok("GET", f"/nodes/{stalls[1]['id']}")), 8, what="the garbage node unavailable")
    assert g["push_error"], g
    wait_until(lambda: f.mgr.ok("GET", f"/nodes/{stalls[0]['id']}")["push_status"] == "unavailable",
               8, what="the silent node unavailable after its deadline")
    for p in [f.mgr.p] + [n.p for n in f.nodes]:
        assert wrong not in p.output() and f.nodes[0].key not in p.output().replace(
            "API key: " + f.nodes[0].key, ""), "a token in the log"
    # bad bodies name their field; nothing is added
    for body, field in (({"address": "node.example", "port": 1, "token": "t"}, "address"),
                        ({"address": LOOPBACK, "port": 0, "token": "t"}, "port"),
                        ({"address": LOOPBACK, "port": 1}, "token"),
                        ({"address": LOOPBACK, "port": 1, "token": "t",
                          "entrances": [{"name": "x", "url": "proxy://:1?users=f"}]}, "entrances[0].url"),
                        ({"address": LOOPBACK, "port": 1, "token": "t", "x": 1}, "x")):
        st, v, _ = f.mgr.request("POST", "/nodes", body)
        assert st == 400 and v["field"] == field, (body, v)
    for body, field in (({"name": "a b", "password": "p"}, "name"), ({"name": "a"}, "password"),
                        ({"name": "a", "password": "p", "quota": -1}, "quota"),
                        ({"name": "a", "password": "p", "rate": "x"}, "rate")):
        st, v, _ = f.mgr.request("POST", "/users", body)
        assert st == 400 and v["field"] == field, (body, v)
    assert len(f.mgr.ok("GET", "/nodes")) == 4 and len(f.mgr.ok("GET", "/users")) == 1


def test_dashboard_nodes_and_users(postern, tmp_path, www):
    """The dashboard's Nodes and Users (Chromium): a quota bar, a node and a user added
    from the page."""
    wport, _, small = www
    f = Fleet(postern, tmp_path)
    f.mgr.ok("POST", "/users", {"name": "alice", "password": "pw-a", "quota": 10 << 20}, status=201)
    n0 = f.mgr.ok("POST", "/nodes", {"address": LOOPBACK, "port": f.nodes[0].port, "token": f.nodes[0].key,
                                     "entrances": [{"name": "socks", "url": f"proxy://{LOOPBACK}:{f.eports[0]}?allow=127.0.0.0/8"}]},
                  status=201)
    wait_until(lambda: f.mgr.ok("GET", f"/nodes/{n0['id']}")["push_status"] == "available", 10,
               what="node 0 pushed")
    wait_until(lambda: socks_get(f.eports[0], "alice", "pw-a", wport).stdout == small, 10,
               what="a transfer through node 0")
    usage = wait_until(lambda: f.user("alice")["usage"] > len(small) and f.user("alice")["usage"], 10,
                       what="alice's usage")
    wait_until(lambda: f.user("alice")["usage"] == usage and node_total(f.nodes[0], "alice") == usage, 10,
               what="the usage settled")
    page_check(f.mgr, "fleet", {"user": {"name": "alice", "usage": usage, "quota": 10 << 20},
                                "node": {"address": LOOPBACK, "port": f.nodes[1].port, "token": f.nodes[1].key},
                                "add_user": {"name": "bob", "password": "pw-b", "quota_mib": 5,
                                             "group": "gold"}})
    assert f.mgr.ok("GET", "/users/bob")["quota"] == 5 << 20
    assert f.mgr.ok("GET", "/users/bob")["group"] == "gold"
    assert len(f.mgr.ok("GET", "/nodes")) == 2


def cert_sha256(port):
    """The SHA-256 of the certificate served on <port>, as "AB:CD:..."."""
    import hashlib
    import ssl
    der = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((LOOPBACK, port)))
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def test_https_node_pinned_and_refused(postern, tmp_path):
    node = start_master(postern, tmp_path, name="tlsnode", query="tls=1")
    mgr = start_master(postern, tmp_path, name="manager", env=MANAGER_ENV)
    fp = cert_sha256(node.port)
    mgr.ok("POST", "/users", {"name": "t", "password": "pw-t"}, status=201)
    good = mgr.ok("POST", "/nodes", {"address": LOOPBACK, "port": node.port, "token": node.key,
                                     "fingerprint": fp}, status=201)
    assert good["tls"] is True and good["fingerprint"] == fp, good
    wrong = "00" * 32
    bad = mgr.ok("POST", "/nodes", {"address": LOOPBACK, "port": node.port, "token": node.key,
                                    "fingerprint": wrong}, status=201)
    wait_until(lambda: mgr.ok("GET", f"/nodes/{good['id']}")["acked"] >= 1 and
               mgr.ok("GET", f"/nodes/{good['id']}")["push_status"] == "available", 10,
               what="the pinned node pushed over HTTPS")
    b = wait_until(lambda: (lambda n: n["push_status"] == "unavailable" and n)(
        mgr.ok("GET", f"/nodes/{bad['id']}")), 10, what="the wrong fingerprint refused")
    assert "TLS" in b["push_error"], b
    assert node.ok("GET", "/node/config")["version"] == mgr.ok("GET", f"/nodes/{good['id']}")["version"]
    st, v, _ = mgr.request("POST", "/nodes", {"address": LOOPBACK, "port": node.port, "token": "t",
                                              "fingerprint": "xyz" * 22})
    assert st == 400 and v["field"] == "fingerprint", v
    st, v, _ = mgr.request("POST", "/nodes", {"address": LOOPBACK, "port": node.port, "token": "t",
                                              "ca": str(tmp_path / "missing.pem")})
    assert st == 400 and v["field"] == "ca", v


def route_proxy(fake):
    """A handler for `backends`: a plain HTTP proxy that alone knows the way to a node: an
    absolute-URI request for <fake>:<port> goes on to 127.0.0.1:<port> (one request per
    connection); each Proxy-Authorization value is recorded."""
    import re
    import socket

    def handler(backend, c):
        c.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = c.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        m = re.match(rb"(\w+) http://([^/:]+):(\d+)(/\S*) (HTTP/1\.\d)", lines[0])
        if not m or m.group(2).decode() != fake:
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        keep, n = [], 0
        for h in lines[1:]:
            name, _, value = h.partition(b":")
            if name.lower() == b"proxy-authorization":
                backend.record(value.strip().decode())
                continue
            if name.lower() == b"content-length":
                n = int(value)
            keep.append(h)
        while len(rest) < n:
            rest += c.recv(65536)
        with socket.create_connection((LOOPBACK, int(m.group(3))), timeout=10) as up:
            up.sendall(b"%s %s %s\r\n%s\r\n\r\n%s" % (m.group(1), m.group(4), m.group(5),
                                                    b"\r\n".join(keep), rest))
            c.sendall(recv_all(up))
    return handler


def test_push_through_the_fallback_route_is_dirty(postern, tmp_path, backends):
    import base64
    node = start_master(postern, tmp_path, name="fbnode")
    mgr = start_master(postern, tmp_path, name="manager", env=MANAGER_ENV)
    # the node listens on 127.0.0.1 only: 127.0.0.2 is refused, the proxy knows the way
    proxy = backends(route_proxy("127.0.0.2"), name="route-proxy")
    mgr.ok("POST", "/users", {"name": "f", "password": "pw-f"}, status=201)
    n = mgr.ok("POST", "/nodes", {"address": "127.0.0.2", "port": node.port, "token": node.key,
                                  "fallback": f"http://fb:fb-secret@{LOOPBACK}:{proxy.port}"},
               status=201)
    assert n["fallback"] == f"http://{LOOPBACK}:{proxy.port}", n     # no credentials shown
    got = wait_until(lambda: (lambda x: x["push_status"] == "dirty" and x)(
        mgr.ok("GET", f"/nodes/{n['id']}")), 10, what="the push through the fallback route")
    assert got["acked"] == got["version"] and got["push_error"].startswith("direct: "), got
    assert node.ok("GET", "/node/config")["version"] == got["version"]
    # pulls take the same route: `dirty` too, the direct attempt's reason kept
    got = wait_until(lambda: (lambda x: x["pull_status"] == "dirty" and x)(
        mgr.ok("GET", f"/nodes/{n['id']}")), 4 * PULL + 5, what="a pull through the fallback route")
    assert got["pulled_at"] and got["pull_error"].startswith("direct: "), got
    auth = proxy.wait_record(lambda r: r.startswith("Basic "))
    assert base64.b64decode(auth.split()[1]) == b"fb:fb-secret", auth
    assert "fb-secret" not in mgr.p.output()
    # the fallback route gone too: unavailable
    proxy.stop()
    mgr.ok("POST", "/users", {"name": "g", "password": "pw-g"}, status=201)
    wait_until(lambda: mgr.ok("GET", f"/nodes/{n['id']}")["push_status"] == "unavailable", 10,
               what="unavailable once both routes fail")
    wait_until(lambda: mgr.ok("GET", f"/nodes/{n['id']}")["pull_status"] == "unavailable",
               DOWN + 10, what="pull unavailable after the down time without a route")


def test_relay_entrance_over_available_nodes(postern, tmp_path, www):
    """The manager's own entrance relays through the nodes that are available: a node
    killed leaves its via= list, back it rejoins; the entrance's bytes count as usage."""
    wport, _, small = www
    f = Fleet(postern, tmp_path)
    tports = [free_port() for _ in f.nodes]
    f.mgr.ok("POST", "/users", {"name": "alice", "password": "pw-a"}, status=201)
    for node, tport in zip(f.nodes, tports):
        n = f.mgr.ok("POST", "/nodes", {"address": LOOPBACK, "port": node.port, "token": node.key,
                                        "tunnels": [{"name": "relay", "url": f"server://rk@{LOOPBACK}:{tport}/127.0.0.1:9?mode=2&egress=1&allow=127.0.0.0/8"}]},
                       status=201)
        f.ids.append(n["id"])
    f.wait_caught_up()
    rport = free_port()
    st, v, _ = f.mgr.request("PUT", "/relay", {"url": f"proxy://{LOOPBACK}:{rport}?via=x@1.2.3.4:5"})
    assert st == 400 and v["field"] == "url", v
    f.mgr.ok("PUT", "/relay", {"url": f"proxy://{LOOPBACK}:{rport}?allow=127.0.0.0/8"})
    both = {f"rk@{LOOPBACK}:{p}" for p in tports}
    wait_until(lambda: set(filter(None, f.mgr.ok("GET", "/relay")["via"].split(","))) == both,
               PULL * 4 + 5, what="both nodes in the relay's via=")
    wait_until(lambda: socks_get(rport, "alice", "pw-a", wport).stdout == small, 15,
               what="a transfer through the manager's relay entrance")
    wait_until(lambda: f.user("alice")["usage"] >= len(small), PULL * 4 + 5,
               what="the relay entrance's bytes in alice's usage")
    # node 0 killed: unavailable, out of the list; the relay still carries through node 1
    f.nodes[0].p.kill()
    f.nodes[0].p.proc.wait(10)
    wait_until(lambda: f.mgr.ok("GET", "/relay")["via"] == f"rk@{LOOPBACK}:{tports[1]}", DOWN + 8,
               what="node 0 out of the relay")
    wait_until(lambda: socks_get(rport, "alice", "pw-a", wport).stdout == small, 15,
               what="a transfer through node 1 alone")
    # back: rejoins
    f.restart_node(0)
    wait_until(lambda: set(filter(None, f.mgr.ok("GET", "/relay")["via"].split(","))) == both,
               SYNC + 10, what="node 0 back in the relay")


def http_get(port, user, pw, wport):
    return curl_through("-x", f"http://{user}:{pw}@{LOOPBACK}:{port}",
                        f"http://{LOOPBACK}:{wport}/small.bin", timeout=20)


def test_four_paths_per_group(postern, tmp_path, www):
    """The four paths (docs/master.md "Paths"), each for one group of users, through a
    manager and two nodes: curl as a SOCKS5 and an HTTP proxy client on each; a user of
    another group is refused there; each byte counts once, at the entrance it came in."""
    wport, _, small = www
    f = Fleet(postern, tmp_path)
    kinds = {"d": "direct", "r": "relay", "v": "reverse", "m": "remote"}
    for g in kinds:
        f.mgr.ok("POST", "/users", {"name": f"u{g}", "password": f"pw-{g}", "group": f"g{g}"},
                 status=201)
    f.ids = [f.mgr.ok("POST", "/nodes", {"address": LOOPBACK, "port": n.port, "token": n.key},
                      status=201)["id"] for n in f.nodes]
    a, b = f.ids
    ports = {g: free_port() for g in kinds}
    tports = {g: free_port() for g in kinds}
    lo = "127.0.0.0/8"
    paths = [
        {"name": "d", "kind": "direct", "groups": ["gd"], "nodes": [a],
         "url": f"proxy://{LOOPBACK}:{ports['d']}?allow={lo}"},
        {"name": "r", "kind": "relay", "groups": ["gr"], "exits": [b], "port": tports["r"],
         "allow": lo, "url": f"proxy://{LOOPBACK}:{ports['r']}"},
        {"name": "v", "kind": "reverse", "groups": ["gv"], "exits": [a], "port": tports["v"],
         "manager": LOOPBACK, "allow": lo, "url": f"proxy://{LOOPBACK}:{ports['v']}"},
        {"name": "m", "kind": "remote", "groups": ["gm"], "nodes": [a], "exits": [b],
         "port": tports["m"], "allow": lo, "url": f"proxy://{LOOPBACK}:{ports['m']}"},
    ]
    # every malformed path names its member; nothing is stored
    bad = [({"kind": "sideways"}, "paths[1].kind"), ({"exits": None}, "paths[1].exits"),
           ({"nodes": [a]}, "paths[1].nodes"), ({"exits": ["nope"]}, "paths[1].exits"),
           ({"url": f"proxy://{LOOPBACK}:1?via=k@1.2.3.4:5"}, "paths[1].url"),
           ({"groups": ["a b"]}, "paths[1].groups"), ({"allow": "x"}, "paths[1].allow"),
           ({"port": 70000}, "paths[1].port"), ({"manager": LOOPBACK}, "paths[1].manager")]
    for change, field in bad:
        p = {k: v for k, v in dict(paths[1], **change).items() if v is not None}
        st, v, _ = f.mgr.request("PUT", "/paths", {"paths": [paths[0], p]})
        assert st == 400 and v["field"] == field and v["error"].startswith(field + ":"), (p, v)
    st, v, _ = f.mgr.request("POST", "/users", {"name": "x", "password": "p", "group": "a/b"})
    assert st == 400 and v["field"] == "group", v
    assert f.mgr.ok("GET", "/paths") == {"paths": []}
    got = f.mgr.ok("PUT", "/paths", {"paths": paths})
    assert got == {"paths": paths}, got           # the tunnel keys are never served
    f.wait_caught_up()
    for g, port in ports.items():
        wait_until(lambda: socks_get(port, f"u{g}", f"pw-{g}", wport).stdout == small, 30,
                   what=f"a transfer through the {kinds[g]} path (SOCKS5)")
        assert http_get(port, f"u{g}", f"pw-{g}", wport).stdout == small, kinds[g]
        other = "ud" if g != "d" else "ur"
        assert socks_get(port, other, f"pw-{other[1]}", wport).returncode != 0, kinds[g]
    # the exits run the tunnels (node a: the reverse path's client; b: relay and remote)
    tuns = [{t["name"] for t in n.ok("GET", "/node/stats")["tunnels"]} for n in f.nodes]
    assert tuns == [{"exit.v"}, {"exit.r", "exit.m"}], tuns
    # counted once, at the entrance: direct and remote on node a, relay and reverse on
    # the manager; the exits count nobody's bytes
    for g in kinds:
        wait_until(lambda: f.user(f"u{g}")["usage"] >= 2 * len(small), 4 * PULL + 10,
                   what=f"u{g}'s usage")
        if g in "dm":       # the manager's usage is node a's count (the counters settle)
            wait_until(lambda: node_total(f.nodes[0], f"u{g}") >= 2 * len(small) and
                       f.user(f"u{g}")["usage"] == node_total(f.nodes[0], f"u{g}"),
                       4 * PULL + 10, what=f"u{g}'s usage equal to node a's count")
        else:
            assert node_total(f.nodes[0], f"u{g}") == 0, g
        assert node_total(f.nodes[1], f"u{g}") == 0, g
        assert f.user(f"u{g}")["usage"] < 3 * len(small), (g, f.user(f"u{g}"))
    # a user moved to another group leaves the path's entrance (its own users file)
    gfile = f.nodes[0].db + ".users.path.d.json"
    assert [u["name"] for u in json.load(open(gfile))["users"]] == ["ud"]
    f.mgr.ok("PATCH", "/users/ud", {"group": "gr"})
    wait_until(lambda: socks_get(ports["d"], "ud", "pw-d", wport).returncode != 0, 15,
               what="ud refused on the direct path once in another group")
    wait_until(lambda: socks_get(ports["r"], "ud", "pw-d", wport).stdout == small, 15,
               what="ud through the relay path of its new group")
