"""An instance under the master drains when stopped (docs/master.md): the master's SIGKILL
waits for POSTERN_SHUTDOWN_TIMEOUT (which the instance inherits) plus 2 s, so an open
connection that finishes within the drain ends with a clean exit, not a kill."""
import time

import pytest

from conftest import LOOPBACK, free_port, wait_port
from drain_util import open_echo
from master_util import start_master, wait_instance


@pytest.mark.asan_skip
def test_stop_lets_the_instance_drain_past_5s(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path, env={"POSTERN_SHUTDOWN_TIMEOUT": "7s"})
    port = free_port()
    iid = m.create(f"client://{LOOPBACK}:{port}/{LOOPBACK}:{echo_backend.port}?mode=1")["id"]
    wait_port(port, timeout=10)
    s = open_echo(port)
    m.ok("PATCH", f"/instances/{iid}", {"action": "stop"})
    time.sleep(5.5)                        # past the old fixed 5 s SIGKILL
    s.sendall(b"still")
    assert s.recv(5) == b"still"
    s.close()
    wait_instance(m, iid, lambda i: i["status"] == "stopped" and i["pid"] == 0, timeout=5)
    out = m.p.output()
    assert "killing it" not in out and "exited cleanly" in out, out
