"""master:// API: the key, every endpoint, errors, events, metrics, TLS (docs/master.md).

Each test starts its own master on a fresh database in tmp_path, with
POSTERN_REPORT_INTERVAL=200ms so counters move quickly; instances are single-end
forwarders on loopback in front of an echo backend."""
import json
import os
import signal
import socket
import time

import pytest

from conftest import LOOPBACK, connect, curl, free_port, recv_exact, wait_port, wait_until
from master_util import (KEY_RE, EventStream, pid_alive, start_master, wait_instance)


def single_url(port, backend_port, extra=""):
    return f"client://{LOOPBACK}:{port}/{LOOPBACK}:{backend_port}?mode=1" + (f"&{extra}" if extra else "")


def push(port, nbytes):
    """Send <nbytes> through the forwarder on <port> to the echo backend and read
    them back."""
    data = os.urandom(nbytes)
    with connect(port) as s:
        s.sendall(data)
        assert recv_exact(s, nbytes) == data


@pytest.fixture
def streams():
    made = []
    yield made
    for s in made:
        s.stop()


# ---- key --------------------------------------------------------------------------------

def test_key_printed_once_then_never(postern, tmp_path):
    m = start_master(postern, tmp_path)
    assert len(m.key) == 64
    # Only its hash is stored.
    assert m.key.encode() not in open(m.db, "rb").read()
    rc, _ = m.p.stop()
    assert rc == 0
    m2 = start_master(postern, tmp_path, db=m.db, expect_key=False)
    m2.p.wait_for_log(r"listening on", timeout=5)
    time.sleep(0.3)
    assert not any("API key" in l for l in m2.p.lines())
    m2.key = m.key
    assert m2.request("GET", "/info")[0] == 200
    # The key never reaches a log line.
    assert sum(m.key in l for l in m.p.lines()) == 1


def test_auth(postern, tmp_path):
    m = start_master(postern, tmp_path)
    st, v, h = m.request("GET", "/instances", key=None)
    assert st == 401 and v == {"error": "missing or wrong API key"}
    assert h.get("Content-Type", "").startswith("application/json")
    assert m.request("GET", "/instances", key="0" * 64)[0] == 401
    assert m.request("GET", "/instances", key=m.key[:-1])[0] == 401
    assert m.request("GET", "/instances", key="")[0] == 401
    assert m.request("GET", "/instances")[0] == 200
    st, v, _ = m.request("GET", "/instances", key=None, headers={"Authorization": f"Bearer {m.key}"})
    assert st == 200 and v == []
    assert m.request("GET", "/metrics", key=None, headers={"Authorization": "Bearer nope"})[0] == 401
    # No key needed for the API document, its page and the dashboard.
    st, doc, _ = m.request("GET", "/openapi.json", key=None)
    assert st == 200 and isinstance(doc, dict) and "openapi" in doc
    st, page, h = m.request("GET", "/docs", key=None)
    assert st == 200 and h["Content-Type"].startswith("text/html")
    st, page, h = m.request("GET", "/", key=None, api=False)
    assert st == 200 and h["Content-Type"].startswith("text/html")
    assert "<html" in page.lower()
    if "</head>" in page:
        assert page.count('<meta name="postern-prefix" content="/api">') == 1
    st, v, _ = m.request("GET", "/assets/no-such-file.js", key=None, api=False)
    assert st == 404 and "error" in v
    st, v, _ = m.request("GET", "/elsewhere", key=None, api=False)
    assert st == 404 and "error" in v


def test_key_rotation(postern, tmp_path):
    m = start_master(postern, tmp_path)
    old = m.key
    st, v, _ = m.request("POST", "/key")
    assert st == 200 and len(v["key"]) == 64 and v["key"] != old
    assert m.request("GET", "/info", key=old)[0] == 401
    assert m.request("GET", "/info", key=v["key"])[0] == 200
    assert not any(v["key"] in l for l in m.p.lines())
    # The new key survives a restart of the master.
    m.p.stop()
    m2 = start_master(postern, tmp_path, db=m.db, expect_key=False)
    m2.key = v["key"]
    assert m2.request("GET", "/info")[0] == 200
    assert m2.request("GET", "/info", key=old)[0] == 401


# ---- instances --------------------------------------------------------------------------

def test_instance_counters_move(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    port = free_port()
    inst = m.create(single_url(port, echo_backend.port), alias="web", meta={"tags": {"env": "test"}})
    assert inst["status"] == "running" and inst["pid"] > 0 and inst["type"] == "client"
    assert inst["alias"] == "web" and inst["restart"] is True and inst["meta"] == {"tags": {"env": "test"}}
    assert len(inst["id"]) == 8 and int(inst["id"], 16) >= 0
    assert inst["created"].endswith("Z")
    wait_port(port, timeout=10)
    push(port, 100_000)
    v = wait_instance(m, inst["id"], lambda i: i["tcprx"] >= 100_000 and i["tcptx"] >= 100_000,
                      what="counters")
    assert v["tcprx"] == 100_000 and v["tcptx"] == 100_000
    st, lst, _ = m.request("GET", "/instances")
    assert st == 200 and [i["id"] for i in lst] == [inst["id"]]


def test_patch_put_delete_logs(postern, tmp_path, echo_backend, streams):
    m = start_master(postern, tmp_path)
    port = free_port()
    inst = m.create(single_url(port, echo_backend.port))
    iid = inst["id"]
    wait_port(port, timeout=10)
    push(port, 1000)
    wait_instance(m, iid, lambda i: i["tcprx"] == 1000)

    v = m.ok("PATCH", f"/instances/{iid}", {"alias": "renamed", "meta": {"tags": {"a": "1", "b": "2"}}})
    assert v["alias"] == "renamed" and v["meta"]["tags"] == {"a": "1", "b": "2"}
    v = m.ok("PATCH", f"/instances/{iid}", {"meta": {"tags": {}}})
    assert v["meta"]["tags"] == {}
    v = m.ok("PATCH", f"/instances/{iid}", {"restart": False})
    assert v["restart"] is False

    pid = v["pid"]
    v = m.ok("PATCH", f"/instances/{iid}", {"action": "stop"})
    assert v["status"] == "stopped"
    v = wait_instance(m, iid, lambda i: i["pid"] == 0, what="stopped")
    assert v["status"] == "stopped" and v["tcprx"] == 1000
    wait_until(lambda: not pid_alive(pid), 5, what="child gone")
    with pytest.raises(OSError):
        socket.create_connection((LOOPBACK, port), timeout=1).close()

    v = m.ok("PATCH", f"/instances/{iid}", {"action": "start"})
    v = wait_instance(m, iid, lambda i: i["status"] == "running" and i["pid"] > 0)
    wait_port(port, timeout=10)
    pid = v["pid"]
    m.ok("PATCH", f"/instances/{iid}", {"action": "restart"})
    v = wait_instance(m, iid, lambda i: i["status"] == "running" and i["pid"] not in (0, pid),
                      what="restarted")
    assert v["restarts"] == 0           # asked for: not an automatic restart
    wait_port(port, timeout=10)
    push(port, 500)
    wait_instance(m, iid, lambda i: i["tcprx"] == 1500, what="counters across restarts")
    v = m.ok("PATCH", f"/instances/{iid}", {"action": "reset"})
    assert v["tcprx"] == 0 and v["tcptx"] == 0
    push(port, 10)
    time.sleep(0.5)
    wait_instance(m, iid, lambda i: i["tcprx"] == 10, what="counters after reset")

    # PUT: the new URL, restarted with it.
    port2 = free_port()
    v = m.ok("PUT", f"/instances/{iid}", {"url": single_url(port2, echo_backend.port)})
    assert v["url"] == single_url(port2, echo_backend.port)
    wait_port(port2, timeout=10)
    push(port2, 7)

    st, logs, _ = m.request("GET", f"/instances/{iid}/logs")
    assert st == 200 and isinstance(logs["logs"], list)
    assert any("listening on" in l for l in logs["logs"]), logs
    assert not any("CHECK_POINT" in l for l in logs["logs"])

    pid = m.instance(iid)["pid"]
    st, body, _ = m.request("DELETE", f"/instances/{iid}")
    assert st == 204 and body == ""
    assert m.request("GET", f"/instances/{iid}")[0] == 404
    wait_until(lambda: not pid_alive(pid), 7, what="deleted instance's child gone")
    assert m.request("GET", "/instances")[1] == []


def test_bad_requests(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    inst = m.create(single_url(free_port(), echo_backend.port))
    iid = inst["id"]
    cases = [
        ("POST", "/instances", b"{not json", "body"),
        ("POST", "/instances", b"[]", "body"),
        ("POST", "/instances", b"{}", "url"),
        ("POST", "/instances", b'{"url": 1}', "url"),
        ("POST", "/instances", b'{"url": "client://:1/:2", "alias": 5}', "alias"),
        ("POST", "/instances", b'{"url": "client://:1/:2", "restart": "yes"}', "restart"),
        ("POST", "/instances", b'{"url": "client://:1/:2", "meta": {"tags": {"a": 1}}}', "meta"),
        ("POST", "/instances", b'{"url": "client://:1/:2", "what": 1}', "what"),
        ("PATCH", f"/instances/{iid}", b"{}", "body"),
        ("PATCH", f"/instances/{iid}", b'{"action": "fly"}', "action"),
        ("PATCH", f"/instances/{iid}", b'{"restart": null}', "restart"),
        ("PATCH", f"/instances/{iid}", b'{"meta": {"tags": []}}', "meta"),
        ("PATCH", f"/instances/{iid}", b'{"alias": "' + b"x" * 65 + b'"}', "alias"),
        ("PUT", f"/instances/{iid}", b"{}", "url"),
        ("PUT", f"/instances/{iid}", b'{"url": "client://:1/:2", "alias": "x"}', "alias"),
        ("POST", "/info", b'{"name": ""}', "name"),
        ("POST", "/info", b"{}", "name"),
    ]
    for method, path, raw, field in cases:
        st, v, _ = m.request(method, path, raw=raw)
        assert st == 400, (method, path, raw, st, v)
        assert v["field"] == field and v["error"].startswith(field + ": "), (raw, v)
    # A bad URL: the error names the URL's own field, as the command line does.
    for url, sub in [("client://:99999/:2", "url: port:"), ("client://:1", "url: target:"),
                     ("client://:1/:2?tls=9", "url: tls:"), ("client://:1/:2?nope=1", "url: nope:"),
                     ("master://:1", "url: scheme:")]:
        st, v, _ = m.request("POST", "/instances", {"url": url})
        assert st == 400 and v["field"] == "url" and v["error"].startswith(sub), (url, v)
        st, v, _ = m.request("PUT", f"/instances/{iid}", {"url": url})
        assert st == 400 and v["field"] == "url" and v["error"].startswith(sub), (url, v)
    # Nothing was created by the bad requests.
    assert len(m.request("GET", "/instances")[1]) == 1
    # Unknown id, unknown path, wrong method.
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        st, v, _ = m.request(method, "/instances/deadbeef", {"action": "stop"} if method != "GET" else None)
        assert st == 404 and v["field"] == "id", (method, v)
    assert m.request("GET", "/instances/deadbeef/logs")[0] == 404
    assert m.request("GET", "/nope")[0] == 404
    st, v, h = m.request("DELETE", "/instances")
    assert st == 405 and "error" in v and "GET" in h.get("Allow", "")
    assert m.request("POST", f"/instances/{iid}", {})[0] == 405
    assert m.request("GET", "/key")[0] == 405
    # Over 64 KiB: 413, in JSON.
    big = json.dumps({"url": "client://:1/:2", "alias": "x" * 70_000}).encode()
    st, v, _ = m.request("POST", "/instances", raw=big)
    assert st == 413 and v["field"] == "body"
    # A body over the HTTP layer's 1 MiB bound is refused on its headers (not read).
    with socket.create_connection((LOOPBACK, m.port), timeout=10) as s:
        s.sendall(f"POST /api/v1/instances HTTP/1.1\r\nHost: x\r\nX-API-Key: {m.key}\r\n"
                  f"Content-Length: {2 << 20}\r\n\r\n".encode() + b"x" * 1000)
        assert s.recv(100).startswith(b"HTTP/1.1 413 ")


def test_malformed_http_closes_only_that_connection(postern, tmp_path):
    m = start_master(postern, tmp_path)
    keep = m.conn()
    assert m.request("GET", "/info", conn=keep)[0] == 200
    for junk in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n",
                 b"\x00\xff" * 100,         # no line end at all: answered at EOF
                 b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
                 b"GET / HTTP/1.1\r\nX: " + b"b" * 20000 + b"\r\n\r\n"):
        s = socket.create_connection((LOOPBACK, m.port), timeout=10)
        s.sendall(junk)
        if b"\n" not in junk:
            s.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        except ConnectionResetError:
            pass
        s.close()
        assert data == b"" or data.startswith(b"HTTP/1.1 4"), data[:100]
    # The kept-alive connection and new ones still work.
    assert m.request("GET", "/info", conn=keep)[0] == 200
    keep.close()
    assert m.request("GET", "/info")[0] == 200
    assert m.p.alive()


# ---- events -----------------------------------------------------------------------------

def test_events(postern, tmp_path, echo_backend, streams):
    m = start_master(postern, tmp_path, env={"POSTERN_SSE_KEEPALIVE": "300ms"})
    # Silence (no instance yet: no CHECK_POINT updates) brings keepalive comments.
    quiet = EventStream(m)
    streams.append(quiet)
    quiet.wait_line("retry: 3000")
    quiet.wait_line(": keepalive", timeout=5)
    port = free_port()
    first = m.create(single_url(port, echo_backend.port), alias="first")
    quiet.wait_event(lambda e: e["type"] == "create" and e["instance"]["id"] == first["id"])
    es = EventStream(m)
    streams.append(es)
    es.wait_line("retry: 3000")
    ev = es.wait_event(lambda e: e["type"] == "initial")
    assert ev["instance"]["id"] == first["id"] and ev["time"].endswith("Z")
    # A stream without the key is refused.
    r = curl("-i", "-H", "X-API-Key: wrong", f"http://{LOOPBACK}:{m.port}/api/v1/events")
    assert b" 401 " in r.stdout.split(b"\r\n")[0]

    port2 = free_port()
    second = m.create(single_url(port2, echo_backend.port), alias="second")
    es.wait_event(lambda e: e["type"] == "create" and e["instance"]["id"] == second["id"])
    es.wait_event(lambda e: e["type"] == "log" and e["instance"]["id"] == second["id"]
                  and "listening on" in e["logs"], what="log event")
    m.ok("PATCH", f"/instances/{second['id']}", {"alias": "again"})
    es.wait_event(lambda e: e["type"] == "update" and e["instance"]["alias"] == "again")
    wait_port(port2, timeout=10)
    push(port2, 4321)
    es.wait_event(lambda e: e["type"] == "update" and e["instance"]["id"] == second["id"]
                  and e["instance"]["tcprx"] == 4321, what="counter update")
    m.request("DELETE", f"/instances/{second['id']}")
    ev = es.wait_event(lambda e: e["type"] == "delete")
    assert ev["instance"]["id"] == second["id"]
    # A second client sees one initial event per remaining instance.
    es2 = EventStream(m)
    streams.append(es2)
    es2.wait_event(lambda e: e["type"] == "initial")
    time.sleep(0.3)
    assert [e["instance"]["id"] for e in es2.events() if e["type"] == "initial"] == [first["id"]]
    # SIGTERM: a shutdown event, then the streams end; exit 0.
    m.p.proc.send_signal(signal.SIGTERM)
    ev = es.wait_event(lambda e: e["type"] == "shutdown")
    assert "instance" not in ev
    es.wait_eof()
    es2.wait_eof()
    assert m.p.proc.wait(10) == 0


# ---- info, tcping, metrics, TLS ---------------------------------------------------------

def test_info(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path, query="log=info")
    m.create(single_url(free_port(), echo_backend.port))
    v = m.ok("GET", "/info")
    for k in ("name", "ver", "os", "arch", "cpu", "mem_total", "mem_used", "swap_total", "swap_used",
              "netrx", "nettx", "sysup", "uptime", "instances", "log", "tls"):
        assert k in v, k
    assert v["os"] == "linux" and v["instances"] == 1 and v["log"] == "info" and v["tls"] == 0
    assert 0 <= v["cpu"] <= 100 and v["mem_total"] > v["mem_used"] > 0
    assert v["sysup"] > 0 and 0 <= v["uptime"] < 60
    assert v["ver"] and v["arch"]
    v = m.ok("POST", "/info", {"name": "edge-7"})
    assert v["name"] == "edge-7"
    assert m.ok("GET", "/info")["name"] == "edge-7"
    m.p.stop()
    m2 = start_master(postern, tmp_path, db=m.db, expect_key=False)
    m2.key = m.key
    assert m2.ok("GET", "/info")["name"] == "edge-7"


def test_tcping(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    v = m.ok("GET", f"/tcping?target={LOOPBACK}:{echo_backend.port}")
    assert v["connected"] is True and v["error"] == "" and v["latency"] >= 0
    assert v["target"] == f"{LOOPBACK}:{echo_backend.port}"
    closed = free_port()
    v = m.ok("GET", f"/tcping?target={LOOPBACK}:{closed}")
    assert v["connected"] is False and v["error"]
    v = m.ok("GET", f"/tcping?target=localhost:{echo_backend.port}")
    assert v["connected"] is True
    for bad in ("", "?target=", "?target=nohost", "?target=1.2.3.4:0", "?target=:80"):
        st, v, _ = m.request("GET", "/tcping" + bad)
        assert st == 400 and v["field"] == "target", (bad, v)
    # A probe that takes long (an address nobody answers, unless this network
    # intercepts it) does not hold up the rest, and ends within its 3 s.
    c = m.conn(timeout=10)
    c.request("GET", "/api/v1/tcping?target=10.255.255.1:9", headers={"X-API-Key": m.key})
    t0 = time.monotonic()
    assert m.request("GET", "/info")[0] == 200
    assert time.monotonic() - t0 < 1
    r = c.getresponse()
    v = json.loads(r.read())
    c.close()
    assert time.monotonic() - t0 < 5
    if not v["connected"]:
        assert v["error"]


def test_metrics_match_api(postern, tmp_path, echo_backend):
    parser = pytest.importorskip("prometheus_client.parser")
    m = start_master(postern, tmp_path)
    port = free_port()
    a = m.create(single_url(port, echo_backend.port), alias='we"ird\\name')
    b = m.create(single_url(free_port(), echo_backend.port), alias="idle")
    m.ok("PATCH", f"/instances/{b['id']}", {"action": "stop"})
    wait_port(port, timeout=10)
    push(port, 2500)
    wait_instance(m, a["id"], lambda i: i["tcprx"] == 2500 and i["tcptx"] == 2500)
    wait_instance(m, b["id"], lambda i: i["pid"] == 0)
    st, text, h = m.request("GET", "/metrics")
    assert st == 200 and h["Content-Type"].startswith("text/plain; version=0.0.4")
    fams = {f.name: f for f in parser.text_string_to_metric_families(text)}
    api = {i["id"]: i for i in m.ok("GET", "/instances")}

    def samples(name, sname=None):
        return [s for s in fams[name].samples if s.name == (sname or name)]
    st_counts = {s.labels["status"]: s.value for s in samples("postern_instances")}
    assert st_counts == {"running": 1, "stopped": 1, "error": 0}
    up = {s.labels["id"]: (s.value, s.labels["alias"]) for s in samples("postern_instance_up")}
    assert up[a["id"]] == (1, 'we"ird\\name') and up[b["id"]] == (0, "idle")
    assert fams["postern_instance_bytes"].type == "counter"
    for s in samples("postern_instance_bytes", "postern_instance_bytes_total"):
        field = s.labels["proto"] + s.labels["direction"]
        assert s.value == api[s.labels["id"]][field], s
    for s in samples("postern_instance_connections"):
        assert s.value == api[s.labels["id"]]["tcps" if s.labels["proto"] == "tcp" else "udps"]
    for s in samples("postern_instance_restarts", "postern_instance_restarts_total"):
        assert s.value == api[s.labels["id"]]["restarts"]
    assert {s.labels["id"] for s in samples("postern_instance_pool")} == set(api)
    assert {s.labels["id"] for s in samples("postern_instance_ping_seconds")} == set(api)
    assert samples("postern_master_uptime_seconds")[0].value >= 0


def test_tls_master(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path, query="tls=1")
    r = curl("-k", "-H", f"X-API-Key: {m.key}", f"https://{LOOPBACK}:{m.port}/api/v1/info")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tls"] == 1
    # Plain HTTP on the TLS port gets nowhere, and does not hurt the master.
    r = curl(f"http://{LOOPBACK}:{m.port}/api/v1/info")
    assert r.returncode != 0 or not r.stdout.startswith(b"{")
    inst = m.create(single_url(free_port(), echo_backend.port))
    es = EventStream(m)
    try:
        es.wait_event(lambda e: e["type"] == "initial" and e["instance"]["id"] == inst["id"])
    finally:
        es.stop()
    r = curl("-k", f"https://{LOOPBACK}:{m.port}/")
    assert r.returncode == 0 and b"<html" in r.stdout.lower()


def test_tls_files_and_prefix(postern, tmp_path, certs):
    crt, key = certs.leaf("master", 7)
    m = start_master(postern, tmp_path, query=f"tls=2&crt={crt}&key={key}", path="/admin")
    r = curl("--cacert", str(certs.ca_pem), "-H", f"X-API-Key: {m.key}",
             f"https://127.0.0.1:{m.port}/admin/v1/instances")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    r = curl("--cacert", str(certs.ca_pem), f"https://127.0.0.1:{m.port}/")
    if b"</head>" in r.stdout:
        assert r.stdout.count(b'<meta name="postern-prefix" content="/admin">') == 1
        assert b'content="/api"' not in r.stdout
    st, v, _ = m.request("GET", "/instances", api=False)
    assert st == 404


def test_bad_master_urls(postern, tmp_path):
    for url, field in [("master://127.0.0.1:0", "port"), ("master://:1?tls=5", "tls"),
                       ("master://:1?tls=2", "crt"), ("master://:1?zzz=1", "zzz"),
                       ("master://:1/a%20b", "prefix")]:
        p = postern.run([url])
        assert p.proc.wait(10) == 2
        p.wait_for_log(rf"^postern: {field}: ", stream="stderr")
    # A database that cannot be opened (its folder cannot be made, under a plain
    # file; a missing folder would be made): exit 2, the db named.
    (tmp_path / "plain").write_text("x")
    p = postern.run([f"master://{LOOPBACK}:{free_port()}?db={tmp_path}/plain/dir/m.db"])
    assert p.proc.wait(10) == 2
    p.wait_for_log(r"^postern: db: ", stream="stderr")
    # The port in use: exit 1.
    m = start_master(postern, tmp_path)
    p = postern.run([f"master://{LOOPBACK}:{m.port}?db={tmp_path}/other.db"])
    assert p.proc.wait(10) == 1
