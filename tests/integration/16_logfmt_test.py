"""POSTERN_LOG_FORMAT=json: one JSON object a line on stdout with the stable keys time,
level, mode, instance, msg, fields (CHECK_POINT counters in fields); no key in it even at
log=debug; a bad value is exit 2; the master keeps its instances on text lines (it reads
their CHECK_POINT lines), so their counters still reach the API."""
import json
import os
import re
import socket
import subprocess

from conftest import POSTERN_BIN, free_port, wait_port
from master_util import start_master, wait_instance
from tunnel_util import Tunnel

KEYS = {"time", "level", "mode", "instance", "msg", "fields"}
JSON_ENV = {"POSTERN_LOG_FORMAT": "json", "POSTERN_REPORT_INTERVAL": "200ms"}


def json_lines(p):
    out = []
    for ln in p.lines():
        v = json.loads(ln)      # every stdout line is one JSON object
        assert set(v) == KEYS, v
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", v["time"]), v
        assert v["level"] in ("debug", "info", "warn", "error", "event"), v
        assert isinstance(v["fields"], dict), v
        out.append(v)
    return out


def test_json_lines_with_stable_keys_and_checkpoint_fields(postern, echo_backend):
    p = postern.client([echo_backend.port], env=JSON_ENV)
    p.wait_for_log(r'"CHECK_POINT\|', timeout=5)
    p.stop()
    lines = json_lines(p)
    assert any(v["level"] == "info" and "listening on" in v["msg"] for v in lines), lines
    cps = [v for v in lines if v["msg"].startswith("CHECK_POINT|")]
    assert cps and cps[0]["level"] == "event" and cps[0]["mode"] == "client", cps
    assert cps[0]["fields"]["MODE"] == 1 and "TCPRX" in cps[0]["fields"], cps[0]


def test_json_never_carries_the_key(postern, echo_backend):
    key = "s3cr3t-" + os.urandom(6).hex()
    t = Tunnel(postern, "reverse", echo_backend.port, key=key,
               server_params="log=debug", client_params="log=debug",
               env=JSON_ENV).start()
    t.client.stop()
    t.server.stop()
    for p in (t.server, t.client):
        assert json_lines(p)
        assert key not in p.output(), p.output()


def test_bad_log_format_exits_2():
    r = subprocess.run([POSTERN_BIN, f"client://127.0.0.1:{free_port()}/127.0.0.1:9"],
                       env=dict(os.environ, POSTERN_LOG_FORMAT="xml"), capture_output=True,
                       text=True, timeout=5)
    assert r.returncode == 2 and "POSTERN_LOG_FORMAT" in r.stderr, r


def test_master_in_json_keeps_its_instances_counting(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path, env={"POSTERN_LOG_FORMAT": "json"})
    port = free_port()
    inst = m.create(f"client://127.0.0.1:{port}/127.0.0.1:{echo_backend.port}?mode=1")
    wait_instance(m, inst["id"], lambda v: v["status"] == "running")
    wait_port(port, timeout=10)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"x" * 1000)
        got = b""
        while len(got) < 1000:
            got += s.recv(4096)
    wait_instance(m, inst["id"], lambda v: v["tcprx"] >= 1000, timeout=5,
                  what="counters from the instance's CHECK_POINT lines")
    lines = [ln for ln in m.p.lines() if ln.startswith("{")]
    assert lines and all(set(json.loads(ln)) == KEYS for ln in lines), m.p.output()
