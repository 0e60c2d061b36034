"""Shared harness for the postern integration tests.

Everything here talks to the real binary over loopback only. The pieces that the valgrind
sessions (tests/valgrind) use as well live in tests/harness and are re-exported here under
the names the tests import from conftest:

- harness.net       free_port(), wait_port(), wait_until(), connect(), recv_all() ...
- harness.procs     LoggedProcess (a child whose output lines are read by threads, with
                    wait_for_log and stop by PID with a deadline), stop_process()
- harness.backends  Backend (a TCP server thread with a pluggable handler: echo, id,
                    digest, source, recorder, shut_first), UdpEcho, HttpEcho...
- harness.certs     CertFactory (a CA and leaves), self_signed(), make_cert()

Here:
- Postern                 the binary as a LoggedProcess (stdout and stderr apart)
- PosternFactory          starts them and stops every one it started
- fixtures: postern (that factory; outputs printed when the test failed), backends
  (same for Backend), http_server (python3 -m http.server over a temp dir), certs

Every wait has a deadline; every process and thread started here is stopped in a
finalizer, also when the test fails.
"""
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.dont_write_bytecode = True

REPO = Path(__file__).resolve().parents[2]
POSTERN_BIN = os.environ.get("POSTERN_BIN", str(REPO / "build" / "postern"))
# A stopped postern lets open connections finish for up to 5 s (the drain); tests that
# stop it with connections open want it gone at once unless they test the drain.
os.environ.setdefault("POSTERN_SHUTDOWN_TIMEOUT", "0")
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

# Re-exported: the tests and the *_util.py modules import these names from conftest.
from harness.backends import (Backend, digest_handler, echo_handler,  # noqa: E402,F401
                              id_handler, recorder_handler, shut_first_handler,
                              slow_digest_handler, source_handler)
from harness.certs import CertFactory, pem_fingerprint  # noqa: E402,F401
from harness.net import (BULK_TIMEOUT, IO_TIMEOUT, LOOPBACK, READY_TIMEOUT,  # noqa: E402,F401
                         connect, free_port, hostport, recv_all, recv_exact, wait_port,
                         wait_until)
from harness.procs import (LoggedProcess, dump_outputs, require_tool,  # noqa: E402,F401
                           stop_process)

CHECK_POINT_RE = (r"CHECK_POINT\|MODE=(?P<mode>\d+)\|PING=(?P<ping>\d+)ms\|POOL=(?P<pool>\d+)"
                  r"\|TCPS=(?P<tcps>\d+)\|UDPS=(?P<udps>\d+)\|TCPRX=(?P<tcprx>\d+)"
                  r"\|TCPTX=(?P<tcptx>\d+)\|UDPRX=(?P<udprx>\d+)\|UDPTX=(?P<udptx>\d+)")


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def ask_id(port, host=LOOPBACK, timeout=5.0):
    """Connect through <port> to an id backend and return the id it answers, or None
    when the connection fails or is closed without an answer."""
    try:
        with connect(port, host, timeout) as s:
            data = recv_all(s, limit=1024)
    except OSError:
        return None
    text = data.decode("ascii", "replace").strip()
    return text or None


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------
# the binary under test
# --------------------------------------------------------------------------------------

class Postern(LoggedProcess):
    """One postern child process with its output collected line by line (stdout and
    stderr apart); .port and .host name its listener when a starter knows it."""

    def __init__(self, argv, env=None):
        super().__init__([POSTERN_BIN] + list(argv), env, name="postern")
        self.port = None
        self.host = LOOPBACK

    def wait_port(self, port=None, host=None, timeout=READY_TIMEOUT):
        wait_port(port or self.port, host or self.host, timeout, proc=self.proc)


def client_url(listen_port, targets, params="", key=None, listen_host=LOOPBACK,
               scheme="client"):
    """Build client://[key@]host:port/t1,t2?params; <targets> items are ports on
    127.0.0.1 (int) or "host:port" strings."""
    tl = ",".join(hostport(LOOPBACK, t) if isinstance(t, int) else t for t in targets)
    user = f"{key}@" if key else ""
    url = f"{scheme}://{user}{hostport(listen_host, listen_port)}/{tl}"
    if params:
        url += "?" + params
    return url


class PosternFactory:
    def __init__(self):
        self.started = []

    def run(self, argv, env=None):
        """Start postern with raw <argv> (no readiness wait)."""
        p = Postern(argv, env)
        self.started.append(p)
        return p.start()

    def client(self, targets, params="", env=None, key=None, listen_host=LOOPBACK):
        """Start a single-end forwarder on a fresh port to <targets> and wait until its
        listen port accepts; retry on another port when the port was taken meanwhile."""
        last = None
        for _ in range(3):
            port = free_port(listen_host)
            p = self.run([client_url(port, targets, params, key, listen_host)], env)
            p.port, p.host = port, listen_host
            try:
                p.wait_port()
                return p
            except AssertionError as e:
                last = e
                p.cleanup()
                if not re.search(r"address (already )?in use", p.output().lower()):
                    raise AssertionError(f"{e}\npostern output:\n{p.output()}") from None
        raise last

    def cleanup(self):
        for p in self.started:
            p.cleanup()


# --------------------------------------------------------------------------------------
# the ASan+UBSan pass (markers registered in pytest.ini)
# --------------------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """asan_keep("id", ...) on a parametrized test: only those parameter sets run in the
    ASan+UBSan pass; the others get asan_skip, which scripts/test.sh deselects there with
    -m "not asan_skip". Runs before -m is applied; the release run is not affected."""
    asked, seen = {}, set()
    for item in items:
        keep = item.get_closest_marker("asan_keep")
        spec = getattr(item, "callspec", None)
        if keep is None or spec is None:
            continue
        test = (item.path, item.originalname)
        asked[test] = keep.args
        seen.add((test, spec.id))
        if spec.id not in keep.args:
            item.add_marker(pytest.mark.asan_skip)
    # A misspelt id would leave that test out of the ASan pass entirely. Checked in that
    # pass only (-m naming asan_skip, every file collected whole): a run narrowed to one
    # parameter set by its node id sees the others' ids missing, rightly.
    if "asan_skip" not in (config.getoption("markexpr", "") or ""):
        return
    for test, ids in asked.items():
        missing = [i for i in ids if (test, i) not in seen]
        if missing:
            raise pytest.UsageError(f"{test[0].name}::{test[1]}: asan_keep names no parameter "
                                    f"set {missing}")


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


@pytest.fixture(scope="session", autouse=True)
def postern_bin():
    if not (os.path.isfile(POSTERN_BIN) and os.access(POSTERN_BIN, os.X_OK)):
        pytest.fail(f"postern binary not found or not executable: {POSTERN_BIN} "
                    f"(build it, or set POSTERN_BIN)", pytrace=False)
    return POSTERN_BIN


# A sanitizer's report on a postern's stderr (the ASan+UBSan build). A leak found at exit
# turns an exit status of 0 into another, but leaves 1 (a start that failed) as it is, and
# most tests never read the status of what they stop: the report itself is the evidence.
SANITIZER_RE = re.compile(r"ERROR: (Leak|Address)Sanitizer|runtime error: |"
                          r"SUMMARY: UndefinedBehaviorSanitizer")


@pytest.fixture
def postern(request):
    """Factory: postern.client(targets, params, env=..., key=...) -> running Postern;
    postern.run(argv, env) -> started Postern. All are stopped at teardown, and a
    sanitizer's report from any of them fails the test."""
    f = PosternFactory()
    yield f
    f.cleanup()
    if _failed(request):
        print(dump_outputs(f.started))
    reported = [p for p in f.started if SANITIZER_RE.search("\n".join(p.lines("stderr")))]
    if reported:
        pytest.fail(f"a sanitizer reported on {len(reported)} postern process(es):\n" +
                    dump_outputs(reported)[-20000:], pytrace=False)


@pytest.fixture
def backends():
    """Factory: backends(handler, port=0, name=...) -> Backend; all stopped at teardown."""
    yield from stopping_factory(Backend)


@pytest.fixture
def echo_backend(backends):
    return backends(echo_handler, name="echo")


def stopping_factory(build):
    """Generator for fixtures: yield a function that makes objects with <build> and, at
    teardown, stop() every one of them (even when the test failed)."""
    made = []

    def make(*args, **kwargs):
        obj = build(*args, **kwargs)
        made.append(obj)
        return obj

    try:
        yield make
    finally:
        for obj in made:
            obj.stop()


def serve_directory(root):
    """Generator for fixtures: run `python3 -m http.server` over <root> on a free loopback
    port, yield the port, and stop the server (by PID) afterwards."""
    proc = None
    try:
        for _ in range(3):
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", LOOPBACK,
                                     "--directory", str(root), str(port)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                wait_port(port, proc=proc, timeout=10)
                break
            except AssertionError:
                proc.kill()
                proc.wait(5)
                proc = None
        assert proc is not None, "could not start python3 -m http.server"
        yield port
    finally:
        if proc is not None:
            stop_process(proc, timeout=5.0)


@pytest.fixture
def http_server(tmp_path):
    """python3 -m http.server over a temp dir holding file.bin (200 KiB of random bytes).
    Returns (port, url path, content)."""
    root = tmp_path / "www"
    root.mkdir()
    content = os.urandom(200 * 1024)
    (root / "file.bin").write_bytes(content)
    for port in serve_directory(root):
        yield port, "/file.bin", content


@pytest.fixture
def certs(tmp_path):
    require_tool("openssl")
    return CertFactory(tmp_path / "certs")


def curl(*args, timeout=20):
    """Run curl (never through a proxy); return CompletedProcess with bytes output."""
    require_tool("curl")
    return subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "10"] + list(args),
                          capture_output=True, timeout=timeout)
