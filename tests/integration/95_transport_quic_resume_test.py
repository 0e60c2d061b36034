"""A type=1 client that loses its QUIC connection and dials a new one (issue 15,
docs/internals/quic.md "Reconnection", src/tls/quic_resume.c), on loopback, the client
reaching the server through a TCP relay (control) and a UDP relay (QUIC) on one port:

- the relay cuts the control connection: the client's session ends, its QUIC connection
  with it; the next one resumes the TLS session (a ticket of the first) with 0-RTT
  accepted (both ends say it at debug level), and 8 MiB uploads arrive with their sha256
  before and after; a third connection resumes again (each ticket is used once, each
  connection brings a new one); tls=1 (the pin checked again on the resumed session) and
  tls=2 (ca= and sni=: the kept chain verified again)
- the server killed (-9) and started again with the same key: a full handshake, never a
  resumption (tickets are keyed by random bytes of the server process: a ticket key
  derived from the tunnel's key would let another server of that key resume a session
  whose certificate it does not hold); tls=0: the ticket offered is refused; tls=1: none
  is offered (a new self-signed certificate, a new pin)
- POSTERN_QUIC_RETRY=1 (every new Initial without a valid token gets a Retry): the first
  connection goes through a Retry (seen on the UDP relay) and receives a NEW_TOKEN; the
  reconnection presents it and gets no Retry, also after a restart of the server (the
  token key derives from the key)
- a real client's NEW_TOKEN spoiled on the way (its last byte flipped by the UDP relay):
  the server takes it for no token and answers a Retry, the client follows it, resumes,
  and the upload arrives whole
- forged NEW_TOKEN-looking tokens (magic 0x36) in real client Initials: treated as no
  token (RFC 9000 8.1.3): a Retry under POSTERN_QUIC_RETRY=1, the server's own Initial
  otherwise; the server stays up
"""
import socket
import time

import pytest

# tests/harness/quic_wire.py needs python3-cryptography (scripts/deps.sh installs it)
from harness.quic_wire import (INITIAL, RETRY, client_initial, initial_token,  # noqa: E402
                               long_type)
from conftest import digest_handler  # noqa: E402
from harness.certs import CertFactory  # noqa: E402
from quic_util import UdpRelay  # noqa: E402
from tunnel_util import CONNECTED_RE, Pattern, kill9, relays, tunnel, upload_pattern  # noqa: E402,F401

FULL = r"DEBUG quic: full handshake"
RESUMED = r"DEBUG quic: session resumed(.*) \([0-9.]+ ms\)$"


def cut_control(relay):
    """End every TCP connection the relay carries (the client's control connection)."""
    relay.sever()


def upload(t, mib=8):
    bulk = Pattern(mib)
    n, digest, reply = upload_pattern(t.user_port, bulk, 120)
    assert reply == f"{bulk.size} {digest}\n", reply


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    f = CertFactory(tmp_path_factory.mktemp("quic-resume-certs"))
    crt, key = f.leaf("server", 2)[:2]
    return f.ca_pem, crt, key


def start(tunnel, relays, backends, key, server_params, server_env=None, certs=None):
    b = backends(digest_handler, name="digest")
    client_params = "log=debug"
    if certs is not None:       # tls=2: the chain and the name checked
        server_params += f"&crt={certs[1]}&key={certs[2]}"
        client_params += f"&ca={certs[0]}&sni=localhost"
    t = tunnel("reverse", b.port, key=key, server_params=server_params + "&log=debug",
               client_params=client_params, server_env=server_env or {})
    t.start_server()
    relay = relays(t.tunnel_port)
    udp = UdpRelay(relay.port, t.tunnel_port, log=True)
    t.client_dial_port = relay.port
    t.start_client()
    t.wait_ready()
    return t, relay, udp


@pytest.mark.asan_keep("1")
@pytest.mark.parametrize("tls", [1, 2])
def test_a_reconnection_resumes_the_session_with_0rtt(tls, tunnel, relays, backends, certs):
    t, relay, udp = start(tunnel, relays, backends, "resume-0rtt", f"type=1&tls={tls}",
                          certs=certs if tls == 2 else None)
    try:
        upload(t)
        t.client.wait_for_log(FULL, timeout=5)
        t.client.wait_for_log(r"session ticket kept", timeout=5)
        for round_ in (1, 2):
            mark = len(t.client.lines())
            smark = len(t.server.lines())
            cut_control(relay)
            t.client.wait_for_log(CONNECTED_RE, timeout=20, start=mark)
            m = t.client.wait_for_log(RESUMED, timeout=20, start=mark)
            assert m.group(1) == ", 0-RTT accepted (no stream data sent in it)", m.string
            upload(t)
            m = t.server.wait_for_log(r"DEBUG quic: handshake with a client done: (.*)$",
                                      timeout=10, start=smark)
            assert m.group(1) == "resumed, 0-RTT accepted", m.string
            assert t.client.count_lines(FULL, start=mark) == 0, f"round {round_}"
            t.client.wait_for_log(r"session ticket kept", timeout=5, start=mark)
        assert t.server.alive() and t.client.alive()
    finally:
        udp.close()


def _restart(t, relay):
    """kill -9 the server, start it again on the same ports and key; return the client's
    line count before."""
    mark = len(t.client.lines())
    kill9(t.server)
    cut_control(relay)          # the relay's half of the dead server's connection
    t.restart_server()
    return mark


@pytest.mark.asan_skip
def test_after_a_server_restart_a_full_handshake(tunnel, relays, backends):
    for tls in (0, 1):
        t, relay, udp = start(tunnel, relays, backends, f"resume-restart-{tls}",
                              f"type=1&tls={tls}")
        try:
            upload(t, 4)
            t.client.wait_for_log(r"session ticket kept", timeout=5)
            mark = _restart(t, relay)
            t.client.wait_for_log(CONNECTED_RE, timeout=30, start=mark)
            m = t.client.wait_for_log(FULL + r"(.*) \([0-9.]+ ms\)$", timeout=20, start=mark)
            want = " (the server refused the ticket)" if tls == 0 else ""
            assert m.group(1) == want, (tls, m.string)
            upload(t, 4)
            assert t.client.count_lines(RESUMED, start=mark) == 0
        finally:
            udp.close()


def _retries(udp, since=0):
    return sum(1 for _, k, d in udp.log[since:] if k == "s2c" and long_type(d) == RETRY)


def test_a_new_token_skips_the_retry_on_reconnection(tunnel, relays, backends):
    t, relay, udp = start(tunnel, relays, backends, "resume-token", "type=1&tls=0",
                          server_env={"POSTERN_QUIC_RETRY": "1"})
    try:
        upload(t, 4)
        assert _retries(udp) == 1, "the first connection goes through one Retry"
        t.client.wait_for_log(r"NEW_TOKEN kept", timeout=5)
        # reconnection to the same server
        mark, since = len(t.client.lines()), len(udp.log)
        cut_control(relay)
        t.client.wait_for_log(CONNECTED_RE, timeout=20, start=mark)
        t.client.wait_for_log(r"presenting the server's NEW_TOKEN", timeout=20, start=mark)
        upload(t, 4)
        assert _retries(udp, since) == 0, "the token skips the Retry"
        assert any(k == "c2s" and long_type(d) == INITIAL for _, k, d in udp.log[since:])
        # after a restart of the server (same key)
        t.client.wait_for_log(r"NEW_TOKEN kept", timeout=5, start=mark)
        since = len(udp.log)
        mark = _restart(t, relay)
        t.client.wait_for_log(CONNECTED_RE, timeout=30, start=mark)
        upload(t, 4)
        t.client.wait_for_log(r"presenting the server's NEW_TOKEN", timeout=5, start=mark)
        assert _retries(udp, since) == 0, "the token outlives the restart"
    finally:
        udp.close()


def spoil_new_tokens(d):
    """A client Initial bearing a NEW_TOKEN (0x36) with the token's last byte flipped."""
    if long_type(d) != INITIAL:
        return d
    tok = initial_token(d)
    if not tok or tok[0] != 0x36:
        return d
    i = d.find(tok) + len(tok) - 1
    return d[:i] + bytes([d[i] ^ 1]) + d[i + 1:]


def test_a_spoiled_new_token_falls_back_to_retry(tunnel, relays, backends):
    t, relay, udp = start(tunnel, relays, backends, "resume-bad-token", "type=1&tls=0",
                          server_env={"POSTERN_QUIC_RETRY": "1"})
    try:
        upload(t, 4)
        t.client.wait_for_log(r"NEW_TOKEN kept", timeout=5)
        udp.mangle = spoil_new_tokens
        mark, smark, since = len(t.client.lines()), len(t.server.lines()), len(udp.log)
        cut_control(relay)
        t.client.wait_for_log(CONNECTED_RE, timeout=20, start=mark)
        t.client.wait_for_log(r"presenting the server's NEW_TOKEN", timeout=20, start=mark)
        upload(t, 4)
        # the spoiled token counts as none: a Retry, the client follows it (its Retry
        # token, 0xb6, passes unspoiled) and resumes
        assert _retries(udp, since) == 1, _retries(udp, since)
        t.client.wait_for_log(RESUMED, timeout=10, start=mark)
        spoiled = [initial_token(d) for _, k, d in udp.log[since:]
                   if k == "c2s" and long_type(d) == INITIAL and initial_token(d)[:1] == b"\x36"]
        assert spoiled, "no Initial with a NEW_TOKEN went through the relay"
        assert t.server.count_lines(r"INVALID_TOKEN|ERROR", start=smark) == 0
        assert t.server.alive() and t.client.alive()
    finally:
        udp.close()


def _reply(u, timeout=2.0):
    u.settimeout(timeout)
    try:
        return u.recv(65536)
    except socket.timeout:
        return None


def test_a_forged_new_token_is_no_token(tunnel, echo_backend):
    for retry in ("1", "0"):
        t = tunnel("reverse", echo_backend.port, server_params="type=1&tls=1",
                   server_env={"POSTERN_QUIC_RETRY": retry})
        t.start_server()
        dst = ("127.0.0.1", t.tunnel_port)
        for token in (b"\x36", b"\x36" + bytes(56), b"\x36" + bytes(range(200)),
                      b"\x36" + b"\xff" * 300):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                u.bind(("127.0.0.1", 0))
                u.sendto(client_initial(token=token)[0], dst)
                r = _reply(u)
                want = RETRY if retry == "1" else INITIAL
                assert r is not None and long_type(r) == want, (retry, len(token),
                                                                r and r[:8].hex())
                if want == INITIAL:
                    assert len(r) >= 1200, len(r)   # a handshake, not a close
            finally:
                u.close()
        time.sleep(0.2)
        assert t.server.alive()
