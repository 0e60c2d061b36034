"""kill -9 and SIGSTOP/SIGCONT of the master and of a master's instance in the middle of
transfers (docs/security.md). The instance is a tunnel client (reverse flow, tls=1) the
master runs; the test runs the server, where the users download from a source next to
the client. Every finished download is checked by sha256; a cut one must be an error."""
import os
import signal
import threading
import time

from chaos_faults import PARALLEL, _judge, _parallel_downloads, _sent
from harness.attack import download
from harness.backends import echo_handler, paced_source_handler
from master_util import start_master, wait_instance
from tunnel_util import ATTACHED_RE, Tunnel

import scale

# The instances inherit the master's environment: reports (and the control channel's
# pings) every second, as the test's server, so that a 1 s SIGSTOP is not a dead peer
# (a silent control channel ends the session after 3 report intervals).
INSTANCE_ENV = {"POSTERN_REPORT_INTERVAL": "1s"}


def _setup(postern, backends, tmp_path):
    src = backends(paced_source_handler(scale.TRANSFER, chunk=256 * 1024, gap=0.002),
                   name="source")
    t = Tunnel(postern, "reverse", src.port, key="chaos-key", server_params="tls=1")
    t.start_server()
    m = start_master(postern, tmp_path, env=INSTANCE_ENV)
    inst = m.create(t.client_url())
    inst = wait_instance(m, inst["id"], lambda i: i["status"] == "running" and i["pid"],
                         what="the instance running")
    t.server.wait_for_log(ATTACHED_RE, timeout=10)
    return src, t, m, inst


def _whole_download(t, src):
    n, sha, outcome = download(t.user_port, timeout=30)
    assert (n, outcome) == (scale.TRANSFER, "eof"), (n, outcome)
    src.wait_record(lambda r: r[0] == "sent" and r[2] == sha, timeout=10)


def _sent_for(results, src):
    """The source's records, once there is one for every download that ended cleanly
    (the source records just after its last byte: wait a little for it)."""
    _sent(src, sum(1 for r in results if r[2] == "eof" and r[0] == scale.TRANSFER),
          timeout=10)
    return [r for r in src.records if r[0] == "sent"]


def test_kill9_instance_mid_transfer(postern, backends, tmp_path):
    src, t, m, inst = _setup(postern, backends, tmp_path)
    mark = t.server.mark()
    results, fired = _parallel_downloads(t.user_port, 2 * 1024 * 1024,
                                         lambda: os.kill(inst["pid"], signal.SIGKILL))
    assert fired, f"no download reached 2 MiB: {results}"
    _judge(results, _sent_for(results, src), scale.TRANSFER,
           "kill -9 of a master's instance (tunnel client, tls=1) mid-transfer")
    wait_instance(m, inst["id"], lambda i: i["status"] == "running" and i["pid"] not in
                  (0, inst["pid"]), timeout=15, what="the instance restarted")
    t.server.wait_for_log(ATTACHED_RE, timeout=20, start=mark)
    _whole_download(t, src)


def _pause(pid, seconds=1.0):
    os.kill(pid, signal.SIGSTOP)
    threading.Timer(seconds, os.kill, (pid, signal.SIGCONT)).start()


def test_sigstop_sigcont_instance_mid_transfer(postern, backends, tmp_path):
    src, t, m, inst = _setup(postern, backends, tmp_path)
    results, fired = _parallel_downloads(t.user_port, 2 * 1024 * 1024,
                                         lambda: _pause(inst["pid"]))
    assert fired, f"no download reached 2 MiB: {results}"
    _judge(results, _sent(src, PARALLEL), scale.TRANSFER,
           "SIGSTOP 1 s + SIGCONT of a master's instance mid-transfer")
    assert all(r[2] == "eof" for r in results), "a transfer failed across a 1 s SIGSTOP"
    assert m.instance(inst["id"])["pid"] == inst["pid"], "the stopped instance was replaced"


def test_sigstop_sigcont_master_mid_transfer(postern, backends, tmp_path):
    """The instances do not depend on the master's loop: transfers go on; the API
    answers again after SIGCONT."""
    src, t, m, inst = _setup(postern, backends, tmp_path)
    results, fired = _parallel_downloads(t.user_port, 2 * 1024 * 1024,
                                         lambda: _pause(m.pid, 2.0))
    assert fired, f"no download reached 2 MiB: {results}"
    _judge(results, _sent(src, PARALLEL), scale.TRANSFER,
           "SIGSTOP 2 s + SIGCONT of the master mid-transfer")
    assert all(r[2] == "eof" for r in results), "a transfer failed across the master's SIGSTOP"
    v = m.instance(inst["id"])
    assert v["status"] == "running" and v["pid"] == inst["pid"], v


def test_kill9_master_mid_transfer(postern, backends, tmp_path):
    """The instances get SIGTERM when their master dies (PDEATHSIG): each download is
    then whole or an error, never a short clean end; a new master on the same database
    starts the instance again and it serves whole downloads."""
    src, t, m, inst = _setup(postern, backends, tmp_path)
    results, fired = _parallel_downloads(t.user_port, 2 * 1024 * 1024, m.p.kill)
    assert fired, f"no download reached 2 MiB: {results}"
    _judge(results, _sent_for(results, src), scale.TRANSFER,
           "kill -9 of the master mid-transfer (its instance: a tunnel client)")
    mark = t.server.mark()
    m2 = start_master(postern, tmp_path, db=m.db, expect_key=False, name="master2",
                      env=INSTANCE_ENV)
    m2.key = m.key
    wait_instance(m2, inst["id"], lambda i: i["status"] == "running" and i["pid"], timeout=15,
                  what="the instance started by the new master")
    t.server.wait_for_log(ATTACHED_RE, timeout=20, start=mark)
    _whole_download(t, src)


def test_sigstop_master_while_its_instance_logs(postern, backends, tmp_path):
    """An instance at log=debug serves many connections while its master is stopped:
    the pipe its log goes to fills (64 KiB), and the instance must go on serving (its
    log writes never block: core/log.c drops lines and then says how many)."""
    echo = backends(echo_handler, name="echo")
    t = Tunnel(postern, "reverse", echo.port, key="chaos-key", client_params="log=debug")
    t.start_server()
    m = start_master(postern, tmp_path, env=INSTANCE_ENV)
    inst = m.create(t.client_url())
    wait_instance(m, inst["id"], lambda i: i["status"] == "running" and i["pid"],
                  what="the instance running")
    t.server.wait_for_log(ATTACHED_RE, timeout=10)
    os.kill(m.pid, signal.SIGSTOP)
    served, t0 = 0, time.monotonic()
    try:
        # About 3 debug lines a connection: 800 connections write well over 64 KiB.
        while served < 800 and time.monotonic() - t0 < 20:
            assert scale.echo_ok(t.user_port, src=None, timeout=3), f"after {served}"
            served += 1
    finally:
        os.kill(m.pid, signal.SIGCONT)
    assert served == 800, f"{served} connections in 20 s"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logs = m.ok("GET", f"/instances/{inst['id']}/logs")["logs"]
        if any("lines dropped" in line for line in logs):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("no 'lines dropped' note in the instance's log")
    scale.report("SIGSTOP of the master while its instance logs (log=debug)",
                 connections=served, seconds=round(time.monotonic() - t0, 1))
