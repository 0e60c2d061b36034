"""Helpers for the tunnel tests (30_tunnel_*_test.py), on top of conftest.py.

- Tunnel             a server + client pair in reverse or forward flow, started through
                     the conftest `postern` factory (so every process is cleaned up)
- Relay              a threaded TCP relay between a tunnel client and its server that
                     reads the 4-byte preamble of every connection, records what the
                     client sent, and optionally plays man in the middle on data
                     connections (terminates TLS with its own certificate)
- Pattern            a deterministic stream of N MiB (distinct blocks) that is sent and
                     hashed block by block, never held in memory as a whole
- checkpoint helpers, no-data assertions, a concurrent echo burst, raw DATA_HELLO
- fixtures `tunnel`, `relays`, `big_http_server`: import them into a test module

Every wait has a deadline; relays are stopped and processes killed in finalizers.
Through a relay the client dials another port than the server's, so such tests must give
an explicit key (the default key derives from the dialled port).
"""
import hashlib
import os
import re
import select
import socket
import ssl
import struct
import threading
import time

import pytest

from conftest import (CHECK_POINT_RE, LOOPBACK, READY_TIMEOUT, connect, curl, free_port,
                      hostport, recv_all, serve_directory, stopping_factory, wait_port)
from harness.backends import Listener
from harness.certs import self_signed  # noqa: F401 (re-exported)

# Fast reports, pings and reconnects for every tunnel test; tests add their own.
TUNNEL_ENV = {"POSTERN_REPORT_INTERVAL": "1s", "POSTERN_BACKOFF_MAX": "2s"}
REPORT_INTERVAL = 1.0

LISTENING_RE = r"(?i)listening for clients on"
# "client X attached", but not the refusal "... another client is attached"
ATTACHED_RE = r"(?i)^(?!.*(another client|busy)).*client .* attached"
CONNECTED_RE = r"(?i)connected to .* flow=(reverse|forward)"
AUTH_RE = r"(?i)auth"
BUSY_RE = r"(?i)busy|another client"

PREAMBLE_CONTROL = b"PN\x01C"
PREAMBLE_DATA = b"PN\x01D"
FT_DATA_HELLO = 0x0A
FT_DATA_OK = 0x0B


# --------------------------------------------------------------------------------------
# the tunnel pair
# --------------------------------------------------------------------------------------

def _targets(t):
    items = t if isinstance(t, (list, tuple)) else [t]
    return ",".join(hostport(LOOPBACK, x) if isinstance(x, int) else x for x in items)


def _query(params):
    params = [p for p in params if p]
    return ("?" + "&".join(params)) if params else ""


class Tunnel:
    """server://[key@]127.0.0.1:T/<..>  +  client://[key@]127.0.0.1:<dial>/<..>

    reverse: server://T/127.0.0.1:P (mode=0, it can bind P)  +  client://T/<backend>
             users connect to the server's P and reach the client's backend
    forward: server://T/<backend>?mode=2  +  client://T/127.0.0.1:P
             users connect to the client's P and leave from the server to <backend>

    <backend> is a port (or a list of ports / "host:port" strings). <client_dial_port>
    lets the client reach the server through a relay."""

    def __init__(self, factory, flow, backend, key=None, server_key=None, client_key=None,
                 server_params="", client_params="", env=None, server_env=None,
                 client_env=None, client_dial_port=None):
        assert flow in ("reverse", "forward")
        self.factory = factory
        self.flow = flow
        self.backend = backend
        self.server_key = server_key if server_key is not None else key
        self.client_key = client_key if client_key is not None else key
        self.server_params = server_params
        self.client_params = client_params
        base = dict(TUNNEL_ENV)
        base.update(env or {})
        self.server_env = dict(base, **(server_env or {}))
        self.client_env = dict(base, **(client_env or {}))
        self.tunnel_port = free_port()
        self.user_port = free_port()
        self.client_dial_port = client_dial_port
        self.server = None
        self.client = None
        self.clients = []

    # ---- URLs --------------------------------------------------------------------

    def server_url(self):
        user = f"{self.server_key}@" if self.server_key else ""
        if self.flow == "reverse":
            target, params = _targets(self.user_port), [self.server_params]
        else:
            target, params = _targets(self.backend), ["mode=2", self.server_params]
        return f"server://{user}{hostport(LOOPBACK, self.tunnel_port)}/{target}{_query(params)}"

    def client_url(self, key=None, params=None):
        key = self.client_key if key is None else key
        user = f"{key}@" if key else ""
        dial = self.client_dial_port or self.tunnel_port
        assert key or self.server_key or dial == self.tunnel_port, \
            "through a relay, give a key: the default key derives from the dialled port"
        target = _targets(self.backend if self.flow == "reverse" else self.user_port)
        params = self.client_params if params is None else params
        # Server and client share this machine: the server's port is taken here, so
        # auto mode would refuse (address in use); mode=2 says "tunnel client".
        mode = "" if re.search(r"(^|&)mode=", params or "") else "mode=2"
        return f"client://{user}{hostport(LOOPBACK, dial)}/{target}{_query([mode, params])}"

    # ---- processes ---------------------------------------------------------------

    def start_server(self, retries=3):
        """Start the server and wait for 'listening for clients on'. Fresh ports are
        picked when one was taken meanwhile (only before the first start)."""
        last = None
        for attempt in range(retries):
            p = self.factory.run([self.server_url()], self.server_env)
            try:
                p.wait_for_log(LISTENING_RE, timeout=READY_TIMEOUT)
                self.server = p
                return p
            except AssertionError as e:
                last = e
                p.cleanup()
                if ("address already in use" not in p.output().lower()
                        or self.server is not None):
                    raise AssertionError(f"{e}\nserver output:\n{p.output()}") from None
                self.tunnel_port, self.user_port = free_port(), free_port()
        raise last

    def restart_server(self, timeout=5.0):
        """Start a new server process on the same ports (after the old one died);
        retry while the ports are still busy, for up to <timeout> s."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.factory.run([self.server_url()], self.server_env)
            try:
                p.wait_for_log(LISTENING_RE, timeout=READY_TIMEOUT)
                self.server = p
                return p
            except AssertionError as e:
                p.cleanup()
                if ("address already in use" not in p.output().lower()
                        or time.monotonic() > deadline):
                    raise AssertionError(f"{e}\nserver output:\n{p.output()}") from None
                time.sleep(0.2)

    def start_client(self, key=None, params=None, env=None):
        e = dict(self.client_env)
        e.update(env or {})
        p = self.factory.run([self.client_url(key, params)], e)
        self.clients.append(p)
        if self.client is None or not self.client.alive():
            self.client = p
        return p

    def start(self, ready=True):
        self.start_server()
        self.start_client()
        if ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0, client=None, server_start=0, client_start=0):
        """The client logs 'connected to .. flow=<flow>', the server 'client .. attached'
        and the user port accepts connections."""
        client = client or self.client
        m = client.wait_for_log(CONNECTED_RE, timeout=timeout, start=client_start)
        assert m.group(1).lower() == self.flow, \
            f"client reports flow={m.group(1)}, expected {self.flow}: {m.string}"
        self.server.wait_for_log(ATTACHED_RE, timeout=timeout, start=server_start)
        proc = (self.server if self.flow == "reverse" else client).proc
        wait_port(self.user_port, timeout=timeout, proc=proc)

    def attached_count(self, server=None):
        server = server or self.server
        return count_lines(server, ATTACHED_RE)

    def outputs(self):
        procs = [self.server] + self.clients
        return "\n".join(p.output() for p in procs if p is not None)


def count_lines(p, pattern, start=0):
    return p.count_lines(pattern, start)


def kill9(p):
    """SIGKILL <p> (a conftest Postern) and reap it."""
    p.kill()


# --------------------------------------------------------------------------------------
# CHECK_POINT
# --------------------------------------------------------------------------------------

def checkpoint_values(m):
    return {k: int(v) for k, v in m.groupdict().items()}


def wait_checkpoint(p, pred, timeout, start=0, what="CHECK_POINT"):
    """Wait for a CHECK_POINT line at index >= <start> whose values (a dict of ints:
    mode, ping, pool, tcps, ...) satisfy <pred>; return that dict."""
    deadline = time.monotonic() + timeout
    seen = []
    i = start
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {what} within {timeout}s; saw {seen[-6:]}")
        try:
            idx, m = p.wait_for_log_index(CHECK_POINT_RE, timeout=remaining, start=i)
        except AssertionError as e:
            raise AssertionError(f"no {what} within {timeout}s; saw {seen[-6:]}\n{e}") from None
        v = checkpoint_values(m)
        seen.append(v)
        if pred(v):
            return v
        i = idx + 1


# --------------------------------------------------------------------------------------
# traffic
# --------------------------------------------------------------------------------------

class Pattern:
    """<mib> MiB made of 1 MiB blocks: block i is a random base block rotated by a
    per-block offset, so every block differs and nothing large is kept in memory."""

    BLOCK = 1 << 20

    def __init__(self, mib):
        self.mib = mib
        self.size = mib * self.BLOCK
        self._base = os.urandom(self.BLOCK)

    def blocks(self):
        for i in range(self.mib):
            o = (i * 104729 + 17) % self.BLOCK
            yield self._base[o:] + self._base[:o]


def stream_source_handler(pattern):
    """Backend handler: send <pattern> block by block, shut the write side, record
    ("sent", bytes, sha256) and wait for the peer's EOF."""
    def handler(backend, conn):
        h = hashlib.sha256()
        n = 0
        for block in pattern.blocks():
            conn.sendall(block)
            h.update(block)
            n += len(block)
        conn.shutdown(socket.SHUT_WR)
        backend.record(("sent", n, h.hexdigest()))
        recv_all(conn)
    return handler


def upload_pattern(port, pattern, timeout=60.0):
    """Send <pattern> over one connection to a digest backend behind <port>, half-close,
    and return (bytes sent, sha256 sent, reply text)."""
    h = hashlib.sha256()
    n = 0
    with connect(port, timeout=timeout) as s:
        for block in pattern.blocks():
            s.sendall(block)
            h.update(block)
            n += len(block)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, limit=200)
    return n, h.hexdigest(), reply.decode(errors="replace")


def download_all(port, timeout=60.0):
    """Read one connection to EOF, hashing on the fly; return (bytes, sha256)."""
    h = hashlib.sha256()
    n = 0
    with connect(port, timeout=timeout) as s:
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    return n, h.hexdigest()


def concurrent_echo(port, n, size=lambda i: 200 + 37 * i, timeout=60.0):
    """Open <n> connections to <port> at the same time (a barrier holds them open
    together), send a distinct payload on each, half-close, and compare the echo.
    Return {index: failure text} for the connections that failed."""
    barrier = threading.Barrier(n, timeout=timeout)
    results = [None] * n

    def one(i):
        payload = f"conn-{i:04d}|".encode() + os.urandom(size(i))
        try:
            with connect(port, timeout=timeout) as s:
                barrier.wait()
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                got = recv_all(s, limit=len(payload))
            results[i] = "ok" if got == payload else \
                f"mismatch: got {len(got)} of {len(payload)} bytes"
        except threading.BrokenBarrierError:
            results[i] = "barrier broken (another connection failed first)"
        except Exception as e:  # noqa: BLE001 - reported by the caller
            barrier.abort()
            results[i] = f"{type(e).__name__}: {e}"

    threads = [threading.Thread(target=one, args=(i,), daemon=True, name=f"echo-{i}")
               for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 10
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    alive = sum(1 for t in threads if t.is_alive())
    bad = {i: r for i, r in enumerate(results) if r != "ok"}
    if alive:
        bad[-1] = f"{alive} connection threads still running after {timeout + 10}s"
    return bad


def expect_no_data(port, timeout, payload=b"hello?\n"):
    """Connect to <port>, send <payload> and expect no byte back: refused, reset, EOF or
    silence for <timeout> s. Return how it ended; fail if any data arrives."""
    try:
        s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    except OSError as e:
        return f"connect failed: {e}"
    with s:
        s.settimeout(timeout)
        try:
            s.sendall(payload)
        except OSError as e:
            return f"send failed: {e}"
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                return "timeout"
            except OSError as e:
                return f"reset: {e}"
            assert b == b"", f"data came back through the tunnel: {b[:80]!r}"
            return "eof"


def curl_ok(port, path, content, max_time=5):
    r = curl("--max-time", str(max_time), f"http://127.0.0.1:{port}{path}",
             timeout=max_time + 10)
    return r.returncode == 0 and r.stdout == content


def wait_curl(port, path, content, timeout, what="curl through the tunnel"):
    """Poll curl until it fetches <content> (each try at most 3 s); fail after <timeout>."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        r = curl("--max-time", "3", f"http://127.0.0.1:{port}{path}", timeout=15)
        if r.returncode == 0 and r.stdout == content:
            return
        last = f"rc={r.returncode} {len(r.stdout)} bytes {r.stderr.decode(errors='replace')}"
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not succeed within {timeout}s; last: {last}")
        time.sleep(0.2)


def data_hello(conn_id, proof):
    """The DATA_HELLO frame: header [ver 1, type 0x0A, flags 0, reserved 0, stream 0,
    length 48] + 16-byte id + 32-byte proof."""
    assert len(conn_id) == 16 and len(proof) == 32
    return struct.pack(">BBBBII", 1, FT_DATA_HELLO, 0, 0, 0, 48) + conn_id + proof


def read_until_closed(sock, timeout):
    """Read until EOF or reset, for at most <timeout> s; return (bytes received,
    'eof' | 'reset' | 'open'), 'open' when the peer kept the connection open."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(buf), "open"
        sock.settimeout(remaining)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return bytes(buf), "reset"
        if not b:
            return bytes(buf), "eof"
        buf += b


# --------------------------------------------------------------------------------------
# relay between tunnel client and server
# --------------------------------------------------------------------------------------

class RelayConn:
    def __init__(self, index):
        self.index = index
        self.kind = None            # b"C", b"D" or None (no full preamble)
        self.c2s = bytearray()      # what the client sent (raw bytes), capped
        self.intercepted = False    # TLS terminated by the relay (MITM)
        self.error = None
        self.closed = False


def _pump(a, b, stop, on_a2b=None, chunk=65536, limit=1 << 20):
    """Relay between sockets <a> and <b> (plain or ssl) in one thread, until both
    directions are finished, an error occurs or <stop> is set. Half-close is passed on
    for plain sockets; on ssl sockets any EOF ends the relay."""
    socks = (a, b)
    peer = {a: b, b: a}
    out = {a: bytearray(), b: bytearray()}     # bytes waiting to be written to key
    reading = {a: True, b: True}
    shut = {a: False, b: False}
    is_ssl = {s: isinstance(s, ssl.SSLSocket) for s in socks}
    for s in socks:
        s.setblocking(False)
    while not stop.is_set():
        if not reading[a] and not reading[b] and not out[a] and not out[b]:
            return
        poller = select.poll()
        want_any = False
        pending = []
        for s in socks:
            ev = 0
            if reading[s] and len(out[peer[s]]) < limit:
                ev |= select.POLLIN
                if is_ssl[s] and s.pending():
                    pending.append(s)
            if out[s]:
                ev |= select.POLLOUT
            if ev:
                poller.register(s.fileno(), ev)
                want_any = True
        if not want_any:
            return
        events = poller.poll(0 if pending else 200)
        ready = {fd for fd, _ in events}
        for s in socks:
            if not (s.fileno() in ready or s in pending):
                continue
            if reading[s] and len(out[peer[s]]) < limit:
                try:
                    data = s.recv(chunk)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    data = None
                except OSError:
                    return
                if data == b"":
                    reading[s] = False
                    if is_ssl[s] or is_ssl[peer[s]]:
                        return
                elif data:
                    out[peer[s]] += data
                    if s is a and on_a2b is not None:
                        on_a2b(data)
            if out[s]:
                n = min(len(out[s]), 16384 if is_ssl[s] else len(out[s]))
                try:
                    sent = s.send(bytes(out[s][:n]))
                    del out[s][:sent]
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except OSError:
                    return
        for s in socks:
            if not reading[peer[s]] and not out[s] and not shut[s]:
                shut[s] = True
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass


class Relay(Listener):
    """A TCP relay on a fresh loopback port to 127.0.0.1:<upstream_port>.

    Every accepted connection: read the 4-byte postern preamble, connect upstream,
    forward the preamble, then relay both ways while recording (up to <record_limit>
    bytes of) what the client sent. With <mitm_cert>=(crt, key), data connections
    (PN\\x01D) are intercepted after the preamble: the relay completes TLS with the
    client using that certificate, opens its own TLS connection to the server (no
    verification) and relays the plaintext. Control connections always pass through."""

    def __init__(self, upstream_port, mitm_cert=None, record_limit=1 << 20, name="relay"):
        self.upstream_port = upstream_port
        self.record_limit = record_limit
        self.conns = []
        self.srv_ctx = self.cli_ctx = None
        if mitm_cert is not None:
            self.srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.srv_ctx.load_cert_chain(str(mitm_cert[0]), str(mitm_cert[1]))
            self.cli_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self.cli_ctx.check_hostname = False
            self.cli_ctx.verify_mode = ssl.CERT_NONE
        super().__init__(0, LOOPBACK, name, backlog=512)

    def end_socket(self, s):
        s.close()

    def on_accept(self, conn):
        with self._cond:
            rc = RelayConn(len(self.conns))
            self.conns.append(rc)
        return (rc,)

    def _record(self, rc, data):
        with self._cond:
            room = self.record_limit - len(rc.c2s)
            if room > 0:
                rc.c2s += data[:room]
            self._cond.notify_all()

    def serve(self, c, rc):
        ends = [c]
        try:
            c.settimeout(10)
            pre = b""
            while len(pre) < 4:
                b = c.recv(4 - len(pre))
                if not b:
                    return
                pre += b
            with self._cond:
                rc.kind = pre[3:4] if pre[:3] == b"PN\x01" else None
                self._cond.notify_all()
            self._record(rc, pre)
            up = self.track(socket.create_connection((LOOPBACK, self.upstream_port),
                                                     timeout=10))
            ends.append(up)
            up.sendall(pre)
            a, b = c, up
            if self.srv_ctx is not None and pre == PREAMBLE_DATA:
                a = self.track(self.srv_ctx.wrap_socket(c, server_side=True))
                ends.append(a)
                b = self.track(self.cli_ctx.wrap_socket(up, server_hostname="localhost"))
                ends.append(b)
                with self._cond:
                    rc.intercepted = True
                    self._cond.notify_all()
            _pump(a, b, self._stopping, on_a2b=lambda d: self._record(rc, d))
        except Exception as e:  # noqa: BLE001 - kept for the test's messages
            rc.error = e
        finally:
            for s in ends:
                try:
                    s.close()
                except OSError:
                    pass
            with self._cond:
                rc.closed = True
            self.untrack(*ends)

    def wait(self, pred, timeout, what="relay condition"):
        """Wait until <pred>(list of RelayConn) is truthy (evaluated under the lock)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = pred(self.conns)
                if v:
                    return v
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(c.kind, len(c.c2s), c.intercepted, c.error)
                            for c in self.conns][-10:]
                    raise AssertionError(f"{self.name}: timed out after {timeout}s waiting "
                                         f"for {what}; conns (kind, bytes, mitm, error): {seen}")
                self._cond.wait(min(remaining, 0.2))

    def control_conns(self):
        with self._cond:
            return [c for c in self.conns if c.kind == b"C"]


# --------------------------------------------------------------------------------------
# fixtures (import them into a test module to use them)
# --------------------------------------------------------------------------------------

@pytest.fixture
def relays():
    """Factory: relays(upstream_port, mitm_cert=None) -> Relay; all stopped at teardown."""
    yield from stopping_factory(Relay)


@pytest.fixture
def tunnel(postern):
    """Factory: tunnel(flow, backend, **kw) -> Tunnel (not started); its processes
    belong to the conftest `postern` factory and are stopped at teardown."""
    def make(flow, backend, **kwargs):
        return Tunnel(postern, flow, backend, **kwargs)
    return make


@pytest.fixture
def big_http_server(tmp_path):
    """python3 -m http.server over a temp dir with file.bin (200 KiB random) and big.bin
    (a sparse 4 GiB file, for transfers that are still running when something breaks).
    Returns (port, "/file.bin", content)."""
    root = tmp_path / "bigwww"
    root.mkdir()
    content = os.urandom(200 * 1024)
    (root / "file.bin").write_bytes(content)
    with open(root / "big.bin", "wb") as f:
        f.truncate(4 << 30)
    for port in serve_directory(root):
        yield port, "/file.bin", content


def drain_until_closed(sock, timeout):
    """Read and discard until EOF or reset within <timeout> s; return (bytes, how)."""
    deadline = time.monotonic() + timeout
    n = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"connection still open after {timeout}s ({n} bytes drained)")
        sock.settimeout(remaining)
        try:
            b = sock.recv(1 << 20)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return n, "reset"
        if not b:
            return n, "eof"
        n += len(b)
