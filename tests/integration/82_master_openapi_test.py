"""The OpenAPI document served by `postern master://` is valid and true to the server.

Every test starts its own master on loopback (db in a temp dir, instances of the form
client://127.0.0.1:<p>/127.0.0.1:<q>?mode=1) and reads the document from the live server
at <prefix>/v1/openapi.json, so what is checked is what the binary serves:

1. it passes tests/web/openapi_check.mjs (the OpenAPI 3.0 schema, $refs, operationIds,
   4xx responses), and it is the document in the tree (src/master/openapi.json);
2. a contract walk: every documented operation, called with valid inputs, answers a
   documented status code with the documented media type, and a JSON body that validates
   against the documented schema (strictly: no undocumented fields either);
3. every key-protected operation answers 401 + Error without a key or with a wrong one;
4. every request-body field with a wrong type, every missing required field and every
   unknown field (additionalProperties: false) gets 400 whose `field` names it; the
   documented 404 and 413 answers are real;
5. no undocumented routes: plausible other paths are 404, other methods on documented
   paths 405 with an Allow header listing exactly the documented methods; /docs is a
   self-contained HTML page that loads openapi.json;
6. /docs rendered in headless Chromium lists every path (skipped without chromium).

The JSON-schema subset validator below covers what the document uses: type, required,
properties, additionalProperties, enum, items, $ref, nullable, pattern, min/max,
minLength/maxLength, maxItems, min/maxProperties and format date-time.
"""
import http.client
import json
import re
import socket
import subprocess
import time

import pytest

from conftest import LOOPBACK, REPO, free_port, wait_until
from harness.procs import require_tool

PREFIX = "/api/v1"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
HTTP_TIMEOUT = 10.0
BIG = 64 * 1024 + 1            # one byte over the body limit
DOC_IN_TREE = REPO / "src" / "master" / "openapi.json"


# --------------------------------------------------------------------------------------
# a JSON-schema subset (OpenAPI 3.0 flavour)
# --------------------------------------------------------------------------------------

DATE_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def resolve(doc, node):
    """Follow $ref chains (local references only)."""
    for _ in range(32):
        if not isinstance(node, dict) or "$ref" not in node:
            return node
        ref = node["$ref"]
        assert ref.startswith("#/"), f"non-local $ref {ref}"
        cur = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(cur, dict) and part in cur, f"$ref {ref} does not resolve"
            cur = cur[part]
        node = cur
    raise AssertionError("$ref chain too long")


def _type_ok(value, t):
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    if t == "string":
        return isinstance(value, str)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    raise AssertionError(f"schema uses unknown type {t!r}")


def validate(doc, schema, value, path="$", strict=False):
    """Return a list of 'path: problem' strings (empty when <value> fits <schema>).
    strict: a property not listed in `properties` is a problem even without
    additionalProperties: false (a response must not carry undocumented fields)."""
    s = resolve(doc, schema)
    errs = []
    if value is None:
        if s.get("nullable"):
            return []
        if "type" in s:
            return [f"{path}: null where {s['type']} is documented"]
    t = s.get("type")
    if t is not None and not _type_ok(value, t):
        return [f"{path}: {type(value).__name__} {json.dumps(value)[:60]} where {t} is documented"]
    if "enum" in s and value not in s["enum"]:
        errs.append(f"{path}: {value!r} is not one of {s['enum']}")
    if isinstance(value, str):
        if "pattern" in s and not re.search(s["pattern"], value):
            errs.append(f"{path}: {value!r} does not match {s['pattern']}")
        if "minLength" in s and len(value) < s["minLength"]:
            errs.append(f"{path}: shorter than {s['minLength']}")
        if "maxLength" in s and len(value) > s["maxLength"]:
            errs.append(f"{path}: longer than {s['maxLength']}")
        if s.get("format") == "date-time" and not DATE_TIME_RE.match(value):
            errs.append(f"{path}: {value!r} is not an RFC 3339 date-time")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in s and value < s["minimum"]:
            errs.append(f"{path}: {value} < minimum {s['minimum']}")
        if "maximum" in s and value > s["maximum"]:
            errs.append(f"{path}: {value} > maximum {s['maximum']}")
    if isinstance(value, list):
        if "maxItems" in s and len(value) > s["maxItems"]:
            errs.append(f"{path}: more than {s['maxItems']} items")
        if "items" in s:
            for i, v in enumerate(value):
                errs += validate(doc, s["items"], v, f"{path}[{i}]", strict)
    if isinstance(value, dict):
        props = s.get("properties", {})
        for name in s.get("required", []):
            if name not in value:
                errs.append(f"{path}: required field {name!r} is missing")
        if "minProperties" in s and len(value) < s["minProperties"]:
            errs.append(f"{path}: fewer than {s['minProperties']} fields")
        if "maxProperties" in s and len(value) > s["maxProperties"]:
            errs.append(f"{path}: more than {s['maxProperties']} fields")
        extra = s.get("additionalProperties", None)
        for k, v in value.items():
            if k in props:
                errs += validate(doc, props[k], v, f"{path}.{k}", strict)
            elif extra is False or (extra is None and strict and props):
                errs.append(f"{path}: field {k!r} is not documented")
            elif isinstance(extra, dict):
                errs += validate(doc, extra, v, f"{path}.{k}", strict)
    return errs


def test_schema_validator_self_check():
    """The subset validator itself catches what it claims to catch."""
    doc = {"components": {"schemas": {
        "T": {"type": "object", "required": ["a"], "additionalProperties": False,
              "properties": {"a": {"type": "integer", "minimum": 0},
                             "b": {"type": "string", "enum": ["x", "y"], "nullable": True},
                             "c": {"type": "array", "items": {"$ref": "#/components/schemas/U"}}}},
        "U": {"type": "object", "additionalProperties": {"type": "string"}}}}}
    ref = {"$ref": "#/components/schemas/T"}
    assert validate(doc, ref, {"a": 1, "b": None, "c": [{"k": "v"}]}) == []
    assert validate(doc, ref, {"a": True})           # bool is not an integer
    assert validate(doc, ref, {"a": -1})
    assert validate(doc, ref, {"b": "x"})            # a missing
    assert validate(doc, ref, {"a": 1, "z": 1})      # additionalProperties: false
    assert validate(doc, ref, {"a": 1, "b": "q"})    # enum
    assert validate(doc, ref, {"a": 1, "c": [{"k": 1}]})
    open_obj = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert validate(doc, open_obj, {"a": "s", "x": 1}) == []
    assert validate(doc, open_obj, {"a": "s", "x": 1}, strict=True)


# --------------------------------------------------------------------------------------
# the master and an HTTP client for it
# --------------------------------------------------------------------------------------

class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # lower-case name -> value
        self.body = body

    @property
    def ctype(self):
        return self.headers.get("content-type", "")

    def json(self):
        assert "application/json" in self.ctype, \
            f"{self.status}: expected JSON, got {self.ctype!r}: {self.body[:200]!r}"
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.ctype} {self.body[:300]!r}>"


class Master:
    def __init__(self, proc, port, key):
        self.proc = proc
        self.port = port
        self.key = key

    def request(self, method, path, body=None, key="default", headers=None, raw=None):
        """One request on a fresh connection. <path> is relative to <prefix>/v1 unless it
        starts with '//' (then it is taken from the root, minus one slash). key=None sends
        no key; body is JSON-encoded unless raw bytes are given."""
        url = path[1:] if path.startswith("//") else PREFIX + path
        h = {"Connection": "close"}
        if key == "default":
            key = self.key
        if key is not None:
            h["X-API-Key"] = key
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        c = http.client.HTTPConnection(LOOPBACK, self.port, timeout=HTTP_TIMEOUT)
        try:
            c.request(method.upper(), url, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, payload)
        finally:
            c.close()

    def spec(self):
        r = self.request("GET", "/openapi.json", key=None)
        assert r.status == 200, r
        return r.json()


@pytest.fixture
def master(postern, tmp_path):
    """A running master on a fresh loopback port; returns Master (key read from stdout)."""
    last = None
    for attempt in range(3):
        port = free_port()
        p = postern.run([f"master://{LOOPBACK}:{port}?db={tmp_path}/m{attempt}.db"],
                        env={"POSTERN_REPORT_INTERVAL": "200ms",
                             "XDG_STATE_HOME": str(tmp_path / "state")})
        try:
            m = p.wait_for_log(r"^API key: ([0-9a-f]{64})$", timeout=10)
            p.wait_port(port, timeout=10)
            return Master(p, port, m.group(1))
        except AssertionError as e:
            last = e
            p.cleanup()
            if "address already in use" not in p.output().lower():
                raise AssertionError(f"{e}\nmaster output:\n{p.output()}") from None
    raise last


def operations(doc):
    """[(method, path, operation, path item)] in document order."""
    out = []
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                out.append((m, path, item[m], item))
    return out


def is_public(doc, op):
    sec = op.get("security", doc.get("security", []))
    return sec == []


def instance_url(port, target_port):
    return f"client://{LOOPBACK}:{port}/{LOOPBACK}:{target_port}?mode=1"


def new_instance_body(alias="walk"):
    return {"url": instance_url(free_port(), free_port()), "alias": alias, "restart": True,
            "meta": {"tags": {"env": "test"}}}


def check_answer(doc, method, path, op, r, what=""):
    """<r> must have a documented status, media type and (for JSON) a body that fits the
    documented schema; return the decoded JSON body (or None)."""
    name = f"{method.upper()} {path}{what}"
    responses = op["responses"]
    code = str(r.status)
    assert code in responses or f"{code[0]}XX" in responses, \
        f"{name}: status {code} is not documented (documented: {sorted(responses)}): {r!r}"
    resp = resolve(doc, responses.get(code) or responses[f"{code[0]}XX"])
    content = resp.get("content")
    if not content:
        assert r.body == b"", f"{name}: {code} documents no body, got {r.body[:200]!r}"
        return None
    ctype = r.ctype.split(";")[0].strip()
    assert ctype in content, \
        f"{name}: content type {r.ctype!r} is not documented (documented: {sorted(content)})"
    if ctype != "application/json":
        return None
    value = json.loads(r.body)
    errs = validate(doc, content[ctype]["schema"], value, strict=True)
    assert not errs, f"{name}: {code} body does not fit the documented schema:\n  " + \
        "\n  ".join(errs) + f"\nbody: {r.body[:600]!r}"
    return value


def read_events(m, count, timeout=10.0):
    """Open GET /events; return (status, content type, ['retry' value], [event dicts])
    after <count> events or <timeout> s, whichever comes first."""
    c = http.client.HTTPConnection(LOOPBACK, m.port, timeout=5)
    deadline = time.monotonic() + timeout
    retry, events, cur = [], [], {}
    try:
        c.request("GET", PREFIX + "/events", headers={"X-API-Key": m.key})
        r = c.getresponse()
        ctype = r.getheader("Content-Type", "")
        if r.status != 200:
            return r.status, ctype, retry, [r.read().decode(errors="replace")]
        while len(events) < count and time.monotonic() < deadline:
            try:
                raw = r.readline()
            except (socket.timeout, TimeoutError):
                continue
            if not raw:
                break
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if "data" in cur:
                    events.append(cur)
                cur = {}
            elif line.startswith(":"):
                continue
            else:
                k, _, v = line.partition(":")
                v = v[1:] if v.startswith(" ") else v
                if k == "retry":
                    retry.append(v)
                else:
                    cur[k] = cur[k] + "\n" + v if k in cur else v
        return r.status, ctype, retry, events
    finally:
        c.close()


# --------------------------------------------------------------------------------------
# 1. the document passes the OpenAPI checker and is the one in the tree
# --------------------------------------------------------------------------------------

def test_served_document_passes_openapi_check(master, tmp_path):
    node = require_tool("node")
    r = master.request("GET", "/openapi.json", key=None)
    assert r.status == 200, r
    assert r.ctype.startswith("application/json"), r.ctype
    served = tmp_path / "served-openapi.json"
    served.write_bytes(r.body)
    res = subprocess.run([node, "tests/web/openapi_check.mjs", str(served)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, \
        f"openapi_check failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"


def test_served_document_is_the_one_in_the_tree(master):
    r = master.request("GET", "/openapi.json", key=None)
    assert json.loads(r.body) == json.loads(DOC_IN_TREE.read_text()), \
        "the binary serves another openapi.json than src/master/openapi.json (rebuild it)"


# --------------------------------------------------------------------------------------
# 2. the contract walk
# --------------------------------------------------------------------------------------

def test_contract_walk(master, tmp_path):
    doc = master.spec()
    ops = {(m, p): (op, item) for m, p, op, item in operations(doc)}
    called = []

    def call(method, path, params=None, body=None, what=""):
        op, _ = ops[(method, path)]
        concrete = path
        for k, v in (params or {}).items():
            concrete = concrete.replace("{" + k + "}", v)
        r = master.request(method, concrete, body=body)
        called.append((method, path))
        return r, check_answer(doc, method, path, op, r, what)

    # create (two instances: one is deleted, one stays for GET /events' initial event)
    r, inst = call("post", "/instances", body=new_instance_body())
    assert r.status == 201, r
    iid = inst["id"]
    assert inst["alias"] == "walk" and inst["type"] == "client" and inst["meta"] == {"tags": {"env": "test"}}
    r, keep = call("post", "/instances", body={"url": instance_url(free_port(), free_port())})
    assert r.status == 201 and keep["restart"] is True and keep["alias"] == "", r

    r, lst = call("get", "/instances")
    assert r.status == 200 and {i["id"] for i in lst} >= {iid, keep["id"]}, r
    r, got = call("get", "/instances/{id}", {"id": iid})
    assert r.status == 200 and got["id"] == iid, r

    r, got = call("patch", "/instances/{id}", {"id": iid},
                  {"alias": "walk2", "restart": False, "meta": {"tags": {"a": "b"}}})
    assert r.status == 200 and got["alias"] == "walk2" and got["restart"] is False \
        and got["meta"] == {"tags": {"a": "b"}}, r
    get_op, _ = ops[("get", "/instances/{id}")]

    def settles(status, pid_alive):
        """GET the instance (each answer checked) until it has <status>, and a pid
        (pid_alive) or none; the deadline covers the 5 s SIGTERM-to-SIGKILL grace."""
        def probe():
            r = master.request("get", f"/instances/{iid}")
            got = check_answer(doc, "get", "/instances/{id}", get_op, r, " (polling)")
            ok = got["status"] == status and (got["pid"] > 0) == pid_alive
            return got if ok else None
        return wait_until(probe, 10, interval=0.05, what=f"status {status}")

    for action, status in (("stop", "stopped"), ("start", "running"), ("restart", "running"),
                           ("reset", None)):
        r, got = call("patch", "/instances/{id}", {"id": iid}, {"action": action},
                      what=f" (action {action})")
        assert r.status == 200, r
        if action == "stop":
            assert got["status"] == "stopped", f"the answer to stop says {got['status']}"
        if status:
            settles(status, status == "running")
        if action == "reset":
            assert (got["tcprx"], got["tcptx"], got["udprx"], got["udptx"]) == (0, 0, 0, 0), got

    new_url = instance_url(free_port(), free_port())
    r, got = call("put", "/instances/{id}", {"id": iid}, {"url": new_url})
    assert r.status == 200 and got["url"] == new_url, r

    r, logs = call("get", "/instances/{id}/logs", {"id": iid})
    assert r.status == 200, r
    r, hist = call("get", "/instances/{id}/history", {"id": iid})
    assert r.status == 200 and hist["id"] == iid and hist["step"] == 10, r

    # events: retry first, then one initial event per instance, each data an Event
    op, _ = ops[("get", "/events")]
    status, ctype, retry, events = read_events(master, 2)
    called.append(("get", "/events"))
    assert status == 200, (status, events)
    assert ctype.split(";")[0].strip() in op["responses"]["200"]["content"], ctype
    assert ctype.startswith("text/event-stream"), ctype
    assert retry == ["3000"], retry
    assert len(events) == 2, f"expected 2 initial events, got {events}"
    event_schema = doc["components"]["schemas"].get("Event")
    for ev in events:
        assert ev.get("event") == "instance", ev
        data = json.loads(ev["data"])
        assert data["type"] == "initial", data
        if event_schema is not None:
            errs = validate(doc, event_schema, data, strict=True)
            assert not errs, f"event does not fit Event: {errs}\n{data}"

    r, info = call("get", "/info")
    assert r.status == 200 and info["instances"] >= 2, r
    r, info = call("post", "/info", body={"name": "walk-master"})
    assert r.status == 200 and info["name"] == "walk-master", r

    # tcping: a port that answers (the master's own) and one that does not
    op, _ = ops[("get", "/tcping")]
    r = master.request("get", f"/tcping?target={LOOPBACK}:{master.port}")
    called.append(("get", "/tcping"))
    ping = check_answer(doc, "get", "/tcping", op, r)
    assert r.status == 200 and ping["connected"] is True, r
    r = master.request("get", f"/tcping?target={LOOPBACK}:{free_port()}")
    ping = check_answer(doc, "get", "/tcping", op, r, " (closed port)")
    assert r.status == 200 and ping["connected"] is False and ping["error"], r

    r, _ = call("get", "/metrics")
    assert r.status == 200 and r.ctype.startswith("text/plain"), r
    text = r.body.decode()
    for name in ("postern_instances", "postern_instance_up", "postern_master_uptime_seconds"):
        assert re.search(rf"^{name}[{{ ]", text, re.M), f"{name} missing from /metrics"

    # MCP: one JSON-RPC message (tests/integration/87_master_mcp_test.py covers the rest)
    r, ans = call("post", "/mcp", body={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.status == 200 and ans == {"jsonrpc": "2.0", "id": 1, "result": {}}, r

    r, _ = call("get", "/openapi.json")
    assert r.status == 200, r
    r, _ = call("get", "/docs")
    assert r.status == 200, r

    # a hub (docs/hub.md: an accounts file, no agent needed): its state once it reported,
    # the `hub` event announcing it; other instances have no hub state
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({"accounts": [{"name": "walk", "token": "0123456789abcdef0123"}]}))
    r, hub = call("post", "/instances", body={
        "url": f"hub://{LOOPBACK}:{free_port()}?accounts={accounts}&http={LOOPBACK}:{free_port()}",
        "alias": "walk-hub"})
    assert r.status == 201 and hub["type"] == "hub", r
    hub_op, _ = ops[("get", "/instances/{id}/hub")]

    def reported():
        r = master.request("get", f"/instances/{hub['id']}/hub")
        got = check_answer(doc, "get", "/instances/{id}/hub", hub_op, r, " (polling)")
        return got if r.status == 200 and got["updated"] is not None else None
    wait_until(reported, 10, interval=0.1, what="the hub's first HUB_STATE")
    r, state = call("get", "/instances/{id}/hub", {"id": hub["id"]})
    assert r.status == 200 and state["updated"] and state["clients"] == [], r
    r, err = call("get", "/instances/{id}/hub", {"id": keep["id"]}, what=" (not a hub)")
    assert r.status == 404 and err["field"] == "id", r
    # the cluster view: this hub is in none (98_master_cluster_test.py shows one)
    r, cl = call("get", "/cluster")
    assert r.status == 200 and cl == {"hubs": [], "instances": 0, "updated": None}, r
    _, _, _, events = read_events(master, 40, timeout=3)
    hub_events = [json.loads(ev["data"]) for ev in events if ev.get("event") == "hub"]
    assert hub_events, f"no hub event among {events[:5]}"
    for data in hub_events:
        errs = validate(doc, doc["components"]["schemas"]["HubEvent"], data, strict=True)
        assert not errs and data["id"] == hub["id"], f"hub event does not fit HubEvent: {errs}\n{data}"
    r, _ = call("delete", "/instances/{id}", {"id": hub["id"]})
    assert r.status == 204, r

    r, _ = call("delete", "/instances/{id}", {"id": iid})
    assert r.status == 204, r
    assert master.request("get", f"/instances/{iid}").status == 404

    # the node side: a configuration applied, its version and counters
    r, got = call("put", "/node/config", body={"version": 1, "updated_by": "walk",
                                                "users": [{"name": "w", "password": "pw"}]})
    assert r.status == 200 and got["version"] == 1 and got["users"] == 1, r
    r, got = call("get", "/node/config")
    assert r.status == 200 and got["version"] == 1 and got["updated_by"] == "walk", r
    r, got = call("get", "/node/stats")
    assert r.status == 200 and got["entrances"] == [] and got["users"] == [], r

    # the manager side: a user and a node (a closed port: its push fails, and says so)
    r, u = call("post", "/users", body={"name": "walk", "password": "pw", "quota": 1000})
    assert r.status == 201 and u["active"] is True and u["usage"] == 0, r
    r, _ = call("get", "/users")
    assert r.status == 200, r
    r, u = call("get", "/users/{name}", {"name": "walk"})
    assert r.status == 200 and u["quota"] == 1000, r
    r, u = call("patch", "/users/{name}", {"name": "walk"}, {"enabled": False})
    assert r.status == 200 and u["active"] is False, r
    r, n = call("post", "/nodes", body={"address": LOOPBACK, "port": free_port(), "token": "t"})
    assert r.status == 201 and n["push_status"] == "" and "token" not in n, r
    r, _ = call("get", "/nodes")
    assert r.status == 200, r
    nodes_get, _ = ops[("get", "/nodes/{id}")]

    def push_failed():
        r = master.request("get", f"/nodes/{n['id']}")
        got = check_answer(doc, "get", "/nodes/{id}", nodes_get, r, " (polling)")
        return got if got["push_status"] == "unavailable" else None
    got = wait_until(push_failed, 10, what="the push to a closed port failed")
    assert got["push_error"], got
    r, got = call("get", "/nodes/{id}", {"id": n["id"]})
    assert r.status == 200, r
    r, got = call("patch", "/nodes/{id}", {"id": n["id"]}, {"action": "sync"})
    assert r.status == 200, r
    r, _ = call("delete", "/nodes/{id}", {"id": n["id"]})
    assert r.status == 204, r
    n2 = master.request("post", "/nodes", body={"address": LOOPBACK, "port": free_port(),
                                                "token": "t"}).json()
    r, _ = call("delete", "/users/{name}", {"name": "walk"})
    assert r.status == 204, r
    r, rel = call("put", "/relay", body={"url": f"proxy://{LOOPBACK}:{free_port()}?allow=127.0.0.0/8"})
    assert r.status == 200 and rel["url"].startswith("proxy://") and rel["via"] == "", r
    r, rel = call("get", "/relay")
    assert r.status == 200 and rel["url"].startswith("proxy://"), r
    r, rel = call("put", "/relay", body={"url": None})
    assert r.status == 200 and rel["url"] is None, r
    r, ps = call("put", "/paths", body={"paths": [{"name": "d", "kind": "direct",
                                                   "url": f"proxy://{LOOPBACK}:{free_port()}",
                                                   "nodes": [n2["id"]], "groups": ["g"]}]})
    assert r.status == 200 and ps["paths"][0]["kind"] == "direct" and "key" not in ps["paths"][0], r
    r, ps = call("get", "/paths")
    assert r.status == 200 and len(ps["paths"]) == 1, r

    # last: rotate the key; the old one stops working at once
    old = master.key
    r, k = call("post", "/key")
    assert r.status == 200 and k["key"] != old, r
    assert master.request("get", "/info", key=old).status == 401
    master.key = k["key"]
    assert master.request("get", "/info").status == 200

    missing = sorted(set(ops) - set(called))
    assert not missing, f"the walk has no call for the documented operations {missing}"


# --------------------------------------------------------------------------------------
# 3. 401 without a key
# --------------------------------------------------------------------------------------

def test_every_protected_operation_needs_the_key(master):
    doc = master.spec()
    inst = master.request("post", "/instances", body=new_instance_body()).json()
    checked = 0
    for method, path, op, _ in operations(doc):
        concrete = path.replace("{id}", inst["id"])
        if path == "/tcping":
            concrete += f"?target={LOOPBACK}:{master.port}"
        body = {"url": instance_url(free_port(), free_port())} if "requestBody" in op else None
        if is_public(doc, op):
            r = master.request(method, concrete, key=None)
            assert r.status == 200, f"{method.upper()} {path} is documented public: {r!r}"
            continue
        for key, what in ((None, "no key"), ("0" * 64, "wrong key"), ("", "empty key")):
            r = master.request(method, concrete, key=key, body=body)
            assert r.status == 401, f"{method.upper()} {path} with {what}: {r!r}"
            check_answer(doc, method, path, op, r, f" ({what})")
            assert r.json()["error"] == "missing or wrong API key", r
        r = master.request(method, concrete, key=None, body=body,
                           headers={"Authorization": "Bearer " + "f" * 64})
        assert r.status == 401, f"{method.upper()} {path} with a wrong bearer: {r!r}"
        checked += 1
    assert checked >= 10
    # the documented alternative: Authorization: Bearer <key>
    r = master.request("get", "/metrics", key=None, headers={"Authorization": "Bearer " + master.key})
    assert r.status == 200, r
    # nothing was changed by the refused requests
    r = master.request("get", "/instances")
    assert [i["id"] for i in r.json()] == [inst["id"]], r


# --------------------------------------------------------------------------------------
# 4. bad bodies name their field; documented 404 and 413 are real
# --------------------------------------------------------------------------------------

WRONG = {"string": 12345, "boolean": "yes", "integer": "1", "number": "1", "object": [1],
         "array": {"a": 1}}


def valid_body(doc, schema_ref):
    """A minimal valid body for a request schema of this API (by its fields)."""
    s = resolve(doc, schema_ref)
    props = s.get("properties", {})
    body = {}
    for name in props:
        if name == "url":
            body["url"] = instance_url(free_port(), free_port())
        elif name == "name" and "name" in s.get("required", []):
            body["name"] = "bodycheck"
    if not body and "alias" in props:
        body["alias"] = "x"
    # the manager's and the node's bodies (docs/master.md "Manager", "Nodes")
    ref = schema_ref.get("$ref", "").rsplit("/", 1)[-1]
    body.update({"NodeCreate": {"address": LOOPBACK, "port": free_port(), "token": "t"},
                 "NodePatch": {"name": "bodycheck"},
                 "UserCreate": {"name": "bodycheck", "password": "pw"},
                 "UserPatch": {"quota": 1},
                 "NodeConfig": {"version": 1},
                 "RelayPut": {"url": ""},
                 "Paths": {"paths": []}}.get(ref, {}))
    return body


def test_bad_bodies_name_their_field(master):
    doc = master.spec()
    inst = master.request("post", "/instances", body=new_instance_body()).json()
    node = master.request("post", "/nodes", body={"address": LOOPBACK, "port": free_port(),
                                                  "token": "t"}).json()
    master.request("post", "/users", body={"name": "bodyuser", "password": "pw"})
    checked = []
    for method, path, op, _ in operations(doc):
        if "requestBody" not in op:
            continue
        concrete = path.replace("{id}", node["id"] if path.startswith("/nodes/") else inst["id"])
        concrete = concrete.replace("{name}", "bodyuser")
        name = f"{method.upper()} {path}"
        media = op["requestBody"]["content"]["application/json"]
        s = resolve(doc, media["schema"])
        base = valid_body(doc, media["schema"])
        assert not validate(doc, s, base), f"{name}: test's base body {base} is not valid"

        def expect_400(body, field, what):
            r = master.request(method, concrete, body=body)
            assert r.status == 400, f"{name} {what}: expected 400, got {r!r}"
            err = check_answer(doc, method, path, op, r, f" ({what})")
            assert err.get("field") == field, f"{name} {what}: field {err.get('field')!r}, " \
                f"expected {field!r}: {err}"
            checked.append((name, what))

        # every documented field with a wrong type
        for field, fs in s.get("properties", {}).items():
            t = resolve(doc, fs).get("type")
            bad = dict(base)
            bad[field] = WRONG[t]
            expect_400(bad, field, f"{field}: {t} sent as {type(WRONG[t]).__name__}")
        # every required field missing
        for field in s.get("required", []):
            bad = {k: v for k, v in base.items() if k != field}
            if not bad and s.get("minProperties"):
                continue        # that is the empty-body case below
            expect_400(bad, field, f"{field} missing")
        # unknown fields, when the document says they are refused
        if s.get("additionalProperties") is False:
            expect_400(dict(base, surplus=1), "surplus", "unknown field")
        if s.get("minProperties"):
            r = master.request(method, concrete, body={})
            assert r.status == 400, f"{name} with {{}}: {r!r}"
            check_answer(doc, method, path, op, r, " (empty object)")
        # a body that is not JSON, and an array
        for raw, what in ((b"{not json", "not JSON"), (b"[1]", "an array")):
            r = master.request(method, concrete, raw=raw, headers={"Content-Type": "application/json"})
            assert r.status == 400, f"{name} with {what}: {r!r}"
            check_answer(doc, method, path, op, r, f" ({what})")
        # enums are enforced
        for field, fs in s.get("properties", {}).items():
            if "enum" in resolve(doc, fs):
                expect_400(dict(base, **{field: "no-such-value"}), field, f"{field} out of enum")
    # a bad URL names the url field (the command line's parser)
    r = master.request("post", "/instances", body={"url": "client://127.0.0.1:99999/x:1"})
    assert r.status == 400 and r.json().get("field") == "url", r
    r = master.request("post", "/instances", body={"url": "master://127.0.0.1:1"})
    assert r.status == 400 and r.json().get("field") == "url", r
    assert len(checked) >= 10, checked
    # and none of that made or changed an instance
    lst = master.request("get", "/instances").json()
    assert [(i["id"], i["alias"], i["url"]) for i in lst] == \
        [(inst["id"], inst["alias"], inst["url"])], lst


def test_documented_404_and_413_are_real(master):
    doc = master.spec()
    inst = master.request("post", "/instances", body=new_instance_body()).json()
    n404 = n413 = 0
    for method, path, op, _ in operations(doc):
        name = f"{method.upper()} {path}"
        body = None
        if "requestBody" in op:
            body = valid_body(doc, op["requestBody"]["content"]["application/json"]["schema"])
        if "404" in op["responses"]:
            assert "{id}" in path or "{name}" in path, f"{name} documents 404 but has no id"
            r = master.request(method, path.replace("{id}", "0badc0de").replace("{name}", "0badc0de"),
                               body=body)
            assert r.status == 404, f"{name} with an unknown id: {r!r}"
            check_answer(doc, method, path, op, r, " (unknown id)")
            n404 += 1
        concrete = path.replace("{id}", inst["id"])
        if path == "/tcping":
            concrete += f"?target={LOOPBACK}:{master.port}"
        if "413" in op["responses"]:
            r = master.request(method, concrete, raw=b" " * BIG,
                               headers={"Content-Type": "application/json"})
            assert r.status == 413, f"{name} with a body of {BIG} bytes: {r!r}"
            check_answer(doc, method, path, op, r, " (body too large)")
            n413 += 1
    assert n404 >= 5 and n413 >= 10, (n404, n413)
    # the refused big requests changed nothing: same instance, same key
    r = master.request("get", f"/instances/{inst['id']}")
    assert r.status == 200 and r.json()["url"] == inst["url"], r


# --------------------------------------------------------------------------------------
# 5. no undocumented routes; the docs page
# --------------------------------------------------------------------------------------

PLAUSIBLE = ["/instance", "/instance/0badc0de", "/instances/", "/instances/0badc0de/log",
             "/instances/0badc0de/logs/1", "/instances/0badc0de/events",
             "/instances/0badc0de/start", "/event", "/logs", "/log", "/status", "/health",
             "/healthz", "/version", "/config", "/keys", "/ping", "/swagger.json",
             "/openapi.yaml", "/openapi", "/doc", "/docs/", "/docs.html", "/metric", "", "/"]
PLAUSIBLE_ROOT = ["//api/v2/instances", "//api/v0/instances", "//api/instances", "//api",
                  "//api/v1instances", "//v1/instances", "//instances", "//api/v1.1/info",
                  "//openapi.json", "//docs"]
# "//metrics" is served (the scrapers' default path, with the key: docs/master.md, outside
# the document's /api/v1 server; tests/integration/21_metrics_test.py covers it).


def test_no_undocumented_routes(master):
    doc = master.spec()
    documented = {p for _, p, _, _ in operations(doc)}
    for path in PLAUSIBLE + PLAUSIBLE_ROOT:
        assert path not in documented
        for method in ("GET", "POST"):
            r = master.request(method, path, body={} if method == "POST" else None)
            assert r.status == 404, f"{method} {path or '(empty)'} should be 404: {r!r}"
            errs = validate(doc, {"$ref": "#/components/schemas/Error"}, r.json())
            assert not errs, f"{method} {path}: 404 body is not an Error: {errs}"


def test_other_methods_on_documented_paths_are_405(master):
    doc = master.spec()
    inst = master.request("post", "/instances", body=new_instance_body()).json()
    for path, item in doc["paths"].items():
        concrete = path.replace("{id}", inst["id"])
        allowed = {m.upper() for m in METHODS if m in item}
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if method in allowed:
                continue
            r = master.request(method, concrete, body={} if method in ("POST", "PUT", "PATCH") else None)
            assert r.status == 405, f"{method} {path} is not documented: expected 405, got {r!r}"
            errs = validate(doc, {"$ref": "#/components/schemas/Error"}, r.json())
            assert not errs, f"{method} {path}: 405 body is not an Error: {errs}"
            allow = {a.strip() for a in r.headers.get("allow", "").split(",") if a.strip()}
            assert allow - {"HEAD"} == allowed, \
                f"{method} {path}: Allow {sorted(allow)} but documented {sorted(allowed)}"
    # the instance survived all that
    assert master.request("get", f"/instances/{inst['id']}").status == 200


def test_docs_page_is_self_contained_html(master):
    r = master.request("GET", "/docs", key=None)
    assert r.status == 200, r
    assert r.ctype.startswith("text/html"), r.ctype
    html = r.body.decode()
    assert len(r.body) < 30 * 1024, f"docs page is {len(r.body)} bytes"
    assert re.search(r"""fetch\(\s*["']openapi\.json["']""", html), "the page does not load openapi.json"
    # offline: nothing is loaded from another origin
    for m in re.finditer(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, re.I):
        assert not re.match(r"^(https?:)?//", m.group(1)), f"external reference {m.group(1)}"
    assert not re.search(r"@import|<link[^>]+stylesheet", html, re.I), "external stylesheet"
    assert "localStorage" not in html and "sessionStorage" not in html and "document.cookie" not in html, \
        "the key must stay in memory"


# --------------------------------------------------------------------------------------
# 6. the page in headless Chromium
# --------------------------------------------------------------------------------------

@pytest.mark.asan_skip
def test_docs_page_renders_every_path(master, tmp_path):
    chromium = require_tool("chromium")
    doc = master.spec()
    url = f"http://{LOOPBACK}:{master.port}{PREFIX}/docs"
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--no-proxy-server", f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=10000", "--dump-dom", url]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        import os
        import signal
        os.killpg(proc.pid, signal.SIGKILL)     # chromium's helpers are in its group
        proc.communicate(timeout=10)
        raise AssertionError("chromium --dump-dom did not finish within 90 s")
    dom = out.decode("utf-8", "replace")
    assert proc.returncode == 0 and dom, \
        f"chromium exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}"
    assert 'data-ready="1"' in dom, "the page did not finish rendering:\n" + dom[-2000:]
    for method, path, op, _ in operations(doc):
        assert f'data-path="{path}" data-method="{method}"' in dom, \
            f"{method.upper()} {path} is not rendered"
        assert f'class="path">{path}<' in dom, f"{path} is not shown"
        assert f">{op['operationId']}<" in dom, f"operationId {op['operationId']} is not shown"
    for name in doc["components"]["schemas"]:
        assert f'id="schema-{name}"' in dom, f"schema {name} is not rendered"
