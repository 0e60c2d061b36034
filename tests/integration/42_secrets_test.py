"""The key (URL user part) never reaches any output, even at log=debug."""
import socket
import subprocess

from conftest import POSTERN_BIN, connect, free_port, recv_all

KEY = "s3cr3tkey"


def test_key_never_in_output(postern, echo_backend):
    p = postern.client([echo_backend.port], "log=debug", key=KEY)
    for i in range(3):
        with connect(p.port) as s:
            msg = f"traffic {i}".encode()
            s.sendall(msg)
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == msg
    rc, _ = p.stop()
    assert rc == 0
    out = p.output()
    assert p.lines("stdout"), "no log output at log=debug: the check below would be vacuous"
    assert KEY not in out, [line for line in out.splitlines() if KEY in line]


def test_key_not_echoed_in_error_messages():
    """A rejected URL is reported without its key."""
    url = f"client://{KEY}@127.0.0.1:{free_port()}/127.0.0.1:{free_port()}?foo=1"
    r = subprocess.run([POSTERN_BIN, url], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip(), "an error line was expected"
    assert KEY not in r.stdout + r.stderr, r.stderr
