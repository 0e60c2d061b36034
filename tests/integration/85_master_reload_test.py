"""SIGHUP to the master (docs/master.md "Signals"): it stays, saves the counters, passes
the SIGHUP on to every running instance (each reloads as its mode does) and logs one
line; no instance is stopped or restarted, an open connection through one goes on.
SIGTERM after it still stops everything cleanly (exit 0)."""
import signal

from conftest import LOOPBACK, connect, free_port, recv_exact, wait_port, wait_until
from master_util import pid_alive, start_master, wait_instance


def _url(port, backend_port):
    return f"client://{LOOPBACK}:{port}/{LOOPBACK}:{backend_port}?mode=1"


def _logs(m, iid):
    st, body, _ = m.request("GET", f"/instances/{iid}/logs")
    assert st == 200
    return body["logs"]


def test_master_sighup_reloads_instances_and_kills_nothing(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    ids, ports = [], []
    for _ in range(2):
        port = free_port()
        ids.append(m.create(_url(port, echo_backend.port))["id"])
        ports.append(port)
    for port in ports:
        wait_port(port, timeout=10)
    pids = [wait_instance(m, i, lambda v: v["status"] == "running")["pid"] for i in ids]
    held = connect(ports[0])
    held.sendall(b"ping")
    assert recv_exact(held, 4) == b"ping"

    for round_ in range(2):           # twice: the master keeps watching SIGHUP
        mark = m.p.mark()
        m.p.send_signal(signal.SIGHUP)
        m.p.wait_for_log(r"reload: SIGHUP: counters saved, 2 running instances told to reload",
                         timeout=5, start=mark)
        for iid in ids:
            wait_until(lambda: sum("reload: SIGHUP" in l for l in _logs(m, iid)) == round_ + 1,
                       5, what=f"instance {iid} reloaded")
    assert m.p.alive()
    for iid, pid in zip(ids, pids):
        v = m.instance(iid)
        assert v["status"] == "running" and v["pid"] == pid and v["restarts"] == 0, v
        assert pid_alive(pid)
    held.sendall(b"again")
    assert recv_exact(held, 5) == b"again"
    held.close()
    assert m.ok("GET", "/instances") and m.p.alive()

    m.p.send_signal(signal.SIGTERM)
    assert m.p.wait_exit(10) == 0
