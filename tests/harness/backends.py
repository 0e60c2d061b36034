"""Backends for the integration suite (tests/integration) and the valgrind sessions
(tests/valgrind), as threads of the test process on loopback:

- Listener           a threaded TCP listener: a thread per connection, stop() ends them
                     all (also the base of the tests' relays)
- Backend            a Listener with a pluggable handler; stop() closes the listener and
                     every live connection, like a crashed backend
- handlers           echo, id, digest (slow_digest), source, recorder, shut_first,
                     tls_echo (TLS as server, then echo), paced_source, send_until_gone
- UdpListener        a UDP socket read by a thread (the base of UdpEcho and of the limits
                     tests' PROXY receiver)
- UdpEcho            a UDP echo server (counts what it received and sent)
- HttpEcho           HTTP/1.1 keep-alive, answers a JSON echo of the request; /health
                     switchable, /hang never answers, /bytes/<n>, /eof, /chunked ...
- WsEcho             a WebSocket echo server (python3-websockets, asyncio in a thread)
- TlsEcho            a TLS server with its own self-signed certificate for one name

Every wait has a deadline; stop() ends every thread a backend started.
"""
import asyncio
import hashlib
import json
import os
import select
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .certs import make_cert
from .net import BULK_TIMEOUT, LOOPBACK, family, recv_all
from .procs import skip


# --------------------------------------------------------------------------------------
# TCP: a threaded server with a pluggable handler
# --------------------------------------------------------------------------------------

class Listener:
    """A TCP listener on <host>:<port> (0: a free port) whose every connection is served by
    serve(conn, *on_accept(conn)) in a thread of its own; the connection is closed after.
    Subclasses (Backend here, the tunnel tests' Relay, the limits tests' PreambleRelay)
    give serve() and may keep more sockets with track(); stop() closes the listener and
    ends every tracked socket (end_socket: a shutdown, or a close), then joins the
    threads. The subclass sets its own fields before calling this __init__: the acceptor
    starts at once."""

    def __init__(self, port=0, host=LOOPBACK, name="listener", backlog=1024):
        self.name = name
        self.host = host
        self.sock = socket.socket(family(host), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(backlog)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._cond = threading.Condition()
        self._conns = set()             # sockets ended by stop()
        self._threads = []
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"{name}-accept")
        self._acceptor.start()

    def on_accept(self, conn):
        """Called in the acceptor, in accept order: extra arguments for serve()."""
        return ()

    def serve(self, conn, *args):
        raise NotImplementedError

    def end_socket(self, s):
        """How stop() ends a live socket: shut both directions (the serving thread closes
        it), like a backend that dies."""
        s.shutdown(socket.SHUT_RDWR)

    def track(self, s):
        """Have stop() end <s> too (until untrack)."""
        with self._cond:
            self._conns.add(s)
        return s

    def untrack(self, *socks):
        with self._cond:
            for s in socks:
                self._conns.discard(s)
            self._cond.notify_all()

    def _accept_loop(self):
        try:
            while not self._stopping.is_set():
                try:
                    conn, _ = self.sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    break
                with self._cond:
                    self.accepted += 1
                    self._conns.add(conn)
                t = threading.Thread(target=self._run, args=(conn, self.on_accept(conn)),
                                     daemon=True, name=f"{self.name}-conn")
                with self._cond:
                    self._threads.append(t)
                t.start()
        finally:
            self.sock.close()

    def _run(self, conn, args):
        try:
            self.serve(conn, *args)
        finally:
            self.untrack(conn)
            try:
                conn.close()
            except OSError:
                pass

    def live_connections(self):
        with self._cond:
            return len(self._conns)

    def stop(self):
        """Close the listener (new connections are refused from now on), end every live
        connection and join the threads."""
        self._stopping.set()
        self._acceptor.join(timeout=5)
        with self._cond:
            threads = list(self._threads)
        self.sever(self.end_socket)
        for t in threads:
            t.join(timeout=5)

    def sever(self, how=None):
        """End every live connection, the listener still accepting: <how>(socket), by
        default a shutdown both ways (a path that breaks; the serving threads close)."""
        with self._cond:
            socks = list(self._conns)
        for s in socks:
            try:
                (how or (lambda x: x.shutdown(socket.SHUT_RDWR)))(s)
            except OSError:
                pass


class Backend(Listener):
    """A threaded TCP server on loopback. <handler>(backend, conn) serves one connection
    in its own thread; the connection is closed afterwards. Handlers call record() to
    publish what they saw, tests wait for it with wait_record(). stop() closes the
    listener and every live connection, like a backend that dies."""

    def __init__(self, handler, port=0, host=LOOPBACK, name="backend"):
        self.handler = handler
        self.errors = []
        self.records = []
        super().__init__(port, host, name)

    def serve(self, conn):
        conn.settimeout(BULK_TIMEOUT)
        try:
            self.handler(self, conn)
        except Exception as e:  # peers (and postern's probes) may reset at any time
            with self._cond:
                self.errors.append(e)

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


# ---- handlers ------------------------------------------------------------------------

def echo_handler(backend, conn):
    """Send back everything; on EOF shut the write side."""
    while True:
        b = conn.recv(65536)
        if not b:
            break
        conn.sendall(b)
    conn.shutdown(socket.SHUT_WR)


def send_until_gone(backend, conn, limit=20.0):
    """Send random blocks until the connection fails (<limit> s at most), then record
    ("gone", when (monotonic), bytes sent, how it ended: the error's name)."""
    conn.settimeout(1)
    block, t0, n, end = os.urandom(1 << 16), time.monotonic(), 0, f"open after {limit:g} s"
    while time.monotonic() - t0 < limit:
        try:
            n += conn.send(block)
        except socket.timeout:
            continue
        except OSError as e:
            end = type(e).__name__
            break
    backend.record(("gone", time.monotonic(), n, end))


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


def tls_echo_handler(ctx, prefix=b""):
    """Complete TLS as server with <ctx> (ssl.SSLContext), record ("tls", version), then
    echo the plaintext, <prefix> in front of every piece."""
    def handler(backend, conn):
        conn.settimeout(10)
        with ctx.wrap_socket(conn, server_side=True) as tconn:
            backend.record(("tls", tconn.version()))
            while True:
                b = tconn.recv(65536)
                if not b:
                    break
                tconn.sendall(prefix + b)
    return handler


def paced_source_handler(total, chunk=64 * 1024, gap=0.05):
    """Backend handler: send <total> random bytes in <chunk>s with <gap> s between them (a
    transfer that lasts), shut the write side, record ("sent", n, sha256)."""
    def handler(backend, conn):
        h = hashlib.sha256()
        n = 0
        while n < total:
            block = os.urandom(min(chunk, total - n))
            conn.sendall(block)
            h.update(block)
            n += len(block)
            time.sleep(gap)
        conn.shutdown(socket.SHUT_WR)
        backend.record(("sent", n, h.hexdigest()))
        conn.settimeout(10)
        try:
            recv_all(conn)
        except OSError:
            pass
    return handler


def close_at_once_handler(backend, conn):
    """Accept, then close without reading or answering anything."""
    backend.record("accepted")



# --------------------------------------------------------------------------------------
# UDP echo
# --------------------------------------------------------------------------------------

MAX_DATAGRAM = 65507            # largest UDP payload over IPv4
BIG_BUF = 4 << 20               # socket buffers asked for (the suite needs >= 256 KiB)


def set_big_buffers(sock, size=BIG_BUF):
    """Ask for <size> bytes of receive and send buffer on <sock> (SO_*BUFFORCE when
    allowed, i.e. as root) and check that at least 256 KiB were granted."""
    for force, plain in ((getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF),
                         (getattr(socket, "SO_SNDBUFFORCE", None), socket.SO_SNDBUF)):
        done = False
        if force is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, size)
                done = True
            except OSError:
                pass
        if not done:
            sock.setsockopt(socket.SOL_SOCKET, plain, size)
        got = sock.getsockopt(socket.SOL_SOCKET, plain)
        assert got >= 256 * 1024, f"socket buffer {plain}: only {got} bytes granted"



class UdpListener:
    """A UDP socket on <host>:<port> (0: a free one) read by a thread of its own; every
    datagram goes to on_datagram(data, peer) (given by a subclass, which sets its own
    fields before calling this __init__: the thread starts at once). <big_buffers> asks
    for large socket buffers (set_big_buffers). Receive errors other than the stop are
    kept in .errors (an ECONNREFUSED from an earlier reply to a vanished peer is
    harmless). stop() closes the socket: the port is unreachable afterwards."""

    def __init__(self, port=0, host=LOOPBACK, name="udp", big_buffers=False):
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # no SO_REUSEADDR: on UDP it would let two sockets share the port silently
        if big_buffers:
            set_big_buffers(self.sock)
        self.sock.bind((host, port))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=name)
        self._thread.start()

    def on_datagram(self, data, peer):
        raise NotImplementedError

    def _loop(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(MAX_DATAGRAM + 1024)
            except socket.timeout:
                continue
            except OSError as e:
                if self._stop.is_set():
                    break
                self.errors.append(e)
                continue
            self.on_datagram(data, peer)

    def stop(self):
        """Stop answering and close the socket: the port is unreachable afterwards."""
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.sock.close()
        except OSError:
            pass


class UdpEcho(UdpListener):
    """Echo every datagram back to its sender, from a thread. <port> 0 picks a free one.
    Records per peer address how many datagrams/bytes came in."""

    def __init__(self, port=0, host=LOOPBACK, name="udp-echo"):
        self.lock = threading.Lock()
        self.rx_datagrams = 0
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.peers = {}             # address -> datagrams received from it
        super().__init__(port, host, name, big_buffers=True)

    def on_datagram(self, data, peer):
        # counted before the echo leaves: once a client has its reply, the counts
        # include it
        with self.lock:
            self.rx_datagrams += 1
            self.rx_bytes += len(data)
            self.tx_bytes += len(data)
            self.peers[peer] = self.peers.get(peer, 0) + 1
        try:
            self.sock.sendto(data, peer)
        except OSError as e:
            with self.lock:
                self.tx_bytes -= len(data)
                self.errors.append(e)

    def counts(self):
        with self.lock:
            return self.rx_datagrams, self.rx_bytes, self.tx_bytes


def udp_echo_on(port, name="udp-echo", timeout=5.0):
    """A UdpEcho on exactly <port>, retrying while the port is still taken."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return UdpEcho(port, name=name)
        except OSError as e:
            if time.monotonic() >= deadline:
                raise AssertionError(f"cannot bind UDP 127.0.0.1:{port}: {e}") from None
            time.sleep(0.1)


# --------------------------------------------------------------------------------------
# HTTP and WebSocket
# --------------------------------------------------------------------------------------

class QuietHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server (daemon handler threads) that prints no traceback when a
    client (postern, a test) closes or resets its connection, which is no fault of the
    backend; any other error still prints."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class HttpEcho:
    """An HTTP/1.1 (keep-alive) backend in threads of this process.

    Every request except /health* and /hang* is answered 200 with a JSON object:
    {"backend": <name>, "method", "path", "headers": [[k, v], ...], "peer": [ip, port],
     "body_len", "body_sha256"} and recorded in .requests (same dict).
    /health answers 200 "ok" while .healthy, else 503; /hang reads the request and never
    answers (until the peer closes or stop()); /chunked answers the JSON in small chunks,
    /nocontent answers 204, HEAD the head only, /bytes/<n> answers pattern_bytes(n), /eof
    answers 200000 pattern bytes delimited by the connection's close. Chunked request
    bodies are read.
    .open_conns counts the connections open now."""

    def __init__(self, name, host=LOOPBACK):
        self.name = name
        self.healthy = True
        self.requests = []
        self.health_checks = 0
        self.open_conns = 0
        self.conns_total = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._socks = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "hubtest-backend"
            timeout = 30

            def setup(self):
                super().setup()
                with outer._cond:
                    outer.open_conns += 1
                    outer.conns_total += 1
                    outer._socks.add(self.connection)
                    outer._cond.notify_all()

            def finish(self):
                try:
                    super().finish()
                finally:
                    with outer._cond:
                        outer.open_conns -= 1
                        outer._socks.discard(self.connection)
                        outer._cond.notify_all()

            def log_message(self, *args):
                pass

            def _handle(self):
                outer._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = _handle

        class Server(QuietHTTPServer):
            request_queue_size = 1024   # not 5: a hundred connections at once (HTTP/2 streams)

        self.server = Server((host, 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"http-{name}")
        self._thread.start()

    def _send(self, req, status, body, ctype="text/plain"):
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)
        req.wfile.flush()

    def _serve(self, req):
        if "chunked" in (req.headers.get("Transfer-Encoding") or "").lower():
            body = bytearray()
            while True:
                size = int(req.rfile.readline(1024).split(b";")[0].strip(), 16)
                if size == 0:
                    while req.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += req.rfile.read(size)
                req.rfile.readline(3)
            body = bytes(body)
        else:
            length = int(req.headers.get("Content-Length") or 0)
            body = req.rfile.read(length) if length else b""
        if req.path.startswith("/health"):
            with self._cond:
                self.health_checks += 1
                self._cond.notify_all()
            if self.healthy:
                self._send(req, 200, b"ok\n")
            else:
                self._send(req, 503, b"sick\n")
            return
        rec = {"backend": self.name, "method": req.command, "path": req.path,
               "headers": [[k, v] for k, v in req.headers.items()],
               "peer": list(req.client_address), "body_len": len(body),
               "body_sha256": hashlib.sha256(body).hexdigest()}
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()
        if req.path.startswith("/hang"):
            # never answer; give up when the peer closes, at stop(), or after 30 s
            deadline = time.monotonic() + 30
            while not self._stop.is_set() and time.monotonic() < deadline:
                r, _, _ = select.select([req.connection], [], [], 0.2)
                if r:
                    try:
                        if not req.connection.recv(1, socket.MSG_PEEK):
                            break
                    except OSError:
                        break
                    time.sleep(0.2)         # bytes waiting (a pipelined request)
            req.close_connection = True
            return
        payload = json.dumps(rec).encode()
        if req.command == "HEAD":
            req.send_response(200)
            req.send_header("Content-Type", "application/json")
            req.send_header("Content-Length", str(len(payload)))
            req.end_headers()
        elif req.path.startswith("/bytes/"):
            n = int(req.path.split("/")[2])
            data = pattern_bytes(n)
            req.send_response(200)
            req.send_header("Content-Type", "application/octet-stream")
            req.send_header("Content-Length", str(n))
            req.end_headers()
            req.wfile.write(data)
        elif req.path.startswith("/eof"):
            # no Content-Length, not chunked: the body ends when the connection closes
            req.send_response(200)
            req.send_header("Content-Type", "application/octet-stream")
            req.send_header("Connection", "close")
            req.end_headers()
            req.wfile.write(pattern_bytes(200000))
            req.close_connection = True
        elif req.path.startswith("/nocontent"):
            req.send_response(204)
            req.end_headers()
        elif req.path.startswith("/chunked"):
            req.send_response(200)
            req.send_header("Content-Type", "application/json")
            req.send_header("Transfer-Encoding", "chunked")
            req.end_headers()
            for i in range(0, len(payload), 7):
                part = payload[i:i + 7]
                req.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            req.wfile.write(b"0\r\n\r\n")
        else:
            self._send(req, 200, payload, "application/json")
        req.wfile.flush()

    def count(self, path_prefix="/"):
        with self._cond:
            return sum(1 for r in self.requests if r["path"].startswith(path_prefix))

    def wait(self, pred, timeout, what="backend condition"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = pred(self)
                if v:
                    return v
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.name}: timed out after {timeout}s waiting "
                                         f"for {what}")
                self._cond.wait(min(remaining, 0.1))

    def stop(self):
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        with self._cond:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def pattern_bytes(n):
    """<n> deterministic bytes (a non-repeating-looking pattern, cheap to make)."""
    block = hashlib.sha256(b"hub-pattern").digest() * 2048          # 64 KiB
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(i.to_bytes(4, "big")).digest() + block
        i += 1
    return bytes(out[:n])


def header_values(rec, name):
    """All values of header <name> in a recorded request (case-insensitive)."""
    return [v for k, v in rec["headers"] if k.lower() == name.lower()]


class WsEcho:
    """A WebSocket echo server (python3-websockets 10.4, asyncio in its own thread).
    .requests records the request headers of each connection (list of (k, v))."""

    def __init__(self, host=LOOPBACK, name="ws-echo"):
        try:
            import websockets  # noqa: F401
        except ImportError:
            skip("python3-websockets is not installed")
        self.name = name
        self.requests = []
        self.messages = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error = None
        self._stop_fut = None
        self.port = None
        self._thread = threading.Thread(target=self._run, args=(host,), daemon=True, name=name)
        self._thread.start()
        assert self._ready.wait(10), "websocket server did not start"
        if self._error:
            raise self._error

    async def _handler(self, ws, *_):
        self.requests.append(list(ws.request_headers.raw_items()))
        async for msg in ws:
            self.messages += 1
            await ws.send(msg)

    def _run(self, host):
        import websockets
        asyncio.set_event_loop(self.loop)
        try:
            server = self.loop.run_until_complete(
                websockets.serve(self._handler, host, 0, max_size=4 << 20))
            self.port = server.sockets[0].getsockname()[1]
            self._stop_fut = self.loop.create_future()
        except Exception as e:  # noqa: BLE001 - raised in __init__
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        try:
            self.loop.run_until_complete(self._stop_fut)
            server.close()
            self.loop.run_until_complete(asyncio.wait_for(server.wait_closed(), 5))
        except Exception:  # noqa: BLE001 - shutting down
            pass
        finally:
            self.loop.close()

    def stop(self):
        if self._stop_fut is not None and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(
                    lambda: self._stop_fut.done() or self._stop_fut.set_result(None))
            except RuntimeError:
                pass
        self._thread.join(timeout=10)


# --------------------------------------------------------------------------------------
# TLS (certificates: certs.py)
# --------------------------------------------------------------------------------------

class TlsEcho:
    """A TLS server (python ssl, its own self-signed certificate for <name>) in threads:
    after the handshake it sends "hello from <name>\\n", answers one line with
    "<name> echo: <line>" and closes. .snis records the server names clients asked for."""

    def __init__(self, directory, name, host=LOOPBACK):
        self.name = name
        self.crt, self.key, self.fingerprint = make_cert(directory, name)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(self.crt), str(self.key))
        self.snis = []
        self.ctx.sni_callback = lambda sslobj, sn, ctx: self.snis.append(sn)

        def handler(backend, conn):
            conn.settimeout(10)
            with self.ctx.wrap_socket(conn, server_side=True) as t:
                t.sendall(f"hello from {name}\n".encode())
                line = t.makefile("rb").readline(4096)
                t.sendall(f"{name} echo: ".encode() + line)
                try:
                    t.unwrap()
                except (OSError, ValueError):
                    pass
        self.backend = Backend(handler, host=host, name=f"tls-{name}")
        self.port = self.backend.port

    def stop(self):
        self.backend.stop()
