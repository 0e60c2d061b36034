"""Abortive ends are passed on (docs/security.md): when a data channel ends without a
clean close (the peer killed: a TLS end without close_notify on tls=1, or a reset), the
user's connection is reset (SO_LINGER 0), so a truncated download is an error for the
user, never a clean end of stream. A transfer that completes still ends with a clean FIN
and every byte (sha256)."""
import time

import pytest

from harness.attack import download
from harness.backends import paced_source_handler
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
