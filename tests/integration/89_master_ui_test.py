"""The dashboard's forms in headless Chromium (tests/web/page_check.mjs, CHECK=ui): the
sign-in page does not scroll sideways at 360 px; an instance's URL is edited from the page
(a bad one refused next to the field, then PUT, the instance restarted with it); the
guided builder makes a tunnel's server and client and creates both, which then connect
and carry traffic; its "Use this URL" fills the raw URL field."""
from conftest import LOOPBACK, connect, free_port, recv_exact, wait_port
from master_util import page_check, start_master, wait_instance


def test_dashboard_edit_and_guided_pair(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    inst = m.create(f"client://{LOOPBACK}:{free_port()}/{LOOPBACK}:{echo_backend.port}?mode=1",
                    alias="editme")
    new_port = free_port()
    new_url = f"client://{LOOPBACK}:{new_port}/{LOOPBACK}:{echo_backend.port}?mode=1"
    tport, public = free_port(), free_port()
    expect = {
        "edit": {"id": inst["id"], "bad": "client://127.0.0.1:99999/x", "url": new_url},
        "pair": {"tunnel": f"{LOOPBACK}:{tport}", "public": public,
                 "target": f"{LOOPBACK}:{echo_backend.port}"},
    }
    out = page_check(m, "ui", expect)
    assert "page_check: ok: ui: 3 checks" in out, out

    # The edited instance runs with its new URL.
    v = m.instance(inst["id"])
    assert v["url"] == new_url, v
    wait_port(new_port, timeout=10)
    with connect(new_port) as s:
        s.sendall(b"edited")
        assert recv_exact(s, 6) == b"edited"

    # The guided pair: a server and its client, connected; the published port reaches
    # the service behind the client.
    byalias = {i["alias"]: i for i in m.ok("GET", "/instances")}
    server, client = byalias["guided-server"], byalias["guided-client"]
    assert server["url"].startswith("server://") and server["url"].endswith(f"@:{tport}/:{public}")
    assert client["url"].startswith("client://") and f"@{LOOPBACK}:{tport}/" in client["url"]
    wait_instance(m, client["id"], lambda i: i["health"]["state"] == "connected",
                  timeout=15, what="the guided client connected")
    wait_port(public, timeout=10)
    with connect(public) as s:
        s.sendall(b"through the pair")
        assert recv_exact(s, 16) == b"through the pair"
