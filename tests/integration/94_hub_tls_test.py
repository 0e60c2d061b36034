"""The hub terminating TLS on its https= port with the certificates of certs=<dir>
(docs/hub.md §1, "Terminated HTTPS"): curl --cacert to a terminated host (forwarded
headers say https), a wildcard certificate serving two names, a certificate replaced on disk
served to the next connection while a connection opened before keeps working, a pair added
and picked up on SIGHUP, and a pass-through (https type) route beside terminated ones on the
same port. One hub serves the module (certificates checked every 200ms); the SIGHUP case
starts a hub of its own whose timer never fires."""
import hashlib
import json
import socket
import ssl
import time

import pytest

from conftest import _failed
from harness.certs import CertFactory
from harness.net import wait_until
from hub_util import (USER_IP, HubStack, Route, account, curl, header_values, install_cert,
                      s_client, ws_exchange)

TERM_NAMES = ("app.hub.test", "a.w.hub.test", "b.w.hub.test")


class Ctx:
    pass


def _fp(der):
    return hashlib.sha256(der).hexdigest()


def _served(port, name, ca_pem):
    """The DER certificate the hub serves for SNI <name>, verified against the test CA."""
    ctx = ssl.create_default_context(cafile=str(ca_pem))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            return t.getpeercert(binary_form=True)


def _pem_der(path):
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def curl_https(port, name, ca, path="/", extra=()):
    r = curl("--cacert", str(ca), "--resolve", f"{name}:{port}:127.0.0.1",
             "--interface", USER_IP, "-o", "-", "-w", "\n%{http_code}", *extra,
             f"https://{name}:{port}{path}")
    assert r.returncode == 0, f"curl https://{name}: {r.stderr!r}"
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code), body


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    d = tmp_path_factory.mktemp("hubtls")
    st = HubStack(d)
    try:
        c = Ctx()
        c.st = st
        c.ca = CertFactory(d / "ca")
        c.certs = d / "certs"
        c.certs.mkdir()
        c.app_crt = install_cert(c.ca, c.certs, "app", 1, "app.hub.test")
        install_cert(c.ca, c.certs, "wild", 2, "*.w.hub.test")
        # A pass-through name with a certificate too: the route decides, not the file.
        install_cert(c.ca, c.certs, "sec", 3, "sec.hub.test")
        c.acct = account("tls")
        c.hub = st.hub([c.acct], http=True, https=True, params=f"certs={c.certs}",
                       env={"POSTERN_RELOAD_INTERVAL": "200ms"})
        c.A, c.B = st.http_echo("A"), st.http_echo("B")
        c.sec = st.tls_echo("sec.hub.test")
        c.ws = st.ws_echo()
        c.agent = st.agent(c.hub, c.acct["token"], [
            Route("http", c.A.port, host="app.hub.test"),
            Route("http", c.A.port, host="a.w.hub.test"),
            Route("http", c.B.port, host="b.w.hub.test"),
            Route("https", c.sec.port, host="sec.hub.test"),
            Route("http", c.ws.port, host="ws.w.hub.test"),
        ])
        yield c
    finally:
        st.cleanup()


@pytest.fixture
def t(tls, request):
    yield tls
    if _failed(request):
        print(tls.st.outputs())


def test_terminated_https_forwarded_headers(t):
    port = t.hub.https_port
    code, body = curl_https(port, "app.hub.test", t.ca.ca_pem, "/hello",
                            extra=("-H", "X-Forwarded-Proto: http"))
    assert code == 200, body
    rec = json.loads(body)
    assert rec["backend"] == "A" and rec["path"] == "/hello", rec
    assert header_values(rec, "X-Forwarded-Proto") == ["https"], rec["headers"]
    assert [v.strip() for v in header_values(rec, "X-Forwarded-For")] == [USER_IP], rec["headers"]
    # The plain http= port still says http for the same route.
    r = curl("--resolve", f"app.hub.test:{t.hub.http_port}:127.0.0.1",
             f"http://app.hub.test:{t.hub.http_port}/plain")
    assert header_values(json.loads(r.stdout), "X-Forwarded-Proto") == ["http"]
    # A name with a certificate but no route: the hub's own 404 page, over TLS.
    install_cert(t.ca, t.certs, "lost", 9, "lost.hub.test")
    wait_until(lambda: curl("--cacert", str(t.ca.ca_pem), "--resolve",
                            f"lost.hub.test:{port}:127.0.0.1", "-o", "/dev/null",
                            f"https://lost.hub.test:{port}/").returncode == 0,
               timeout=5, what="the added certificate for lost.hub.test")
    code, body = curl_https(port, "lost.hub.test", t.ca.ca_pem)
    assert code == 404 and b"no route for host" in body, body


def test_wildcard_certificate_serves_two_names(t):
    port = t.hub.https_port
    for name, backend in (("a.w.hub.test", "A"), ("b.w.hub.test", "B")):
        code, body = curl_https(port, name, t.ca.ca_pem, "/w")
        assert code == 200, (name, body)
        assert json.loads(body)["backend"] == backend
    # One label only: x.y.w.hub.test is not covered, and no pass-through route has it.
    rc, out, err, fp = s_client(port, "x.y.w.hub.test", timeout=8)
    assert fp is None, "a certificate was served for a name no certificate covers"


def test_websocket_over_terminated_tls(t):
    """wss:// to an http route: the hub ends TLS, the 101 turns the exchange into a relay."""
    msgs = ["one", "x" * 70000, "three"]
    assert ws_exchange(t.hub.https_port, "ws.w.hub.test", msgs, cafile=t.ca.ca_pem) == msgs


def test_certificate_replaced_on_disk_without_restart(t):
    port = t.hub.https_port
    before = _served(port, "app.hub.test", t.ca.ca_pem)
    assert _fp(before) == _fp(_pem_der(t.app_crt))
    # A keep-alive connection opened before the swap.
    ctx = ssl.create_default_context(cafile=str(t.ca.ca_pem))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn = ctx.wrap_socket(raw, server_hostname="app.hub.test")
    req = b"GET /ka HTTP/1.1\r\nHost: app.hub.test\r\n\r\n"
    f = conn.makefile("rb")

    def one():
        conn.sendall(req)
        status = f.readline()
        n = 0
        while True:
            line = f.readline()
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
            if line in (b"\r\n", b""):
                break
        f.read(n)
        return status

    try:
        assert b" 200 " in one()
        new_crt = install_cert(t.ca, t.certs, "app", 11, "app.hub.test")
        want = _fp(_pem_der(new_crt))
        wait_until(lambda: _fp(_served(port, "app.hub.test", t.ca.ca_pem)) == want,
                   timeout=8, what="the replaced certificate served")
        assert b" 200 " in one(), "the connection opened before the swap broke"
    finally:
        conn.close()
    t.hub.proc.wait_for_log(r"tls: certs: reloaded .*app\.crt", timeout=2, start=0)


def test_passthrough_and_terminated_on_one_port(t):
    port = t.hub.https_port
    # sec.hub.test has an https route: relayed undecrypted to the backend's own certificate.
    rc, out, err, fp = s_client(port, "sec.hub.test", data=b"ping\n")
    assert fp == t.sec.fingerprint, (rc, err)
    assert b"sec.hub.test echo: ping" in out, out
    # app.hub.test has an http route: terminated with the hub's certificate.
    code, _ = curl_https(port, "app.hub.test", t.ca.ca_pem)
    assert code == 200
    # No SNI: closed, as before.
    rc, out, err, fp = s_client(port, None, timeout=8)
    assert fp is None


def test_sighup_picks_up_a_new_pair(tmp_path):
    st = HubStack(tmp_path / "h")
    try:
        ca = CertFactory(tmp_path / "ca")
        certs = tmp_path / "certs"
        certs.mkdir()
        install_cert(ca, certs, "one", 1, "one.hub.test")
        acct = account("hup")
        hub = st.hub([acct], http=False, https=True, params=f"certs={certs}",
                     env={"POSTERN_RELOAD_INTERVAL": "1h"})
        A = st.http_echo("A")
        st.agent(hub, acct["token"], [Route("http", A.port, host="one.hub.test"),
                                      Route("http", A.port, host="two.hub.test")])
        assert curl_https(hub.https_port, "one.hub.test", ca.ca_pem)[0] == 200
        install_cert(ca, certs, "two", 2, "two.hub.test")
        time.sleep(0.3)
        rc, out, err, fp = s_client(hub.https_port, "two.hub.test", timeout=8)
        assert fp is None, "the new pair was served before SIGHUP (the timer is 1h)"
        mark = hub.proc.mark()
        hub.reload()
        hub.proc.wait_for_log(r"tls: certs: added .*two\.crt", timeout=5, start=mark)
        assert curl_https(hub.https_port, "two.hub.test", ca.ca_pem)[0] == 200
    except BaseException:
        print(st.outputs())
        raise
    finally:
        st.cleanup()
