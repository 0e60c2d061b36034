"""Abortive ends are passed on (docs/security.md): when a data channel ends without a
clean close (the peer killed: a TLS end without close_notify on tls=1, or a reset), the
user's connection is reset (SO_LINGER 0), so a truncated download is an error for the
user, never a clean end of stream. A transfer that completes still ends with a clean FIN
and every byte (sha256)."""
import hashlib
import socket
import time

import pytest

from conftest import LOOPBACK
from harness.backends import paced_source_handler
from tunnel_util import kill9, tunnel  # noqa: F401 - fixture

TOTAL = 64 * 1024 * 1024


def _download(port, total, on_progress=None, timeout=20.0):
    """Read from 127.0.0.1:<port> until EOF; return (bytes read, sha256, outcome) where
    outcome is "eof" or the error's class name."""
    s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    h = hashlib.sha256()
    n = 0
    try:
        while True:
            try:
                b = s.recv(1 << 16)
            except (ConnectionResetError, ConnectionAbortedError, socket.timeout) as e:
                return n, h.hexdigest(), type(e).__name__
            if not b:
                return n, h.hexdigest(), "eof"
            h.update(b)
            n += len(b)
            if on_progress is not None:
                on_progress(n)
    finally:
        s.close()


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

    n, _, outcome = _download(t.user_port, TOTAL, progress)
    assert killed, f"the download ended before the kill ({n} bytes, {outcome})"
    assert n < TOTAL, "the whole transfer arrived although the client was killed"
    assert outcome == "ConnectionResetError", \
        f"after {n} of {TOTAL} bytes the user saw {outcome!r}, not a reset"


def test_a_complete_download_ends_cleanly(tunnel, backends):
    total = 8 * 1024 * 1024
    src = backends(paced_source_handler(total, chunk=256 * 1024, gap=0.0), name="source")
    t = tunnel("reverse", src.port, key="abortive-end-key", server_params="tls=1").start()
    n, digest, outcome = _download(t.user_port, total)
    sent = src.wait_record(lambda r: r[0] == "sent", timeout=10)
    assert (n, outcome) == (total, "eof"), (n, outcome)
    assert digest == sent[2]
