"""systemd's readiness protocol (contrib/systemd, docs/operations.md): with NOTIFY_SOCKET
set, postern sends READY=1 once it serves, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1
on SIGTERM, and WATCHDOG=1 at half of WATCHDOG_USEC; the master sends READY=1 and
WATCHDOG=1 too, and its instances do not inherit the socket (only the master speaks to
systemd). A Python unix datagram socket plays systemd. --url-from-file runs the URL of a file."""
import os
import signal
import socket
import time

from conftest import free_port, wait_port
from master_util import start_master  # noqa: F401


class FakeSystemd:
    def __init__(self, path, abstract=False):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addr = ("\0" + os.path.basename(path)) if abstract else str(path)
        self.s.bind(self.addr)
        self.env = {"NOTIFY_SOCKET": ("@" + self.addr[1:]) if abstract else self.addr}

    def expect(self, want, timeout=5.0):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = self.s.recv(4096).decode()
            except socket.timeout:
                break
            seen.append(msg)
            if want in msg.split("\n"):
                return seen
        raise AssertionError(f"no {want} within {timeout}s; got {seen}")

    def close(self):
        self.s.close()


def test_ready_reloading_stopping_and_watchdog(postern, echo_backend, tmp_path):
    sd = FakeSystemd(tmp_path / "notify")
    try:
        env = dict(sd.env, WATCHDOG_USEC="200000")
        p = postern.client([echo_backend.port], "noudp=1", env=env)
        sd.expect("READY=1")
        sd.expect("WATCHDOG=1", timeout=2)
        p.send_signal(signal.SIGHUP)
        seen = sd.expect("RELOADING=1")
        sd.expect("READY=1")
        p.send_signal(signal.SIGTERM)
        sd.expect("STOPPING=1")
        assert p.wait_exit(5) == 0, p.output()
        assert seen
    finally:
        sd.close()


def test_abstract_socket_and_the_master(postern, tmp_path):
    sd = FakeSystemd(tmp_path / f"pn-notify-{os.getpid()}-{time.monotonic_ns()}", abstract=True)
    try:
        m = start_master(postern, tmp_path, env=sd.env)
        sd.expect("READY=1")
        m.p.send_signal(signal.SIGTERM)
        sd.expect("STOPPING=1")
    finally:
        sd.close()


def test_master_watchdog_and_silent_instances(postern, tmp_path, echo_backend):
    sd = FakeSystemd(tmp_path / "notify-master")
    try:
        m = start_master(postern, tmp_path, env=dict(sd.env, WATCHDOG_USEC="300000"))
        sd.expect("READY=1")
        t0 = time.monotonic()
        sd.expect("WATCHDOG=1", timeout=2)
        sd.expect("WATCHDOG=1", timeout=2)
        assert time.monotonic() - t0 >= 0.1
        port = free_port()
        m.create(f"client://127.0.0.1:{port}/127.0.0.1:{echo_backend.port}?mode=1")
        wait_port(port, timeout=10)
        seen = []
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            sd.s.settimeout(max(0.01, end - time.monotonic()))
            try:
                seen.append(sd.s.recv(4096).decode())
            except socket.timeout:
                break
        assert set(seen) <= {"WATCHDOG=1"}, seen     # no READY=1 from the instance
    finally:
        sd.close()


def test_url_from_file(postern, echo_backend, tmp_path):
    port = free_port()
    f = tmp_path / "fwd.url"
    f.write_text(f"  client://127.0.0.1:{port}/127.0.0.1:{echo_backend.port}?mode=1\n")
    os.chmod(f, 0o600)
    p = postern.run(["--url-from-file", str(f)])
    wait_port(port, timeout=5)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"hi")
        assert s.recv(2) == b"hi"
    assert "client://" not in open(f"/proc/{p.pid}/cmdline", "rb").read().decode()
    bad = postern.run(["--url-from-file", str(tmp_path / "missing.url")])
    assert bad.wait_exit(5) == 2
