"""Data-channel TLS of the tunnel: tls=1 end to end, tls=1 against a man in the middle
on the data connections (certificate fingerprint check), tls=2 with a CA and SNI."""
import os

import pytest

from conftest import curl, recorder_handler, require_tool
from tunnel_util import (count_lines, expect_no_data, relays, self_signed,  # noqa: F401
                         tunnel, wait_curl)

NO_DATA_ENV = {"POSTERN_POOL_WAIT": "2s"}


@pytest.mark.parametrize("flow", ["reverse", "forward"])
def test_tls1_curl_through_tunnel(flow, tunnel, http_server):
    port, path, content = http_server
    t = tunnel(flow, port, server_params="tls=1").start()
    r = curl(f"http://127.0.0.1:{t.user_port}{path}")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == content


def test_tls1_through_a_transparent_relay_works(tunnel, relays, http_server):
    """Control for the MITM test below: the same relay, passing data connections
    through untouched, does not break the tunnel."""
    port, path, content = http_server
    # an explicit key: the default one derives from the port the client dials
    t = tunnel("reverse", port, key="relay" + os.urandom(6).hex(), server_params="tls=1")
    t.start_server()
    relay = relays(t.tunnel_port, name="transparent")
    t.client_dial_port = relay.port
    client = t.start_client()
    t.wait_ready()
    wait_curl(t.user_port, path, content, timeout=10)
    relay.wait(lambda cs: any(c.kind == b"D" for c in cs), timeout=5,
               what="a data connection through the relay")
    assert count_lines(client, r"(?i)fingerprint") == 0, client.output()


def test_tls1_mitm_on_data_connections_is_detected(tunnel, relays, backends, tmp_path):
    require_tool("openssl")
    rec = backends(recorder_handler, name="recorder")
    t = tunnel("reverse", rec.port, key="mitm" + os.urandom(6).hex(), server_params="tls=1",
               env=NO_DATA_ENV)
    t.start_server()
    relay = relays(t.tunnel_port, mitm_cert=self_signed(tmp_path / "mitm"), name="mitm")
    t.client_dial_port = relay.port
    client = t.start_client()

    relay.wait(lambda cs: any(c.intercepted for c in cs), timeout=10,
               what="a data connection intercepted by the MITM")
    client.wait_for_log(r"(?i)fingerprint", timeout=10)

    token = b"secret-user-bytes-" + os.urandom(8).hex().encode()
    how = expect_no_data(t.user_port, timeout=4, payload=token)
    with pytest.raises(AssertionError):
        rec.wait_record(lambda data: token in data, timeout=3)
    assert not any(token in r for r in rec.records), \
        f"the backend received the user's bytes through the MITM ({how})"


@pytest.fixture
def tls2_server_cert(certs):
    crt, key = certs.leaf("tunnel-server", serial=2)
    return certs.ca_pem, crt, key


def test_tls2_verified_with_ca_and_sni(tunnel, http_server, tls2_server_cert):
    port, path, content = http_server
    ca, crt, key = tls2_server_cert
    t = tunnel("reverse", port, server_params=f"tls=2&crt={crt}&key={key}",
               client_params=f"ca={ca}&sni=localhost").start()
    wait_curl(t.user_port, path, content, timeout=10)


@pytest.mark.asan_keep("wrong-sni")
@pytest.mark.parametrize("case", ["wrong-sni", "no-ca"])
def test_tls2_verification_failure_stops_data(case, tunnel, backends, tls2_server_cert):
    ca, crt, key = tls2_server_cert
    rec = backends(recorder_handler, name="recorder")
    client_params = f"ca={ca}&sni=wrong.example" if case == "wrong-sni" else "sni=localhost"
    t = tunnel("reverse", rec.port, server_params=f"tls=2&crt={crt}&key={key}",
               client_params=client_params, env=NO_DATA_ENV)
    t.start_server()
    client = t.start_client()
    client.wait_for_log(r"(?i)certificate|verify", timeout=10)

    token = b"must-not-arrive-" + os.urandom(8).hex().encode()
    how = expect_no_data(t.user_port, timeout=4, payload=token)
    with pytest.raises(AssertionError):
        rec.wait_record(lambda data: token in data, timeout=2)
    assert not any(token in r for r in rec.records), \
        f"the backend received the user's bytes despite the failed verification ({how})"
