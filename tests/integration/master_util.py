"""Helpers for the master:// tests (80_*, 81_*, 82_*): start a master on a fresh
database, talk to its API, follow its event stream.

- MasterProc            one `postern master://...` with its key, port and db path
- start_master()        start one (waits for the port and, on a new db, the key line)
- EventStream           `curl -N` on /events, lines collected by a thread
- wait_instance()       poll GET /instances/{id} until a predicate holds
- streams               fixture: EventStreams stopped at teardown
- page_check()          tests/web/page_check.mjs (headless Chromium) against a master

Every process started here is stopped by PID in the tests' finalizers (the
`postern` fixture stops masters; EventStream.stop() stops curl)."""
import http.client
import json
import os
import re
import ssl
import subprocess
import threading
import time

import pytest

from conftest import LOOPBACK, REPO, free_port, require_tool, wait_until
from harness.procs import stop_process

KEY_RE = r"^API key: ([0-9a-f]{64})$"


class MasterProc:
    def __init__(self, proc, port, db, key, prefix="/api", tls=False):
        self.p = proc                 # conftest.Postern
        self.port = port
        self.db = db
        self.key = key
        self.prefix = prefix
        self.tls = tls

    @property
    def pid(self):
        return self.p.proc.pid

    def conn(self, timeout=10):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(LOOPBACK, self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)

    def request(self, method, path, body=None, key="default", headers=None, raw=None,
                api=True, conn=None):
        """Send one request; return (status, parsed JSON or text, response headers).
        <path> is under <prefix>/v1 unless api=False; <body> is JSON-encoded; <raw>
        bytes are sent as they are."""
        h = dict(headers or {})
        if key == "default":
            key = self.key
        if key is not None:
            h["X-API-Key"] = key
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        full = (self.prefix + "/v1" + path) if api else path
        c = conn or self.conn()
        try:
            c.request(method, full, body=data, headers=h)
            r = c.getresponse()
            text = r.read().decode("utf-8", "replace")
            ctype = r.getheader("Content-Type", "")
            if ctype.startswith("application/json") and text:
                value = json.loads(text)
            else:
                value = text
            return r.status, value, dict(r.getheaders())
        finally:
            if conn is None:
                c.close()

    def ok(self, method, path, body=None, status=200):
        st, v, _ = self.request(method, path, body)
        assert st == status, f"{method} {path} -> {st} {v}"
        return v

    def instance(self, iid):
        return self.ok("GET", f"/instances/{iid}")

    def create(self, url, **extra):
        body = {"url": url}
        body.update(extra)
        return self.ok("POST", "/instances", body, status=201)


def start_master(postern, tmp_path, query="", path="", env=None, db=None, expect_key=True,
                 name="master"):
    """Start master://127.0.0.1:<free port><path>?db=<db>&<query> (db default: a
    new file in <tmp_path>); return a MasterProc once the port accepts (and, with
    <expect_key>, the key line was printed). POSTERN_REPORT_INTERVAL defaults to 200ms."""
    e = {"POSTERN_REPORT_INTERVAL": "200ms"}
    e.update(env or {})
    db = str(db or (tmp_path / f"{name}.db"))
    last = None
    for _ in range(3):
        port = free_port()
        url = f"master://{LOOPBACK}:{port}{path}?db={db}" + (f"&{query}" if query else "")
        p = postern.run([url], e)
        try:
            p.wait_port(port, timeout=10)
        except AssertionError as err:
            last = err
            p.cleanup()
            if "address already in use" in p.output().lower():
                continue
            raise AssertionError(f"{err}\nmaster output:\n{p.output()}") from None
        key = p.wait_for_log(KEY_RE, timeout=5).group(1) if expect_key else None
        return MasterProc(p, port, db, key, path.rstrip("/") or "/api",
                          tls=bool(re.search(r"(^|&)tls=[12]", query)))
    raise last


@pytest.fixture
def streams():
    """Fixture: a list of EventStreams the test appends to; each is stopped at teardown
    (import it into the test module)."""
    made = []
    yield made
    for s in made:
        s.stop()


def wait_instance(m, iid, pred, timeout=10, what="instance state"):
    last = {}

    def check():
        last["v"] = m.instance(iid)
        return pred(last["v"])
    try:
        wait_until(check, timeout, interval=0.05, what=what)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}; last: {last.get('v')}") from None
    return last["v"]


def pid_alive(pid):
    """True when <pid> exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


class EventStream:
    """`curl -N` on the master's /events; lines are collected by a thread."""

    def __init__(self, m, key=None):
        require_tool("curl")
        scheme = "https" if m.tls else "http"
        self.proc = subprocess.Popen(
            ["curl", "-sS", "-N", "-k", "--noproxy", "*", "--max-time", "60",
             "-H", f"X-API-Key: {key or m.key}",
             f"{scheme}://{LOOPBACK}:{m.port}{m.prefix}/v1/events"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def events(self):
        """The data objects received so far, in order."""
        with self.cond:
            return [json.loads(l[6:]) for l in self.lines if l.startswith("data: ")]

    def wait_event(self, pred, timeout=10, what="event"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for l in self.lines:
                    if l.startswith("data: "):
                        ev = json.loads(l[6:])
                        if pred(ev):
                            return ev
                if self.eof and not any(pred(json.loads(l[6:])) for l in self.lines
                                        if l.startswith("data: ")):
                    raise AssertionError(f"event stream ended without {what}; lines: {self.lines[-10:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {what} within {timeout}s; lines: {self.lines[-10:]}")
                self.cond.wait(left)

    def wait_line(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        with self.cond:
            while text not in self.lines:
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise AssertionError(f"no line {text!r} within {timeout}s; lines: {self.lines[-10:]}")
                self.cond.wait(left)

    def wait_eof(self, timeout=10):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("event stream did not end")
                self.cond.wait(left)

    def stop(self):
        stop_process(self.proc, timeout=5.0)
        self.t.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()


def page_check(m, check, expect):
    """Run tests/web/page_check.mjs's <check> against <m> with <expect> (JSON-encoded into
    POSTERN_WEB_EXPECT; the key goes in the environment); return its stdout. Skipped
    without node, chromium or tests/web's npm packages (failed under
    POSTERN_REQUIRE_TOOLS=1)."""
    node = require_tool("node")
    require_tool("chromium")
    if not (REPO / "tests" / "web" / "node_modules" / "playwright-core").exists():
        why = "tests/web/node_modules has no playwright-core (npm ci in tests/web)"
        if os.environ.get("POSTERN_REQUIRE_TOOLS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    env = dict(os.environ, POSTERN_WEB_BASE=f"http://{LOOPBACK}:{m.port}", POSTERN_WEB_KEY=m.key,
               POSTERN_WEB_CHECK=check, POSTERN_WEB_EXPECT=json.dumps(expect))
    res = subprocess.run([node, "tests/web/page_check.mjs"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, f"page_check failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
    return res.stdout
