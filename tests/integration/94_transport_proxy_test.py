"""type=2 through a real reverse proxy and through a hub:

- nginx (started by the test with its own nginx.conf in a temp dir, by PID) forwards
  WebSocket upgrades on /tunnel to the server; the client is given only nginx's address
  (type=2&path=/tunnel): a download and an upload compared by sha256, 50 concurrent
  connections, half-close; the same with nginx terminating TLS (client tls=2 with ca=)
- a hub with type=2 and an agent (given nothing) publishing a tcp route; an agent given
  type=2 itself; an agent given type=2&tls=1 over wss:// to a hub with type=2&tls=1
"""
import os
import socket
import time

import pytest

from conftest import connect, digest_handler, echo_handler, recv_all, sha256_hex
from harness.certs import CertFactory
from harness.nginx import Nginx, tls_directives
from hub_util import Route, account, hubstack, port_block, wait_echo  # noqa: F401 - fixture
from tunnel_util import (Pattern, Tunnel, concurrent_echo, download_all,
                         stream_source_handler, upload_pattern)

KEY = "proxy" + os.urandom(6).hex()

NGINX_SERVER = """
    server {{
        listen 127.0.0.1:{{port}}{ssl};
        {certs}
        location /tunnel {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }}
        location / {{ return 404; }}
    }}
"""


def nginx_front(directory, upstream, cert=None):
    """nginx (harness/nginx.py) in front of the tunnel port <upstream> on /tunnel, with
    TLS when <cert> (certificate, key) is given."""
    return Nginx(directory, NGINX_SERVER.format(upstream=upstream, ssl=" ssl" if cert else "",
                                                certs=tls_directives(cert)))



@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    f = CertFactory(tmp_path_factory.mktemp("proxy-certs"))
    crt, key = f.leaf("nginx", 3)[:2]
    return f.ca_pem, crt, key


@pytest.fixture
def via_nginx(postern, tmp_path, request):
    """Factory: via_nginx(flow, backend, tls_front) -> Tunnel whose client reaches the
    server only through nginx's /tunnel; nginx is stopped by PID at teardown."""
    started = []

    def make(flow, backend, tls_front=None):
        t = Tunnel(postern, flow, backend, key=KEY, server_params="type=2&path=/tunnel")
        t.start_server()
        d = tmp_path / f"nginx{len(started)}"
        d.mkdir()
        n = nginx_front(d, t.tunnel_port, cert=tls_front[1:] if tls_front else None).start()
        started.append(n)
        t.client_dial_port = n.port
        cp = "type=2&path=/tunnel"
        if tls_front:
            cp += f"&tls=2&ca={tls_front[0]}&sni=localhost"
        t.client_params = cp
        t.start_client()
        t.wait_ready()
        t.nginx = n
        return t

    yield make
    for n in started:
        n.stop()
        print(f"---- nginx error.log ----\n{n.error_log()[-3000:]}")   # shown on failure


@pytest.mark.asan_keep("https")
@pytest.mark.parametrize("front", ["http", "https"])
def test_through_nginx_transfers_and_concurrency(front, via_nginx, backends, certs):
    bulk = Pattern(16)
    src = backends(stream_source_handler(bulk), name="source")
    t = via_nginx("reverse", src.port, certs if front == "https" else None)
    n, digest = download_all(t.user_port, timeout=60)
    _, sent_n, sent_digest = src.wait_record(lambda r: r[0] == "sent", timeout=10)
    assert (n, digest) == (bulk.size, sent_digest)
    # the server saw its client come through nginx, not directly
    assert "type=2" in t.client.output()

    up = backends(digest_handler, name="digest")
    t2 = via_nginx("forward", up.port, certs if front == "https" else None)
    n, digest, reply = upload_pattern(t2.user_port, bulk, timeout=60)
    assert reply == f"{bulk.size} {digest}\n"


def test_through_nginx_50_concurrent_and_half_close(via_nginx, backends):
    echo = backends(echo_handler, name="echo")
    t = via_nginx("reverse", echo.port)
    bad = concurrent_echo(t.user_port, 50, timeout=60)
    assert not bad, f"{len(bad)} of 50 failed, e.g. {list(bad.items())[:5]}"
    dig = backends(digest_handler, name="digest")
    t2 = via_nginx("forward", dig.port)
    payload = b"half-close|" + bytes(range(256)) * 2000
    with connect(t2.user_port) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, limit=200)
    assert reply.decode() == f"{len(payload)} {sha256_hex(payload)}\n"


def test_nginx_other_path_is_not_the_tunnel(via_nginx, echo_backend, postern):
    """A client given the wrong path through nginx never attaches (nginx answers 404)."""
    t = via_nginx("reverse", echo_backend.port)
    bad = Tunnel(postern, "reverse", echo_backend.port, key=KEY,
                 client_dial_port=t.nginx.port, client_params="type=2&path=/elsewhere")
    bad.tunnel_port = t.tunnel_port
    p = bad.start_client()
    p.wait_for_log(r"404", timeout=10)


# --------------------------------------------------------------------------------------
# hub
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("agent_params", ["", "type=2"])
def test_hub_type2_agent_publishes_a_tcp_route(agent_params, hubstack):
    base = port_block(10)
    alice = account("alice", ports=[f"{base}-{base + 9}"])
    hub = hubstack.hub([alice], http=False, ports=(base, base + 9), params="type=2")
    echo = hubstack.tcp(echo_handler, name="echo")
    a = hubstack.agent(hub, alice["token"], [Route("tcp", echo.port, port=base + 1)],
                       params=agent_params)
    assert "type=2" in a.proc.output()
    deadline = time.monotonic() + 10
    while True:
        try:
            with connect(base + 1, timeout=3) as s:
                s.sendall(b"through the hub over websocket")
                s.shutdown(socket.SHUT_WR)
                got = recv_all(s, limit=100)
            if got == b"through the hub over websocket":
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the route never answered"
        time.sleep(0.2)


def test_hub_type2_agent_over_wss(hubstack):
    """An agent given type=2&tls=1 reaches a hub with type=2&tls=1 over wss:// (its
    control and data channels inside TLS under each upgrade, the data pinned)."""
    base = port_block(2)
    alice = account("alice", ports=[f"{base}-{base + 1}"])
    hub = hubstack.hub([alice], http=False, ports=(base, base + 1), params="type=2&tls=1")
    echo = hubstack.tcp(echo_handler, name="echo")
    hubstack.agent(hub, alice["token"], [Route("tcp", echo.port, port=base + 1)],
                   params="type=2&tls=1")
    wait_echo(base + 1)
