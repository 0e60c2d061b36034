"""Abortive ends are passed on (docs/security.md): when a data channel ends without a
clean close (the peer killed: a TLS end without close_notify on tls=1, or a reset), the
user's connection is reset (SO_LINGER 0), so a truncated download is an error for the
user, never a clean end of stream. A transfer that completes still ends with a clean FIN
and every byte (sha256)."""
import socket
import time

import pytest

from harness.attack import download
from harness.backends import paced_source_handler
from hub_util import Route, account, hubstack  # noqa: F401 - fixture
from tunnel_util import kill9, tunnel  # noqa: F401 - fixture

TOTAL = 64 * 1024 * 1024


@pytest.mark.parametrize("tls", ["1"])
def test_client_killed_mid_download_resets_the_user(tunnel, backends, tls):
    src = backends(paced_source_handler(TOTAL, chunk=256 * 1024, gap=0.01), name="source")
    t = tunnel("reverse", src.port, key="abortive-end-key", server_params=f"tls={tls}",
               client_params="").start()
    killed = []

    def progress(n):
        if n >= 4 * 1024 * 1024 and not killed:
            kill9(t.client)
            killed.append(time.monotonic())

    n, _, outcome = download(t.user_port, progress)
    assert killed, f"the download ended before the kill ({n} bytes, {outcome})"
    assert n < TOTAL, "the whole transfer arrived although the client was killed"
    assert outcome == "ConnectionResetError", \
        f"after {n} of {TOTAL} bytes the user saw {outcome!r}, not a reset"


def test_a_complete_download_ends_cleanly(tunnel, backends):
    total = 8 * 1024 * 1024
    src = backends(paced_source_handler(total, chunk=256 * 1024, gap=0.0), name="source")
    t = tunnel("reverse", src.port, key="abortive-end-key", server_params="tls=1").start()
    n, digest, outcome = download(t.user_port)
    sent = src.wait_record(lambda r: r[0] == "sent", timeout=10)
    assert (n, outcome) == (total, "eof"), (n, outcome)
    assert digest == sent[2]


def _cut_http(_backend, conn):
    """An HTTP service whose answer promises 1 MB and stops after 1000 bytes (a FIN)."""
    conn.settimeout(10)
    head = b""
    while b"\r\n\r\n" not in head:
        b = conn.recv(4096)
        if not b:
            return
        head += b
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)


def test_a_response_cut_short_behind_the_hub_resets_the_user(hubstack):
    """The hub's http= port: a service that ends its answer before the length it
    announced is a cut, and the user gets a reset after the bytes that came, never a
    clean end it could take for the whole answer (a whole close-delimited answer still
    ends with a FIN: 91_hub_http_test)."""
    acct = account("cut")
    hub = hubstack.hub([acct], http=True)
    svc = hubstack.tcp(_cut_http, name="cut")
    hubstack.agent(hub, acct["token"], [Route("http", svc.port, host="cut.hub.test")])
    with socket.create_connection(("127.0.0.1", hub.http_port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: cut.hub.test\r\n\r\n")
        got = b""
        with pytest.raises(ConnectionResetError):
            while True:
                b = s.recv(65536)
                if not b:
                    raise AssertionError(f"a clean end after {len(got)} bytes of a cut answer: {got[:400]!r}")
                got += b
    assert got.startswith(b"HTTP/1.1 200 OK"), got[:100]
