"""master:// supervision: restarts and their policy, stopping, persistence across
master restarts and crashes, PDEATHSIG, log floods, descriptors (docs/master.md)."""
import os
import signal
import socket
import sqlite3
import stat
import time

import pytest

from conftest import LOOPBACK, POSTERN_BIN, connect, free_port, recv_exact, wait_port, wait_until
from master_util import pid_alive, start_master, wait_instance


def single_url(port, backend_port, extra=""):
    return f"client://{LOOPBACK}:{port}/{LOOPBACK}:{backend_port}?mode=1" + (f"&{extra}" if extra else "")


def push(port, nbytes):
    data = os.urandom(nbytes)
    with connect(port) as s:
        s.sendall(data)
        assert recv_exact(s, nbytes) == data


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def test_crash_restarts_with_backoff(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    port = free_port()
    inst = m.create(single_url(port, echo_backend.port))
    wait_port(port, timeout=10)
    push(port, 300)
    wait_instance(m, inst["id"], lambda i: i["tcprx"] == 300)
    pid = inst["pid"]
    kill_pid(pid)
    v = wait_instance(m, inst["id"], lambda i: i["status"] == "error", what="error status")
    assert v["pid"] == 0 and "signal 9" in v["error"]
    v = wait_instance(m, inst["id"], lambda i: i["status"] == "running" and i["pid"] not in (0, pid),
                      timeout=5, what="automatic restart")
    assert v["restarts"] == 1 and v["error"] == ""
    assert v["tcprx"] == 300                      # counters carried across the crash
    wait_port(port, timeout=10)
    push(port, 200)
    wait_instance(m, inst["id"], lambda i: i["tcprx"] == 500)
    # Second crash right away: the backoff doubles (2 s), so still down after 1.3 s.
    kill_pid(v["pid"])
    wait_instance(m, inst["id"], lambda i: i["status"] == "error")
    time.sleep(1.3)
    assert m.instance(inst["id"])["status"] == "error"
    v = wait_instance(m, inst["id"], lambda i: i["status"] == "running", timeout=5)
    assert v["restarts"] == 2
    assert m.p.alive()


@pytest.mark.asan_skip
def test_no_restart_when_policy_off(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    inst = m.create(single_url(free_port(), echo_backend.port), restart=False)
    assert inst["restart"] is False
    kill_pid(inst["pid"])
    wait_instance(m, inst["id"], lambda i: i["status"] == "error")
    time.sleep(2.5)
    v = m.instance(inst["id"])
    assert v["status"] == "error" and v["pid"] == 0 and v["restarts"] == 0


@pytest.mark.asan_skip
def test_exit_2_never_restarted(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    # Valid for the parser, but the certificate file is missing: the child exits 2.
    url = single_url(free_port(), echo_backend.port,
                     f"tls=2&crt={tmp_path}/missing.pem&key={tmp_path}/missing.key")
    inst = m.create(url)
    v = wait_instance(m, inst["id"], lambda i: i["status"] == "error")
    assert "exited with code 2" in v["error"] and "crt:" in v["error"]
    time.sleep(2.5)
    v = m.instance(inst["id"])
    assert v["status"] == "error" and v["restarts"] == 0
    st, logs, _ = m.request("GET", f"/instances/{inst['id']}/logs")
    assert any("crt:" in l for l in logs["logs"])
    # Start by request: tried again (and fails again the same way).
    m.ok("PATCH", f"/instances/{inst['id']}", {"action": "start"})
    wait_instance(m, inst["id"], lambda i: i["status"] == "error" and i["pid"] == 0)


def test_master_stop_ends_children_and_restart_restores(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    p1, p2, p3 = free_port(), free_port(), free_port()
    a = m.create(single_url(p1, echo_backend.port), alias="a")
    b = m.create(single_url(p2, echo_backend.port), alias="b", restart=False)
    c = m.create(single_url(p3, echo_backend.port), alias="c")
    m.ok("PATCH", f"/instances/{c['id']}", {"action": "stop"})
    wait_port(p1, timeout=10)
    push(p1, 12345)
    wait_instance(m, a["id"], lambda i: i["tcprx"] == 12345 and i["tcptx"] == 12345)
    pids = [m.instance(x["id"])["pid"] for x in (a, b)]
    assert all(pids)
    rc, took = m.p.stop(signal.SIGTERM, timeout=10)
    assert rc == 0 and took < 7
    for pid in pids:
        assert not pid_alive(pid), pid
    # The database is consistent and private.
    assert stat.S_IMODE(os.stat(m.db).st_mode) == 0o600
    with sqlite3.connect(m.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    m2 = start_master(postern, tmp_path, db=m.db, expect_key=False)
    m2.key = m.key
    lst = {i["alias"]: i for i in m2.ok("GET", "/instances")}
    assert [i["alias"] for i in m2.ok("GET", "/instances")] == ["a", "b", "c"]
    assert lst["a"]["status"] == "running" and lst["a"]["id"] == a["id"]
    assert lst["a"]["tcprx"] == 12345 and lst["a"]["tcptx"] == 12345
    assert lst["b"]["status"] == "stopped"          # restart=false: not started by the master
    assert lst["c"]["status"] == "stopped"          # stopped by request
    wait_port(p1, timeout=10)
    push(p1, 5)
    wait_instance(m2, a["id"], lambda i: i["tcprx"] == 12350)


@pytest.mark.asan_skip
def test_master_kill9(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    port = free_port()
    inst = m.create(single_url(port, echo_backend.port))
    wait_port(port, timeout=10)
    push(port, 7777)
    wait_instance(m, inst["id"], lambda i: i["tcprx"] == 7777)
    time.sleep(0.6)                 # more than one save interval (200 ms)
    child = m.instance(inst["id"])["pid"]
    m.p.proc.send_signal(signal.SIGKILL)
    m.p.proc.wait(5)
    # PR_SET_PDEATHSIG: the child ends with its master.
    wait_until(lambda: not pid_alive(child), 5, what="child gone after the master's SIGKILL")
    with sqlite3.connect(m.db) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    m2 = start_master(postern, tmp_path, db=m.db, expect_key=False)
    m2.key = m.key
    v = m2.instance(inst["id"])
    # Traffic stopped more than one interval before the kill: nothing lost.
    assert v["tcprx"] == 7777 and v["tcptx"] == 7777
    assert v["status"] == "running"
    wait_port(port, timeout=10)


def test_log_flood_does_not_stall_api(postern, tmp_path, echo_backend):
    # A wrapper runs as the instance binary: the URL with "flood" in it (in
    # $POSTERN_URL, and masked in the label) prints lines as fast as it can;
    # anything else is the real postern.
    wrapper = tmp_path / "instance.sh"
    wrapper.write_text("#!/bin/sh\ncase \"$POSTERN_URL\" in\n*flood*) exec yes 'flood line: the quick brown fox "
                       "jumps over the lazy dog';;\nesac\nexec \"" + POSTERN_BIN + "\" \"$@\"\n")
    wrapper.chmod(0o755)
    m = start_master(postern, tmp_path, env={"POSTERN_INSTANCE_EXE": str(wrapper)})
    normal = m.create(single_url(free_port(), echo_backend.port), alias="normal")
    # sni= is valid for the parser and harmless for a single-end client: the marker.
    flood_url = f"client://{LOOPBACK}:{free_port()}/{LOOPBACK}:{echo_backend.port}?mode=1&sni=flood"
    fl = m.create(flood_url, alias="flood")
    time.sleep(1)
    worst = 0.0
    for _ in range(20):
        t0 = time.monotonic()
        st, _, _ = m.request("GET", "/info")
        worst = max(worst, time.monotonic() - t0)
        assert st == 200
        time.sleep(0.05)
    assert worst < 1.0, worst
    st, logs, _ = m.request("GET", f"/instances/{fl['id']}/logs")
    assert len(logs["logs"]) == 200 and logs["logs"][-1].startswith("flood line")
    # The normal instance still reports.
    assert m.instance(normal["id"])["status"] == "running"
    m.ok("DELETE", f"/instances/{fl['id']}", status=204)
    rc, _ = m.p.stop(timeout=10)
    assert rc == 0


def test_children_inherit_no_master_descriptors(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    # An API connection held open while the instance starts.
    held = m.conn()
    assert m.request("GET", "/info", conn=held)[0] == 200
    inst = m.create(single_url(free_port(), echo_backend.port))
    pid = inst["pid"]
    # Exec'd when its command line is the instance's (before, it is the master's).
    wait_until(lambda: b"client://" in open(f"/proc/{pid}/cmdline", "rb").read(), 5, what="exec")
    time.sleep(0.2)
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    assert not any("master.db" in l for l in links), links
    master_socks = set()
    for fd in os.listdir(f"/proc/{m.pid}/fd"):
        try:
            l = os.readlink(f"/proc/{m.pid}/fd/{fd}")
        except OSError:
            continue
        if l.startswith("socket:"):
            master_socks.add(l)
    assert not master_socks & set(links), (master_socks & set(links))
    held.close()
    # Restarts do not leak descriptors in the master.
    before = len(os.listdir(f"/proc/{m.pid}/fd"))
    for _ in range(5):
        cur = m.instance(inst["id"])["pid"]
        m.ok("PATCH", f"/instances/{inst['id']}", {"action": "restart"})
        wait_instance(m, inst["id"], lambda i: i["status"] == "running" and i["pid"] not in (0, cur))
    time.sleep(0.3)
    assert len(os.listdir(f"/proc/{m.pid}/fd")) <= before


def test_instance_key_stays_off_the_command_line(postern, tmp_path):
    """An instance's URL (its tunnel key included) reaches the child through its
    environment, readable by this user only; /proc/<pid>/cmdline, which every local user
    can read, shows the URL with the key masked. The instance works."""
    m = start_master(postern, tmp_path)
    tport, uport = free_port(), free_port()
    inst = m.create(f"server://sup3r-s3cret-key@127.0.0.1:{tport}/127.0.0.1:{uport}")
    v = wait_instance(m, inst["id"], lambda i: i["status"] == "running" and i["pid"] != 0)
    wait_port(tport, timeout=10)
    with open(f"/proc/{v['pid']}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert b"sup3r-s3cret-key" not in b" ".join(argv), argv
    assert argv[1] == b"--url-from-env" and argv[2].startswith(b"server://***@127.0.0.1:"), argv
    # The master's own environment does not keep it either.
    with open(f"/proc/{m.pid}/environ", "rb") as f:
        assert b"sup3r-s3cret-key" not in f.read()
