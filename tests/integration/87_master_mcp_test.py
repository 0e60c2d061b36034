"""The master's MCP endpoint, <prefix>/v1/mcp (docs/master.md, "MCP").

1. The official TypeScript SDK's client (tests/web/mcp_check.mjs, @modelcontextprotocol/sdk
   from tests/web/package-lock.json) connects with the key, lists the tools and calls each
   one against this live master: a forwarder is created, read, fed bytes, stopped, started,
   renamed, moved, its logs read, deleted; a wrong key is refused.
2. Raw JSON-RPC over urllib: the error codes (-32700, -32600, -32601, -32602 naming the
   field) and their HTTP statuses, 202 for a notification, 405 for GET, 413 over 64 KiB,
   415 for another Content-Type, 400 for an unknown MCP-Protocol-Version.
3. The key guards it like the REST API: no key, a wrong one, a wrong bearer get 401 and no
   tool runs; the key never shows in the master's output beyond its one "API key:" line.
"""
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import LOOPBACK, REPO, echo_handler, free_port
from master_util import start_master

SDK = REPO / "tests" / "web" / "node_modules" / "@modelcontextprotocol" / "sdk"


@pytest.fixture
def master(postern, tmp_path):
    return start_master(postern, tmp_path)


def mcp_url(m):
    return f"http://{LOOPBACK}:{m.port}{m.prefix}/v1/mcp"


def post(m, body, key="default", headers=None, method="POST"):
    """Send <body> (bytes, or JSON-encoded) to the MCP endpoint; return (status, headers
    (case-insensitive), parsed JSON or None)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if key is not None:
        h["X-API-Key"] = m.key if key == "default" else key
    h.update(headers or {})
    req = urllib.request.Request(mcp_url(m), data=data, headers=h, method=method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as r:
            status, hdrs, text = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, text = e.code, e.headers, e.read()
    return status, hdrs, (json.loads(text) if text else None)


def rpc(method, params=None, rid=1):
    msg = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def call(name, args):
    return rpc("tools/call", {"name": name, "arguments": args})


def test_sdk_client_calls_every_tool(master, backends):
    node = shutil.which("node")
    if node is None or not SDK.is_dir():
        reason = "node or tests/web/node_modules/@modelcontextprotocol/sdk missing " \
                 "(cd tests/web && npm ci)"
        if os.environ.get("POSTERN_REQUIRE_TOOLS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    echo = backends(echo_handler, name="echo")
    res = subprocess.run([node, "tests/web/mcp_check.mjs", mcp_url(master), master.key,
                          str(free_port()), str(echo.port), str(free_port())],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "mcp_check: ok:" in res.stdout, \
        f"mcp_check failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    # what the SDK did is what the REST API sees: the instance it deleted is gone
    assert master.ok("GET", "/instances") == []
    out = master.p.output()
    assert out.count(master.key) == 1, "the API key shows in the master's output beyond its line"


def test_raw_jsonrpc(master):
    st, h, v = post(master, rpc("initialize", {"protocolVersion": "2025-03-26", "capabilities": {},
                                               "clientInfo": {"name": "py", "version": "1"}}))
    assert st == 200 and h["Content-Type"].startswith("application/json"), (st, h, v)
    assert v["id"] == 1 and v["result"]["protocolVersion"] == "2025-03-26", v
    assert v["result"]["serverInfo"]["name"] == "postern" and "tools" in v["result"]["capabilities"]
    st, _, v = post(master, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert st == 202 and v is None, (st, v)
    st, _, v = post(master, rpc("ping", rid="p1"))
    assert st == 200 and v == {"jsonrpc": "2.0", "id": "p1", "result": {}}, v
    st, _, v = post(master, rpc("tools/list"))
    assert st == 200 and len(v["result"]["tools"]) == 8, v

    # JSON-RPC errors
    for body, status, code in ((b"{not json", 400, -32700), (b"", 400, -32700),
                               (b"[]", 400, -32600), (b'{"jsonrpc": "2.0", "id": 1}', 400, -32600),
                               (b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}', 400, -32600),
                               (rpc("prompts/list"), 200, -32601)):
        st, _, v = post(master, body)
        assert st == status and v["error"]["code"] == code, (body, st, v)
    st, _, v = post(master, b"{not json")
    assert v["id"] is None, v
    for msg, field in ((call("get_instance_logs", {"id": "0badc0de", "lines": "5"}), "lines"),
                       (call("get_instance", {}), "id"),
                       (call("update_instance", {"id": "0badc0de", "action": "jump"}), "action"),
                       (call("create_instance", {"url": "client://127.0.0.1:99999/127.0.0.1:1"}), "url"),
                       (call("create_instance", {"url": "master://127.0.0.1:1"}), "url"),
                       (call("list_instances", {"all": True}), "all"),
                       (rpc("tools/call", {"arguments": {}}), "name"),
                       (call("no_such_tool", {}), "name"),
                       (rpc("initialize", {}), "protocolVersion")):
        st, _, v = post(master, msg)
        assert st == 200 and v["error"]["code"] == -32602, (msg, st, v)
        assert v["error"]["data"]["field"] == field and v["error"]["message"].startswith(field + ":"), v

    # a tool that fails: a result with isError
    st, _, v = post(master, call("get_instance", {"id": "0badc0de"}))
    assert st == 200 and v["result"]["isError"] is True, v
    assert "no such instance" in v["result"]["content"][0]["text"], v

    # a tool that works, seen by the REST API
    url = f"client://{LOOPBACK}:{free_port()}/{LOOPBACK}:{free_port()}?mode=1"
    st, _, v = post(master, call("create_instance", {"url": url, "alias": "raw"}))
    assert st == 200 and v["result"]["isError"] is False, v
    made = v["result"]["structuredContent"]
    assert json.loads(v["result"]["content"][0]["text"]) == made
    assert master.instance(made["id"])["alias"] == "raw"
    st, _, v = post(master, call("get_metrics", {}))
    assert st == 200 and "postern_instances" in v["result"]["content"][0]["text"], v
    st, _, v = post(master, call("delete_instance", {"id": made["id"]}))
    assert st == 200 and v["result"]["structuredContent"] == {"deleted": made["id"]}, v
    assert master.ok("GET", "/instances") == []

    # HTTP: methods, size, media type, protocol version header
    st, h, v = post(master, None, method="GET")
    assert st == 405 and h.get("Allow") == "POST", (st, h)
    st, h, v = post(master, None, method="DELETE")
    assert st == 405, (st, h)
    st, _, v = post(master, b" " * (64 * 1024 + 1))
    assert st == 413, st
    st, _, v = post(master, json.dumps(rpc("ping")).encode(), headers={"Content-Type": "text/plain"})
    assert st == 415 and v["error"]["code"] == -32600, (st, v)
    st, _, v = post(master, rpc("ping"), headers={"MCP-Protocol-Version": "1999-01-01"})
    assert st == 400 and v["error"]["code"] == -32600, (st, v)
    st, _, v = post(master, rpc("ping"), headers={"MCP-Protocol-Version": "2025-06-18"})
    assert st == 200 and v["result"] == {}, (st, v)


def test_key_guards_every_call(master):
    url = f"client://{LOOPBACK}:{free_port()}/{LOOPBACK}:{free_port()}?mode=1"
    create = call("create_instance", {"url": url})
    for key, headers in ((None, None), ("0" * 64, None), ("", None),
                         (None, {"Authorization": "Bearer " + "f" * 64})):
        for msg in (create, rpc("tools/list"), rpc("initialize", {"protocolVersion": "2025-06-18"})):
            st, h, v = post(master, msg, key=key, headers=headers)
            assert st == 401, (key, headers, msg, st, v)
            assert "Bearer" in h.get("WWW-Authenticate", ""), h
    assert master.ok("GET", "/instances") == [], "a refused call created an instance"
    # the documented alternative header works
    st, _, v = post(master, rpc("ping"), key=None, headers={"Authorization": "Bearer " + master.key})
    assert st == 200 and v["result"] == {}, (st, v)
