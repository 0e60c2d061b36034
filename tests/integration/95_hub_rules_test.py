"""An http route's rules on the hub (docs/hub.md §2, "HTTP route rules"): path routes of two
agents under one host (longest prefix wins, segments, encoded and dot-segment paths), the Host
header rewritten, basic authentication (none, wrong user, wrong password, right: 401 with
WWW-Authenticate, then 200 without the credentials reaching the service), an allow-list of
client addresses (403), and the redirect of http= to https:// (308) on a hub that terminates
TLS. One hub and two agents serve the module."""
import base64
import json

import pytest

from conftest import _failed
from harness.certs import CertFactory
from hub_util import (USER_IP, HubStack, Route, account, assert_page, auth_spec, curl,
                      header_values, http_request, install_cert)

OTHER_IP = "127.0.0.3"


def basic(user, password):
    return ("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


class Ctx:
    pass


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    d = tmp_path_factory.mktemp("hubrules")
    st = HubStack(d)
    try:
        c = Ctx()
        c.st = st
        c.ca = CertFactory(d / "ca")
        certs = d / "certs"
        install_cert(c.ca, certs, "r", 1, "r.hub.test")
        c.acct = account("rules")
        c.guarded = account("guarded", http_auth=auth_spec("op", "0p pass"))
        c.hub = st.hub([c.acct, c.guarded], http=True, https=True, params=f"certs={certs}")
        c.A, c.B = st.http_echo("A"), st.http_echo("B")
        c.agent1 = st.agent(c.hub, c.acct["token"], [
            Route("http", c.A.port, host="p.hub.test"),
            Route("http", c.A.port, host="h.hub.test", host_header="internal.example"),
            Route("http", c.A.port, host="auth.hub.test", auth=auth_spec("alice", "s3cret pw")),
            Route("http", c.A.port, host="al.hub.test", allow=f"{OTHER_IP}/32"),
            Route("http", c.A.port, host="r.hub.test", redirect="https"),
        ], label="agent1")
        c.agent2 = st.agent(c.hub, c.acct["token"], [
            Route("http", c.B.port, host="p.hub.test", path="/api", name="api"),
            Route("http", c.B.port, host="p.hub.test", path="/static/", name="static"),
        ], label="agent2")
        c.agent3 = st.agent(c.hub, c.guarded["token"], [
            Route("http", c.A.port, host="g.hub.test"),
            Route("http", c.A.port, host="g2.hub.test", auth=auth_spec("own", "pw")),
        ], label="agent3")
        yield c
    finally:
        st.cleanup()


@pytest.fixture
def r(rules, request):
    yield rules
    if _failed(request):
        print(rules.st.outputs())


def _backend(resp):
    assert resp.status == 200, resp
    return resp.json()["backend"]


def test_path_routes_to_two_agents(r):
    port = r.hub.http_port
    cases = {
        "/": "A", "/x/y": "A", "/api": "B", "/api/v1/items?q=1": "B", "/apix": "A",
        "/api?x": "B", "/%61pi/v1": "B", "//api/v1": "B", "/static/app.js": "B",
        "/static": "A",
    }
    for path, want in cases.items():
        assert _backend(http_request(port, "p.hub.test", path)) == want, path
    # The service gets the path as the user sent it.
    assert http_request(port, "p.hub.test", "/api/v1?q=1").json()["path"] == "/api/v1?q=1"
    for bad in ("/x/../api/v1", "/api/%2e%2e/x", "/a%2Fb", "/a\\b"):
        assert_page(http_request(port, "p.hub.test", bad), 400, "bad request")


def test_host_header_rewritten(r):
    rec = http_request(r.hub.http_port, "h.hub.test", "/h").json()
    assert header_values(rec, "Host") == ["internal.example"], rec["headers"]
    assert header_values(rec, "X-Forwarded-Proto") == ["http"]


def test_basic_auth(r):
    port = r.hub.http_port
    for headers in ((), (basic("bob", "s3cret pw"),), (basic("alice", "wrong"),),
                    (("Authorization", "Basic !!notbase64"),)):
        resp = http_request(port, "auth.hub.test", "/private", headers=headers)
        assert_page(resp, 401, "needs a user name and password")
        assert resp.header("WWW-Authenticate") == 'Basic realm="auth.hub.test", charset="UTF-8"'
    resp = http_request(port, "auth.hub.test", "/private", headers=(basic("alice", "s3cret pw"),))
    assert resp.status == 200, resp
    assert header_values(resp.json(), "Authorization") == [], "the credentials reached the service"


def test_account_http_auth(r):
    """The account's http_auth guards its routes without auth= of their own; a route's own
    auth= wins over it."""
    port = r.hub.http_port
    assert_page(http_request(port, "g.hub.test", "/"), 401, "needs a user name and password")
    assert_page(http_request(port, "g.hub.test", "/", headers=(basic("op", "wrong"),)), 401,
                "needs a user name")
    resp = http_request(port, "g.hub.test", "/", headers=(basic("op", "0p pass"),))
    assert resp.status == 200 and header_values(resp.json(), "Authorization") == []
    assert_page(http_request(port, "g2.hub.test", "/", headers=(basic("op", "0p pass"),)), 401,
                "needs a user name")
    assert http_request(port, "g2.hub.test", "/", headers=(basic("own", "pw"),)).status == 200
    # Another account's routes are not guarded by it.
    assert http_request(port, "p.hub.test", "/").status == 200


def test_allow_list(r):
    port = r.hub.http_port
    assert_page(http_request(port, "al.hub.test", "/", src_ip=USER_IP), 403, "may not use")
    assert http_request(port, "al.hub.test", "/", src_ip=OTHER_IP).status == 200


def test_redirect_to_https(r):
    resp = http_request(r.hub.http_port, "r.hub.test", "/a/b?c=d")
    assert resp.status == 308, resp
    assert resp.header("Location") == f"https://r.hub.test:{r.hub.https_port}/a/b?c=d"
    # Over https the route serves.
    res = curl("--cacert", str(r.ca.ca_pem), "--resolve", f"r.hub.test:{r.hub.https_port}:127.0.0.1",
               f"https://r.hub.test:{r.hub.https_port}/a/b?c=d")
    assert res.returncode == 0, res.stderr
    assert header_values(json.loads(res.stdout), "X-Forwarded-Proto") == ["https"]
