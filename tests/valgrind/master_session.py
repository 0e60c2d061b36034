"""valgrind memcheck over a short master session (run by scripts/valgrind-master.sh): a
master (under valgrind) on a fresh database, one single-end instance created through the
API, traffic through it, an SSE client, every read endpoint, a tcping, key rotation,
stop/start/delete, then SIGTERM. Fails when valgrind reports an error or a
definite/possible leak, or the master does not exit 0. Stops what it starts by PID.

    python3 tests/valgrind/master_session.py <postern binary>
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from vg_common import VG_WAIT, run, start_vg, vg_lines
from harness.backends import Backend, echo_handler
from harness.net import LOOPBACK, echo_roundtrip, free_port, wait_port
from harness.procs import stop_process

ME = "valgrind-master.sh"


def session(binary):
    backend = Backend(echo_handler, name="echo")
    bport = backend.port
    tmp = tempfile.mkdtemp(prefix="vgmaster.")
    mport, iport = free_port(), free_port()
    env = {"POSTERN_REPORT_INTERVAL": "300ms", "POSTERN_SSE_KEEPALIVE": "500ms"}
    master = start_vg(binary, f"master://{LOOPBACK}:{mport}?db={tmp}/m.db", env,
                      os.path.join(tmp, "master.log"), "master")
    curl = None
    ok = False
    try:
        wait_port(mport, timeout=VG_WAIT, proc=master.proc)
        key = master.wait_for_log(r"API key: ([0-9a-f]{64})", timeout=10).group(1)

        def req(method, path, body=None):
            c = http.client.HTTPConnection(LOOPBACK, mport, timeout=30)
            c.request(method, "/api/v1" + path,
                      body=json.dumps(body) if body is not None else None,
                      headers={"X-API-Key": key})
            r = c.getresponse()
            data = r.read()
            c.close()
            return r.status, data

        curl = subprocess.Popen(["curl", "-sN", "--noproxy", "*", "-H", f"X-API-Key: {key}",
                                 f"http://{LOOPBACK}:{mport}/api/v1/events"],
                                stdout=subprocess.DEVNULL)
        st, data = req("POST", "/instances",
                       {"url": f"client://{LOOPBACK}:{iport}/{LOOPBACK}:{bport}?mode=1",
                        "alias": "vg", "meta": {"tags": {"a": "b"}}})
        assert st == 201, data
        iid = json.loads(data)["id"]
        wait_port(iport, timeout=VG_WAIT)
        for _ in range(5):
            echo_roundtrip(iport, os.urandom(50000))
        time.sleep(1)
        for path in ("/instances", f"/instances/{iid}", f"/instances/{iid}/logs", "/info",
                     "/metrics", f"/tcping?target={LOOPBACK}:{bport}",
                     f"/tcping?target={LOOPBACK}:{free_port()}", "/openapi.json", "/nope"):
            st, _ = req("GET", path)
            assert st in (200, 404), (path, st)
        assert req("POST", "/instances", {"url": "client://:99999/:1"})[0] == 400
        assert req("PATCH", f"/instances/{iid}", {"action": "restart", "alias": "vg2"})[0] == 200
        time.sleep(1)
        assert req("PATCH", f"/instances/{iid}", {"action": "stop"})[0] == 200
        time.sleep(0.5)
        assert req("PATCH", f"/instances/{iid}", {"action": "start"})[0] == 200
        time.sleep(1)
        st, data = req("POST", "/key")
        key = json.loads(data)["key"]
        iid2 = json.loads(req("POST", "/instances", {
            "url": f"client://{LOOPBACK}:{free_port()}/{LOOPBACK}:{bport}?mode=1"})[1])["id"]
        time.sleep(1)
        assert req("DELETE", f"/instances/{iid2}")[0] == 204
        time.sleep(1)
        rc, _ = master.stop(signal.SIGTERM, 120)
        errs = vg_lines(master)
        if errs:
            print("\n".join(errs[:80]))
        if rc != 0:
            raise SystemExit(f"{ME}: master exit code {rc} (None = hung; 9 = valgrind found "
                             f"errors or leaks)")
        ok = True
        print("valgrind: master session clean (exit 0, no errors, no leaks)")
    finally:
        master.cleanup()
        if curl is not None:
            stop_process(curl, signal.SIGTERM, 10)
        backend.stop()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"{ME}: logs kept in {tmp}")


if __name__ == "__main__":
    run(ME, lambda: session(sys.argv[1] if len(sys.argv) > 1 else os.environ["POSTERN_BIN"]))
