"""The README's main-job command, scripts/run.sh, as a user runs it: it starts the master
on loopback with a demo instance in front of a local web service, prints where to look,
stops everything on SIGTERM, and a second run brings the instance back with the same key.

The script builds into build/ (a no-op when the tree is built); the binary it runs is that
one, whatever POSTERN_BIN says."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from conftest import REPO, free_port, wait_until

START_TIMEOUT = 300.0       # deps check + cmake + ninja, usually a few seconds


def run_demo(tmp_path, ports):
    env = dict(os.environ, POSTERN_DEMO_DIR=str(tmp_path / "demo"),
               POSTERN_DEMO_MASTER=str(ports["master"]), POSTERN_DEMO_PORT=str(ports["listen"]),
               POSTERN_DEMO_BACKEND=str(ports["backend"]))
    log = open(tmp_path / "run.log", "a+")
    p = subprocess.Popen(["sh", "scripts/run.sh"], cwd=REPO, env=env, stdout=log,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    p.logfile = log
    return p


def read_log(tmp_path):
    return (tmp_path / "run.log").read_text(errors="replace")


def stop_demo(p):
    """SIGTERM the script (as Ctrl-C or a service manager would) and wait; the whole
    session is killed if anything outlives it."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait(5)
    p.logfile.close()


def session_pids(sid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid:       # the stat field after ppid, pgrp is session
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def api(port, key, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1{path}",
                                 headers={"X-API-Key": key})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def get(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return r.read().decode()


@pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("POSTERN_TEST_MAIN_JOB"),
                    reason="scripts/run.sh installs packages: run as root (or set POSTERN_TEST_MAIN_JOB=1)")
def test_main_job_runs_the_master_with_a_demo_and_restores_it(tmp_path):
    ports = {"master": free_port(), "listen": free_port(), "backend": free_port()}
    p = run_demo(tmp_path, ports)
    try:
        wait_until(lambda: "Ctrl-C stops" in read_log(tmp_path) or p.poll() is not None,
                   START_TIMEOUT, interval=0.2, what="run.sh to print where to look")
        out = read_log(tmp_path)
        assert p.poll() is None, out
        key = re.search(r"API key:\s+([0-9a-f]{64})", out).group(1)
        assert f"http://127.0.0.1:{ports['master']}/" in out
        # The dashboard, the API and the demo instance all answer.
        assert "<html" in get(ports["master"]).lower()
        wait_until(lambda: any(i["status"] == "running" for i in api(ports["master"], key, "/instances")),
                   10, what="the demo instance to run")
        wait_until(lambda: _answers(ports["listen"]), 10, what="the demo forwarder to answer")
        assert "hello from the service behind postern" in get(ports["listen"])
        first = api(ports["master"], key, "/instances")
        assert [i["alias"] for i in first] == ["demo"]
    finally:
        stop_demo(p)
    # Nothing the script started is left (the master, its instance, the web service).
    assert session_pids(p.pid) == []

    # A second run: the same key (kept in the demo folder), the same instance, restored.
    p = run_demo(tmp_path, ports)
    try:
        wait_until(lambda: read_log(tmp_path).count("Ctrl-C stops") == 2 or p.poll() is not None,
                   START_TIMEOUT, interval=0.2, what="the second run to start")
        assert p.poll() is None, read_log(tmp_path)
        again = api(ports["master"], key, "/instances")
        assert [i["id"] for i in again] == [first[0]["id"]]
        wait_until(lambda: _answers(ports["listen"]), 10, what="the restored forwarder to answer")
    finally:
        stop_demo(p)
    assert session_pids(p.pid) == []


def _answers(port):
    try:
        return "hello" in get(port)
    except OSError:
        return False
