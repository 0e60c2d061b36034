#!/bin/sh
# valgrind memcheck over a short master session: a master (under valgrind) on a
# fresh database, one single-end instance created through the API, traffic
# through it, an SSE client, every read endpoint, a tcping, key rotation,
# stop/start/delete, then SIGTERM. Fails when valgrind reports an error or a
# definite/possible leak, or the master does not exit 0. Stops what it starts.
set -eu
cd "$(dirname "$0")/.."
BIN=${POSTERN_BIN:-$PWD/build/postern}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" - "$BIN" <<'PYEOF'
import json, os, re, signal, socket, subprocess, sys, tempfile, threading, time, http.client

BIN = sys.argv[1]
sys.path.insert(0, "scripts")
from vg_common import LOOP, VG, free_port, wait_port  # noqa: E402  (shared helpers)

bport = free_port()
bsrv = socket.socket(); bsrv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
bsrv.bind((LOOP, bport)); bsrv.listen(16)
def echo():
    while True:
        try:
            c, _ = bsrv.accept()
        except OSError:
            return
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
threading.Thread(target=echo, daemon=True).start()

tmp = tempfile.mkdtemp()
mport, iport = free_port(), free_port()
log = open(os.path.join(tmp, "master.log"), "w+")
env = dict(os.environ, POSTERN_REPORT_INTERVAL="300ms", POSTERN_SSE_KEEPALIVE="500ms")
master = subprocess.Popen(VG + [BIN, f"master://{LOOP}:{mport}?db={tmp}/m.db"], stdout=log,
                          stderr=subprocess.STDOUT, env=env)
curl = None
try:
    wait_port(mport)
    key = None
    for _ in range(100):
        log.seek(0)
        m = re.search(r"API key: ([0-9a-f]{64})", log.read())
        if m:
            key = m.group(1)
            break
        time.sleep(0.1)
    assert key, "no key line"

    def req(method, path, body=None):
        c = http.client.HTTPConnection(LOOP, mport, timeout=30)
        c.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None,
                  headers={"X-API-Key": key})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data
    curl = subprocess.Popen(["curl", "-sN", "--noproxy", "*", "-H", f"X-API-Key: {key}",
                             f"http://{LOOP}:{mport}/api/v1/events"], stdout=subprocess.DEVNULL)
    st, data = req("POST", "/instances", {"url": f"client://{LOOP}:{iport}/{LOOP}:{bport}?mode=1",
                                          "alias": "vg", "meta": {"tags": {"a": "b"}}})
    assert st == 201, data
    iid = json.loads(data)["id"]
    wait_port(iport)
    for _ in range(5):
        with socket.create_connection((LOOP, iport), timeout=10) as s:
            s.sendall(os.urandom(50000))
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
    time.sleep(1)
    for path in ("/instances", f"/instances/{iid}", f"/instances/{iid}/logs", "/info", "/metrics",
                 f"/tcping?target={LOOP}:{bport}", f"/tcping?target={LOOP}:{free_port()}",
                 "/openapi.json", "/nope"):
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
    iid2 = json.loads(req("POST", "/instances", {"url": f"client://{LOOP}:{free_port()}/{LOOP}:{bport}?mode=1"})[1])["id"]
    time.sleep(1)
    assert req("DELETE", f"/instances/{iid2}")[0] == 204
    time.sleep(1)
    master.send_signal(signal.SIGTERM)
    try:
        rc = master.wait(120)
    except subprocess.TimeoutExpired:
        master.kill()
        rc = "hung"
    log.seek(0)
    errs = [l for l in log.read().splitlines() if l.startswith("==")]
    if errs:
        print("\n".join(errs[:80]))
    if rc != 0:
        raise SystemExit(f"valgrind-master.sh: master exit code {rc} (9 = valgrind found errors or leaks)")
    print("valgrind: master session clean (exit 0, no errors, no leaks)")
finally:
    if master.poll() is None:
        master.kill()
        master.wait(10)
    if curl is not None and curl.poll() is None:
        curl.terminate()
        curl.wait(10)
    bsrv.close()
PYEOF
