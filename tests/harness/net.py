"""Loopback ports, bounded waits and small socket helpers shared by the integration suite
(tests/integration) and the valgrind sessions (tests/valgrind).

- free_port()            a TCP port that was free a moment ago, never handed out twice
- port_block()           <n> consecutive ports below the ephemeral range, free for TCP
                         and UDP (a hub's ports= range)
- wait_port()            poll a TCP connect until it succeeds (or the process exited)
- wait_until()           poll a predicate until it holds
- connect / connect_from / recv_all / recv_exact: sockets with timeouts

Every wait has a deadline; a missed one raises AssertionError naming what was awaited.
"""
import random
import socket
import threading
import time

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 5.0      # the contract: a started postern accepts within 5 s
IO_TIMEOUT = 10.0        # default socket timeout for small exchanges
BULK_TIMEOUT = 60.0      # socket timeout for the 64 MiB transfers

_issued_ports = set()
_issued_lock = threading.Lock()
_blocks_issued = set()


def family(host):
    """AF_INET6 for an IPv6 literal, AF_INET otherwise."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def hostport(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def free_port(host=LOOPBACK):
    """Return a TCP port on <host> (free for UDP too) that was free a moment ago and that this process has
    not handed out before (the small race with other processes is accepted; starters
    retry on 'address already in use')."""
    for _ in range(50):
        with socket.socket(family(host), socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        # A port a UDP backend holds is no tunnel port either: a forward tunnel whose
        # target is its own listen address refuses to start (a loop).
        with socket.socket(family(host), socket.SOCK_DGRAM) as u:
            try:
                u.bind((host, port))
            except OSError:
                continue
        with _issued_lock:
            if port not in _issued_ports:
                _issued_ports.add(port)
                return port
    raise RuntimeError("could not find a fresh free port")


def _port_free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


def port_block(n, lo=20000, hi=32000):
    """First port of <n> consecutive ports in [lo, hi) (below Linux's ephemeral range, so
    no outgoing connection takes one meanwhile) that are free for TCP and UDP on
    127.0.0.1 and were not handed out before by this process."""
    for _ in range(200):
        base = random.randrange(lo, hi - n)
        ports = set(range(base, base + n))
        with _issued_lock:
            if ports & _blocks_issued:
                continue
        if all(_port_free(p) for p in ports):
            with _issued_lock:
                _blocks_issued.update(ports)
            return base
    raise RuntimeError(f"no block of {n} free ports found")


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


def connect_from(src_ip, port, host=LOOPBACK, timeout=5.0):
    """A TCP connection to <host>:<port> whose source address is <src_ip> (None: any)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        if src_ip:
            s.bind((src_ip, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
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


def echo_roundtrip(port, payload, timeout=10.0):
    """Send <payload> over one connection to 127.0.0.1:<port>, half-close, read to EOF;
    return what came back."""
    with connect(port, timeout=timeout) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s)
