"""Shared harness for the postern integration tests.

Everything here talks to the real binary over loopback only:

- free_port()             an ephemeral port, found by binding port 0 and closing
- Postern                 the binary as a child process: stdout/stderr are read by two
                          threads into line lists, so tests can wait for a log line with
                          a deadline (wait_for_log) and stop it with a signal (stop)
- Backend                 a TCP server thread in this process with a pluggable handler
                          (echo, id, digest, source, recorder, shut_first); stop() closes
                          the listener and every live connection, like a crashed backend
- CertFactory             a CA and leaf certificates made with the openssl CLI
- fixtures: postern (a factory that cleans up every process it started), backends
  (same for Backend), http_server (python3 -m http.server over a temp dir), certs

Every wait has a deadline; every process and thread started here is stopped in a
finalizer, also when the test fails.
"""
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.dont_write_bytecode = True

REPO = Path(__file__).resolve().parents[2]
POSTERN_BIN = os.environ.get("POSTERN_BIN", str(REPO / "build" / "postern"))

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 5.0      # the contract: a started postern accepts within 5 s
IO_TIMEOUT = 10.0        # default socket timeout for small exchanges
BULK_TIMEOUT = 60.0      # socket timeout for the 64 MiB transfers

CHECK_POINT_RE = (r"CHECK_POINT\|MODE=(?P<mode>\d+)\|PING=(?P<ping>\d+)ms\|POOL=(?P<pool>\d+)"
                  r"\|TCPS=(?P<tcps>\d+)\|UDPS=(?P<udps>\d+)\|TCPRX=(?P<tcprx>\d+)"
                  r"\|TCPTX=(?P<tcptx>\d+)\|UDPRX=(?P<udprx>\d+)\|UDPTX=(?P<udptx>\d+)")


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

_issued_ports = set()
_issued_lock = threading.Lock()


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host=LOOPBACK):
    """Return a TCP port on <host> that was free a moment ago and that this process has
    not handed out before (the small race with other processes is accepted; starters
    retry on 'address already in use')."""
    for _ in range(50):
        with socket.socket(_family(host), socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        with _issued_lock:
            if port not in _issued_ports:
                _issued_ports.add(port)
                return port
    raise RuntimeError("could not find a fresh free port")


def hostport(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def require_tool(name):
    """Skip the calling test when the external program <name> is not installed."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"required program '{name}' is not installed")
    return path


def wait_port(port, host=LOOPBACK, timeout=READY_TIMEOUT, proc=None):
    """Poll a TCP connect to <host>:<port> until it succeeds; fail after <timeout> s or
    as soon as <proc> (a Popen) has exited."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before "
                                 f"{hostport(host, port)} accepted connections")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as e:
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"{hostport(host, port)} did not accept connections "
                                 f"within {timeout}s (last error: {last})")
        time.sleep(0.02)


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll <pred>() until it returns a truthy value (returned); fail after <timeout> s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def connect(port, host=LOOPBACK, timeout=IO_TIMEOUT):
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_all(sock, limit=None):
    """Read until EOF (socket timeout applies to each recv) and return the bytes."""
    chunks = []
    n = 0
    while True:
        b = sock.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)
        n += len(b)
        if limit is not None and n > limit:
            raise AssertionError(f"peer sent more than {limit} bytes")


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        b = sock.recv(n - len(buf))
        if not b:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes")
        buf += b
    return bytes(buf)


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


def pem_fingerprint(pem_path):
    """SHA-256 of the DER form of the (single) certificate in <pem_path>."""
    der = ssl.PEM_cert_to_DER_cert(Path(pem_path).read_text())
    return hashlib.sha256(der).hexdigest()


# --------------------------------------------------------------------------------------
# the binary under test
# --------------------------------------------------------------------------------------

class Postern:
    """One postern child process with its output collected line by line."""

    def __init__(self, argv, env=None):
        self.argv = [POSTERN_BIN] + list(argv)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.port = None
        self.host = LOOPBACK
        self._lines = {"stdout": [], "stderr": []}
        self._eof = {"stdout": False, "stderr": False}
        self._cond = threading.Condition()
        self._readers = []

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=self.env)
        for name, pipe in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            t = threading.Thread(target=self._reader, args=(name, pipe), daemon=True,
                                 name=f"postern-{self.proc.pid}-{name}")
            t.start()
            self._readers.append(t)
        return self

    def _reader(self, name, pipe):
        try:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._cond:
                    self._lines[name].append(line)
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self._eof[name] = True
                self._cond.notify_all()

    # ---- output ------------------------------------------------------------------

    def lines(self, stream="stdout"):
        with self._cond:
            return list(self._lines[stream])

    def mark(self, stream="stdout"):
        """Index of the next line to arrive on <stream>; pass it as start= below."""
        with self._cond:
            return len(self._lines[stream])

    def output(self):
        return "\n".join(self.lines("stdout") + self.lines("stderr"))

    def wait_for_log(self, pattern, timeout=5.0, start=0, stream="stdout"):
        """Wait up to <timeout> s for a <stream> line at index >= <start> matching
        <pattern> (re.search); return the match object."""
        return self.wait_for_log_index(pattern, timeout, start, stream)[1]

    def wait_for_log_index(self, pattern, timeout=5.0, start=0, stream="stdout"):
        """Like wait_for_log, but return (line index, match)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                lines = self._lines[stream]
                while i < len(lines):
                    m = rx.search(lines[i])
                    if m:
                        return i, m
                    i += 1
                if self._eof[stream]:
                    raise AssertionError(f"{stream} closed (exit {self.proc.poll()}) without a "
                                         f"line matching {pattern!r}; last lines:\n"
                                         + "\n".join(lines[-15:]))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {stream} line matching {pattern!r} within "
                                         f"{timeout}s; last lines:\n" + "\n".join(lines[-15:]))
                self._cond.wait(remaining)

    # ---- lifecycle ---------------------------------------------------------------

    def wait_port(self, port=None, host=None, timeout=READY_TIMEOUT):
        wait_port(port or self.port, host or self.host, timeout, proc=self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Send <sig> and wait up to <timeout> s. Return (exit code, seconds taken); the
        exit code is None when it did not exit in time (it is then SIGKILLed)."""
        if self.proc.poll() is not None:
            self._join_readers()
            return self.proc.returncode, 0.0
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
            elapsed = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - t0
            self.proc.kill()
            self.proc.wait(5)
            rc = None
        self._join_readers()
        return rc, elapsed

    def _join_readers(self):
        for t in self._readers:
            t.join(timeout=5)

    def cleanup(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        self._join_readers()
        for pipe in (self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass


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
                if "address already in use" not in p.output().lower():
                    raise AssertionError(f"{e}\npostern output:\n{p.output()}") from None
        raise last

    def cleanup(self):
        for p in self.started:
            p.cleanup()


# --------------------------------------------------------------------------------------
# backends: TCP servers as threads of the test process
# --------------------------------------------------------------------------------------

class Backend:
    """A threaded TCP server on loopback. <handler>(backend, conn) serves one connection
    in its own thread; the connection is closed afterwards. Handlers call record() to
    publish what they saw, tests wait for it with wait_record()."""

    def __init__(self, handler, port=0, host=LOOPBACK, name="backend"):
        self.handler = handler
        self.name = name
        self.host = host
        self.sock = socket.socket(_family(host), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1024)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.errors = []
        self.records = []
        self._cond = threading.Condition()
        self._conns = set()
        self._threads = []
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"{name}-accept")
        self._acceptor.start()

    def _accept_loop(self):
        try:
            while not self._stopping.is_set():
                try:
                    conn, _ = self.sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    break
                conn.settimeout(BULK_TIMEOUT)
                with self._cond:
                    self.accepted += 1
                    self._conns.add(conn)
                t = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                     name=f"{self.name}-conn")
                self._threads.append(t)
                t.start()
        finally:
            self.sock.close()

    def _serve(self, conn):
        try:
            self.handler(self, conn)
        except Exception as e:  # peers (and postern's probes) may reset at any time
            with self._cond:
                self.errors.append(e)
        finally:
            with self._cond:
                self._conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def record(self, value):
        with self._cond:
            self.records.append(value)
            self._cond.notify_all()

    def wait_record(self, pred, timeout=5.0):
        """Return the first record for which <pred> is true, waiting up to <timeout> s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.records:
                    if pred(r):
                        return r
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.name}: no matching record within {timeout}s; "
                                         f"records: {[repr(r)[:80] for r in self.records][-10:]}")
                self._cond.wait(remaining)

    def live_connections(self):
        with self._cond:
            return len(self._conns)

    def stop(self):
        """Close the listener (new connections are refused from now on) and every live
        connection, like a backend that dies."""
        self._stopping.set()
        self._acceptor.join(timeout=5)
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)


# ---- handlers ------------------------------------------------------------------------

def echo_handler(backend, conn):
    """Send back everything; on EOF shut the write side."""
    while True:
        b = conn.recv(65536)
        if not b:
            break
        conn.sendall(b)
    conn.shutdown(socket.SHUT_WR)


def id_handler(ident):
    """Answer "<ident>\\n" and close."""
    def handler(backend, conn):
        conn.sendall(ident.encode() + b"\n")
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(5)
        try:
            recv_all(conn)
        except OSError:
            pass
    return handler


def digest_handler(backend, conn, delay=0.0):
    """Read to EOF, then (after <delay> s) answer "<byte count> <sha256 hex>\\n" and
    close."""
    h = hashlib.sha256()
    n = 0
    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    if delay:
        time.sleep(delay)
    reply = f"{n} {h.hexdigest()}\n".encode()
    conn.sendall(reply)
    conn.shutdown(socket.SHUT_WR)
    backend.record((n, h.hexdigest()))


def slow_digest_handler(delay):
    """digest_handler that waits <delay> s between the client's EOF and its answer."""
    def handler(backend, conn):
        digest_handler(backend, conn, delay)
    return handler


def source_handler(data):
    """Send <data>, shut the write side, wait for the peer's EOF."""
    def handler(backend, conn):
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        recv_all(conn)
    return handler


def recorder_handler(backend, conn):
    """Read to EOF; record the bytes seen so far after every chunk."""
    buf = bytearray()
    while True:
        b = conn.recv(65536)
        if not b:
            break
        buf += b
        backend.record(bytes(buf))


def shut_first_handler(greeting):
    """Send <greeting> and shut the write side at once, then read to EOF and record
    everything the client sent afterwards."""
    def handler(backend, conn):
        conn.sendall(greeting)
        conn.shutdown(socket.SHUT_WR)
        data = recv_all(conn)
        backend.record(data)
    return handler


# --------------------------------------------------------------------------------------
# certificates (openssl CLI)
# --------------------------------------------------------------------------------------

class CertFactory:
    """A test CA and leaf certificates for localhost / 127.0.0.1, ECDSA P-256."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_pem = self.dir / "ca.pem"
        self.ca_key = self.dir / "ca.key"
        cnf = self.dir / "ca.cnf"
        cnf.write_text("[req]\ndistinguished_name = dn\nprompt = no\n"
                       "[dn]\nCN = postern test CA\n"
                       "[v3_ca]\nbasicConstraints = critical,CA:TRUE\n"
                       "keyUsage = critical,keyCertSign,cRLSign\n"
                       "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n")
        self._openssl("req", "-x509", "-config", cnf, "-extensions", "v3_ca",
                      "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", self.ca_key, "-out", self.ca_pem, "-days", "2")

    @staticmethod
    def _openssl(*args):
        r = subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n"
                               f"{r.stderr.decode(errors='replace')}")

    def leaf(self, name, serial, cn="localhost", san="DNS:localhost,IP:127.0.0.1"):
        """Make <name>.pem / <name>.key signed by the CA; return (crt path, key path)."""
        key = self.dir / f"{name}.key"
        csr = self.dir / f"{name}.csr"
        crt = self.dir / f"{name}.pem"
        ext = self.dir / f"{name}.ext"
        ext.write_text("basicConstraints = CA:FALSE\n"
                       "keyUsage = critical,digitalSignature\n"
                       "extendedKeyUsage = serverAuth\n"
                       f"subjectAltName = {san}\n"
                       "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid,issuer\n")
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
                      "-subj", f"/CN={cn}")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca_pem, "-CAkey", self.ca_key,
                      "-set_serial", str(serial), "-days", "2", "-extfile", ext, "-out", crt)
        return crt, key

    def ec_key(self, name):
        key = self.dir / f"{name}.key"
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", key)
        return key


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


@pytest.fixture
def postern(request):
    """Factory: postern.client(targets, params, env=..., key=...) -> running Postern;
    postern.run(argv, env) -> started Postern. All are stopped at teardown."""
    f = PosternFactory()
    yield f
    f.cleanup()
    if _failed(request):
        for p in f.started:
            print(f"---- postern {' '.join(p.argv[1:])} (exit {p.proc.returncode}) ----")
            print(p.output())


@pytest.fixture
def backends():
    """Factory: backends(handler, port=0, name=...) -> Backend; all stopped at teardown."""
    started = []

    def make(handler, port=0, host=LOOPBACK, name="backend"):
        b = Backend(handler, port, host, name)
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


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
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


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
