"""Helpers for the limits and protection tests (60_limits_*_test.py), on top of
conftest.py, tunnel_util.py and udp_util.py.

- PROXY protocol      proxy_v1() / proxy_v2() encoders (for self-checks) and
                      decode_proxy(), a strict decoder of one v1 or v2 header
- ProxyRecorder       a TCP backend handler that decodes the PROXY header in front of the
                      stream, records (header, payload) and echoes the payload
- UdpProxyReceiver    a UDP receiver thread that decodes a v2 header on every datagram
- Haproxy             a real haproxy (mode tcp, foreground -db, stopped by PID) whose
                      frontend accepts (or whose backend sends) the PROXY protocol; every
                      connection logs one line "pn-conn src=<ip>:<port> dst=<ip>:<port>"
- HostsDnsmasq        dnsmasq answering from an addn-hosts file that the test rewrites
                      (set_address + SIGHUP) to move a name to another address
- same_port_backends  Backends on one port number and several loopback addresses
- PreambleRelay       prepends b"PN\\x01C" and connects from a chosen source address, so
                      `openssl s_client -psk` can speak to a tunnel server's control port
- control_psk_hex / s_client_psk    the control channel PSK of a key, openssl s_client
- flood()             N connections from one source address at bounded concurrency
- small socket helpers: closed_promptly, timed_upload, held_echo (connect_from comes
  from tests/harness/net.py)

Every wait has a deadline; every process is stopped by PID and every thread joined in
the fixtures' finalizers, also when the test fails.
"""
import hashlib
import hmac
import ipaddress
import os
import re
import signal
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import (LOOPBACK, echo_handler, free_port, recv_all, recv_exact, stopping_factory,
                      wait_port)
from harness.backends import Listener, UdpListener, tls_echo_handler  # noqa: F401 (re-exported)
from harness.net import connect_from
from harness.procs import LoggedProcess, run_with_stdin
from tunnel_util import PREAMBLE_CONTROL, _pump
from udp_util import dns_parse, dns_query, dnsmasq_argv

USER_IP = "127.0.0.2"           # a distinct loopback source address for "the user"
OTHER_IP = "127.0.0.3"          # a second loopback address for a moved backend

SLOT_RE = r"(?i)slot limit"
BLOCKED_RE = r"(?i)blocked"


# --------------------------------------------------------------------------------------
# sockets
# --------------------------------------------------------------------------------------

def closed_promptly(sock, within, send=None):
    """Send <send> (if any) on <sock>, then read for at most <within> s. Return
    (how, data, seconds): how is 'eof' or 'reset' when the peer closed, 'open' when it
    did not within <within> s. Data received before the close is returned as well."""
    t0 = time.monotonic()
    if send:
        try:
            sock.sendall(send)
        except (BrokenPipeError, ConnectionResetError):
            return "reset", b"", time.monotonic() - t0
    buf = bytearray()
    while True:
        remaining = within - (time.monotonic() - t0)
        if remaining <= 0:
            return "open", bytes(buf), time.monotonic() - t0
        sock.settimeout(remaining)
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return "reset", bytes(buf), time.monotonic() - t0
        if not b:
            return "eof", bytes(buf), time.monotonic() - t0
        buf += b


def held_echo(port, tag, timeout=5.0, src_ip=LOOPBACK):
    """Open a connection to <port>, check one echo round trip of <tag> and return the
    still open socket (the caller closes it)."""
    s = connect_from(src_ip, port, timeout=timeout)
    try:
        payload = f"{tag}|".encode() + os.urandom(8).hex().encode()
        s.sendall(payload)
        got = recv_exact(s, len(payload))
        assert got == payload, f"{tag}: echo mismatch {got!r} != {payload!r}"
    except BaseException:
        s.close()
        raise
    return s


def timed_upload(port, size, timeout=30.0):
    """Send <size> random bytes over one connection to a digest backend behind <port>,
    half-close and read its "<n> <sha256>" answer. Return seconds from connect to
    answer; fail when the answer does not match what was sent."""
    data = os.urandom(size)
    t0 = time.monotonic()
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, limit=200).decode(errors="replace")
    elapsed = time.monotonic() - t0
    want = f"{size} {hashlib.sha256(data).hexdigest()}\n"
    assert reply == want, f"digest backend answered {reply!r}, expected {want!r}"
    return elapsed


# --------------------------------------------------------------------------------------
# backend handlers
# --------------------------------------------------------------------------------------

def record_echo_handler(backend, conn):
    """Echo everything; record every chunk received as ("data", bytes)."""
    while True:
        b = conn.recv(65536)
        if not b:
            break
        backend.record(("data", b))
        conn.sendall(b)
    conn.shutdown(socket.SHUT_WR)


def banner_echo_handler(banner):
    """A server-speaks-first backend: send <banner> at once, then echo."""
    def handler(backend, conn):
        conn.sendall(banner)
        echo_handler(backend, conn)
    return handler


def received_bytes(backend):
    """Everything a record_echo_handler backend received, over all connections."""
    return b"".join(r[1] for r in list(backend.records) if r[0] == "data")


# --------------------------------------------------------------------------------------
# PROXY protocol (haproxy doc/proxy-protocol.txt)
# --------------------------------------------------------------------------------------

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107
_FAMILIES = {0x11: ("TCP4", 4), 0x12: ("UDP4", 4), 0x21: ("TCP6", 16), 0x22: ("UDP6", 16),
             0x00: ("UNSPEC", 0)}


def proxy_v1(src, dst):
    """The v1 header for a TCP4 connection from <src> to <dst> ((ip, port) pairs)."""
    return f"PROXY TCP4 {src[0]} {dst[0]} {src[1]} {dst[1]}\r\n".encode()


def proxy_v2(src, dst, udp=False, tlvs=b""):
    """The v2 header (PROXY command, IPv4) from <src> to <dst>, with raw <tlvs>."""
    fam = 0x12 if udp else 0x11
    body = (socket.inet_aton(src[0]) + socket.inet_aton(dst[0])
            + struct.pack(">HH", src[1], dst[1]) + tlvs)
    return V2_SIG + bytes([0x21, fam]) + struct.pack(">H", len(body)) + body


def decode_proxy(buf):
    """Decode the PROXY header at the start of <buf>. Return None when more bytes are
    needed, else (info, header length) with info = {version, command, proto, src, dst,
    tlvs}; src/dst are (ip, port) or None (UNKNOWN / UNSPEC / LOCAL). Raise ValueError
    on anything that is not a well-formed header."""
    if buf[:len(V2_SIG)] == V2_SIG[:len(buf)] and len(buf) < 16:
        return None
    if buf.startswith(V2_SIG):
        ver_cmd, fam, length = buf[12], buf[13], struct.unpack(">H", buf[14:16])[0]
        if ver_cmd >> 4 != 2 or ver_cmd & 0x0F not in (0, 1):
            raise ValueError(f"v2: bad version/command byte 0x{ver_cmd:02x}")
        if fam not in _FAMILIES:
            raise ValueError(f"v2: bad family byte 0x{fam:02x}")
        if len(buf) < 16 + length:
            return None
        proto, alen = _FAMILIES[fam]
        body = buf[16:16 + length]
        info = {"version": 2, "command": "PROXY" if ver_cmd & 1 else "LOCAL",
                "proto": proto, "src": None, "dst": None, "tlvs": []}
        if alen:
            if length < 2 * alen + 4:
                raise ValueError(f"v2: {proto} needs {2 * alen + 4} address bytes, length "
                                 f"is {length}")
            fam_ = socket.AF_INET if alen == 4 else socket.AF_INET6
            sa = socket.inet_ntop(fam_, body[:alen])
            da = socket.inet_ntop(fam_, body[alen:2 * alen])
            sp, dp = struct.unpack(">HH", body[2 * alen:2 * alen + 4])
            info["src"], info["dst"] = (sa, sp), (da, dp)
            rest = body[2 * alen + 4:]
        else:
            rest = body
        while rest:
            if len(rest) < 3:
                raise ValueError("v2: truncated TLV")
            t, ln = rest[0], struct.unpack(">H", rest[1:3])[0]
            if len(rest) < 3 + ln:
                raise ValueError("v2: TLV longer than the header")
            info["tlvs"].append((t, rest[3:3 + ln]))
            rest = rest[3 + ln:]
        return info, 16 + length
    if b"PROXY "[:len(buf)] == buf[:6] or buf.startswith(b"PROXY "):
        end = buf.find(b"\r\n")
        if end < 0:
            if len(buf) >= V1_MAX:
                raise ValueError("v1: no CRLF within 107 bytes")
            return None
        line = buf[:end].decode("ascii")
        parts = line.split(" ")
        if parts[1:2] == ["UNKNOWN"]:
            return ({"version": 1, "command": "PROXY", "proto": "UNKNOWN", "src": None,
                     "dst": None, "tlvs": []}, end + 2)
        if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
            raise ValueError(f"v1: malformed line {line!r}")
        ipaddress.ip_address(parts[2])
        ipaddress.ip_address(parts[3])
        for p in parts[4:]:
            if not p.isdigit() or (len(p) > 1 and p[0] == "0") or int(p) > 65535:
                raise ValueError(f"v1: bad port {p!r} in {line!r}")
        return ({"version": 1, "command": "PROXY", "proto": parts[1],
                 "src": (parts[2], int(parts[4])), "dst": (parts[3], int(parts[5])),
                 "tlvs": []}, end + 2)
    raise ValueError(f"no PROXY header: {bytes(buf[:16])!r}")


def proxy_recorder_handler(backend, conn):
    """Backend handler: read and decode the PROXY header, record ("header", info), echo
    the rest of the stream; at EOF record ("payload", bytes after the header)."""
    buf = bytearray()
    while True:
        try:
            got = decode_proxy(bytes(buf))
        except ValueError as e:
            backend.record(("error", f"{e}"))
            return
        if got is not None:
            break
        b = conn.recv(4096)
        if not b:
            backend.record(("error", bytes(buf)))
            return
        buf += b
    info, n = got
    backend.record(("header", info))
    payload = bytearray(buf[n:])
    if payload:
        conn.sendall(bytes(payload))
    while True:
        b = conn.recv(65536)
        if not b:
            break
        payload += b
        conn.sendall(b)
    backend.record(("payload", bytes(payload)))
    conn.shutdown(socket.SHUT_WR)


class UdpProxyReceiver(UdpListener):
    """UDP receiver on 127.0.0.1:<port> (0 = free): every datagram is decoded as
    <v2 header><payload>; records (peer, info, payload) or (peer, ValueError text, raw).
    With <echo>, the payload alone is sent back to the datagram's sender."""

    def __init__(self, port=0, echo=True, name="udp-proxy-rx"):
        self.echo = echo
        self.records = []
        self._cond = threading.Condition()
        super().__init__(port, LOOPBACK, name)

    def on_datagram(self, data, peer):
        try:
            got = decode_proxy(data)
            if got is None:
                raise ValueError("truncated header")
            info, n = got
            rec = (peer, info, data[n:])
        except ValueError as e:
            rec = (peer, f"ValueError: {e}", data)
        with self._cond:
            self.records.append(rec)
            self._cond.notify_all()
        if self.echo and isinstance(rec[1], dict):
            try:
                self.sock.sendto(rec[2], peer)
            except OSError:
                pass

    def wait_count(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.records) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"UDP receiver: {len(self.records)} of {n} datagrams "
                                         f"within {timeout}s: {self.records[-5:]}")
                self._cond.wait(remaining)
            return list(self.records)


# --------------------------------------------------------------------------------------
# external servers: haproxy, dnsmasq
# --------------------------------------------------------------------------------------

class _LoggedProc:
    """A helper server (haproxy, dnsmasq) as a harness LoggedProcess, stdout and stderr in
    one stream; _spawn() starts it again (a retry on another port)."""

    def __init__(self, name):
        self.name = name
        self.proc = None
        self.logged = None

    def _spawn(self, argv):
        self.logged = LoggedProcess(argv, merge=True, name=self.name).start()
        self.proc = self.logged.proc

    def lines(self):
        return self.logged.lines() if self.logged is not None else []

    def mark(self):
        return self.logged.mark() if self.logged is not None else 0

    def output(self):
        return "\n".join(self.lines()[-40:])

    def wait_line(self, pattern, timeout, start=0):
        """The first line at index >= <start> matching <pattern> (re.search) -> match."""
        return self.logged.wait_for_log(pattern, timeout, start)

    def stop(self):
        if self.logged is not None:
            self.logged.stop(timeout=5.0)
            self.logged.cleanup()


HAPROXY_LOG_RE = r"pn-conn src=(?P<src>[0-9.]+):(?P<sport>\d+) dst=(?P<dst>[0-9.]+):(?P<dport>\d+)"


class Haproxy(_LoggedProc):
    """haproxy -db (foreground) in mode tcp: frontend 127.0.0.1:<port> (with
    accept-proxy when <accept_proxy>) -> backend 127.0.0.1:<backend_port> (with
    send-proxy / send-proxy-v2 when <send_proxy> is 1 / 2). Logs to stdout one raw line
    per connection as soon as the server side is connected (option logasap):
    "pn-conn src=<client ip>:<port> dst=<frontend ip>:<port>" -- with accept-proxy these
    are the addresses the PROXY header carried."""

    def __init__(self, workdir, backend_port, accept_proxy=True, send_proxy=None,
                 name="haproxy"):
        super().__init__(name)
        self.workdir = workdir
        self.backend_port = backend_port
        self.accept_proxy = accept_proxy
        self.send_proxy = send_proxy
        self.port = None

    def config(self):
        bind_opt = " accept-proxy" if self.accept_proxy else ""
        srv_opt = {None: "", 1: " send-proxy", 2: " send-proxy-v2"}[self.send_proxy]
        return (
            "global\n"
            "    log stdout format raw local0\n"
            "    maxconn 4000\n"
            "defaults\n"
            "    mode tcp\n"
            "    log global\n"
            "    option logasap\n"
            "    timeout connect 5s\n"
            "    timeout client 30s\n"
            "    timeout server 30s\n"
            "frontend fe\n"
            f"    bind {LOOPBACK}:{self.port}{bind_opt}\n"
            '    log-format "pn-conn src=%ci:%cp dst=%fi:%fp"\n'
            "    default_backend be\n"
            "backend be\n"
            f"    server s1 {LOOPBACK}:{self.backend_port}{srv_opt}\n")

    def start(self, attempts=3):
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.access(exe, os.X_OK):
            pytest.fail("haproxy is not installed (apt-get install -y haproxy)",
                        pytrace=False)
        last = ""
        for _ in range(attempts):
            self.port = free_port()
            cfg = os.path.join(self.workdir, f"haproxy-{self.port}.cfg")
            with open(cfg, "w") as f:
                f.write(self.config())
            check = subprocess.run([exe, "-c", "-f", cfg], capture_output=True, timeout=20)
            assert check.returncode == 0, \
                f"haproxy -c rejects the config:\n{check.stdout.decode()}{check.stderr.decode()}"
            self._spawn([exe, "-db", "-f", cfg])
            try:
                wait_port(self.port, proc=self.proc, timeout=10)
                return self
            except AssertionError as e:
                last = f"{e}\n{self.output()}"
                self.stop()
        raise AssertionError(f"haproxy did not start: {last}")

    def connections(self, start=0):
        """(src, dst) pairs, each an (ip, port) tuple, of the logged connections."""
        rx = re.compile(HAPROXY_LOG_RE)
        out = []
        for line in self.lines()[start:]:
            m = rx.search(line)
            if m:
                out.append(((m["src"], int(m["sport"])), (m["dst"], int(m["dport"]))))
        return out

    def wait_connection(self, timeout=15.0, start=0):
        """Wait for a logged connection at line index >= <start>; return (src, dst)."""
        m = self.wait_line(HAPROXY_LOG_RE, timeout, start)
        return (m["src"], int(m["sport"])), (m["dst"], int(m["dport"]))


class HostsDnsmasq(_LoggedProc):
    """dnsmasq --no-daemon on 127.0.0.1:<port> answering from an addn-hosts file
    (no other source). set_address() rewrites the file and sends SIGHUP, after which
    dnsmasq re-reads it and clears its cache. The harness's own queries come from
    127.0.0.5, so "from 127.0.0.1" in the query log (--log-queries) is postern."""

    QUERY_IP = "127.0.0.5"

    def __init__(self, workdir, name, address):
        super().__init__("dnsmasq")
        self.workdir = workdir
        self.hostname = name
        self.address = address
        self.hosts = os.path.join(workdir, "dnsmasq.hosts")
        self.port = None

    def _write(self, address, name=None):
        tmp = self.hosts + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{address} {name or self.hostname}\n")
        os.replace(tmp, self.hosts)

    def start(self, attempts=3):
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.access(exe, os.X_OK):
            pytest.fail("dnsmasq is not installed", pytrace=False)
        self._write(self.address)
        last = ""
        for _ in range(attempts):
            self.port = free_port()
            self._spawn(dnsmasq_argv(exe, self.workdir, self.port,
                                     f"--addn-hosts={self.hosts}", "--log-queries"))
            try:
                self.wait_answer(self.address, timeout=5)
                return self
            except AssertionError as e:
                last = f"{e}\n{self.output()}"
                self.stop()
        raise AssertionError(f"dnsmasq did not start: {last}")

    def _ask(self, timeout):
        """Ask dnsmasq for <hostname> A from QUERY_IP: (query id, answer) or None."""
        qid = int.from_bytes(os.urandom(2), "big")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((self.QUERY_IP, 0))
            s.settimeout(timeout)
            s.sendto(dns_query(qid, self.hostname), (LOOPBACK, self.port))
            try:
                return qid, s.recvfrom(4096)[0]
            except (socket.timeout, ConnectionRefusedError):
                return None

    def query(self, timeout=0.3):
        """Ask for <hostname> A directly; return the addresses or None (no answer)."""
        got = self._ask(timeout)
        if got is None:
            return None
        rid, rcode, _, addrs = dns_parse(got[1])
        return addrs if rid == got[0] and rcode == 0 else None

    def wait_answer(self, address, timeout):
        def ok():
            if self.proc.poll() is not None:
                raise AssertionError(f"dnsmasq exited with {self.proc.returncode}")
            return self.query() == [address]
        deadline = time.monotonic() + timeout
        while not ok():
            if time.monotonic() >= deadline:
                raise AssertionError(f"dnsmasq does not answer {self.hostname} -> {address} "
                                     f"within {timeout}s (answers {self.query()})")
            time.sleep(0.05)

    def set_address(self, address, timeout=5.0):
        """Move <hostname> to <address>: rewrite the file, SIGHUP, and wait until
        dnsmasq itself answers the new address."""
        self._write(address)
        self.proc.send_signal(signal.SIGHUP)
        self.wait_answer(address, timeout)
        self.address = address

    def remove(self, timeout=5.0):
        """Take <hostname> out of the hosts file (SIGHUP) and wait until dnsmasq gives
        no address for it any more."""
        self._write("127.0.0.9", "other." + self.hostname)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while True:
            got = self.query()
            if got is not None and got == [] or got is None and self._refused():
                self.address = None
                return
            if time.monotonic() >= deadline:
                raise AssertionError(f"dnsmasq still answers {self.hostname}: {got}")
            time.sleep(0.05)

    def _refused(self):
        """True when dnsmasq answers <hostname> with an error rcode (not silence)."""
        return self.query_rcode() not in (None, 0)

    def query_rcode(self, timeout=0.3):
        got = self._ask(timeout)
        return None if got is None else struct.unpack(">HH", got[1][:4])[1] & 0xF


# --------------------------------------------------------------------------------------
# backends on one port number and several loopback addresses
# --------------------------------------------------------------------------------------

def same_port_backends(backends, handlers, attempts=10):
    """<handlers>: {ip: handler}. Start one Backend per ip, all on one port number;
    return {ip: Backend}."""
    ips = list(handlers)
    for _ in range(attempts):
        first = backends(handlers[ips[0]], host=ips[0], name=f"backend-{ips[0]}")
        made = {ips[0]: first}
        try:
            for ip in ips[1:]:
                made[ip] = backends(handlers[ip], port=first.port, host=ip,
                                    name=f"backend-{ip}")
            return made
        except OSError:
            for b in made.values():
                b.stop()
    raise AssertionError(f"could not put backends on {ips} with one port number")


# --------------------------------------------------------------------------------------
# the tunnel's control channel from the outside
# --------------------------------------------------------------------------------------

def control_psk_hex(key):
    """The control channel PSK for tunnel key <key>: HMAC-SHA256("postern/psk/v1", key)
    (docs/protocol.md, "Keys")."""
    return hmac.new(b"postern/psk/v1", key.encode(), hashlib.sha256).hexdigest()


class PreambleRelay(Listener):
    """A loopback TCP listener; every connection is relayed to 127.0.0.1:<upstream>
    from source address <src_ip>, with <preamble> sent upstream first."""

    def __init__(self, upstream_port, src_ip=LOOPBACK, preamble=PREAMBLE_CONTROL,
                 name="preamble-relay"):
        self.upstream_port = upstream_port
        self.src_ip = src_ip
        self.preamble = preamble
        super().__init__(0, LOOPBACK, name, backlog=128)

    def end_socket(self, s):
        s.close()

    def serve(self, c):
        up = None
        try:
            up = self.track(connect_from(self.src_ip, self.upstream_port, timeout=10))
            up.sendall(self.preamble)
            _pump(c, up, self._stopping)
        except OSError:
            pass
        finally:
            if up is not None:
                try:
                    up.close()
                except OSError:
                    pass
                self.untrack(up)


def s_client_psk(port, psk_hex, stdin_data=b"", hold=0.0, timeout=10.0):
    """Run `openssl s_client -tls1_3 -psk <psk_hex> -psk_identity postern/1` against
    127.0.0.1:<port>; write <stdin_data> once the process runs, keep stdin open for
    <hold> s (or until it exits), then close it. Return (exit code or None when it was
    still running at <timeout> and got killed, stdout bytes, stderr text, seconds)."""
    argv = ["openssl", "s_client", "-connect", f"{LOOPBACK}:{port}", "-tls1_3",
            "-ciphersuites", "TLS_AES_128_GCM_SHA256", "-psk", psk_hex,
            "-psk_identity", "postern/1", "-quiet", "-nocommands"]
    rc, out, err, took = run_with_stdin(argv, stdin_data, hold, timeout)
    return rc, out, err.decode(errors="replace"), took


# --------------------------------------------------------------------------------------
# flood
# --------------------------------------------------------------------------------------

class FloodResult:
    def __init__(self):
        self.outcomes = {}          # 'eof' | 'reset' | 'open' | 'connect: <err>' -> count
        self.fast_close = 0         # closed by the peer within 0.5 s of connecting
        self.done = 0
        self.elapsed = 0.0
        self.unfinished = 0         # worker threads still running at the deadline

    def add(self, how, seconds):
        self.outcomes[how] = self.outcomes.get(how, 0) + 1
        self.done += 1
        if how in ("eof", "reset") and seconds < 0.5:
            self.fast_close += 1

    def __repr__(self):
        return (f"<flood {self.done} done in {self.elapsed:.1f}s, outcomes {self.outcomes}, "
                f"{self.fast_close} closed within 0.5s, {self.unfinished} unfinished>")


def flood(port, n, payload, src_ip=USER_IP, concurrency=50, deadline=60.0,
          read_timeout=3.0, stop=None, spread=0.0):
    """Open <n> connections to 127.0.0.1:<port> from <src_ip>, at most <concurrency> at
    a time, each sending <payload>(i) (bytes) and then reading until the peer closes or
    <read_timeout> s pass. With <spread> s, connection i starts no earlier than
    i * spread / n s after the start (a flood that lasts, even when every connection is
    closed at once). Stops early at <deadline> s or when <stop> (Event) is set.
    Return a FloodResult."""
    res = FloodResult()
    lock = threading.Lock()
    nxt = [0]
    t0 = time.monotonic()
    stop = stop or threading.Event()

    def worker():
        while not stop.is_set() and time.monotonic() - t0 < deadline:
            with lock:
                i = nxt[0]
                if i >= n:
                    return
                nxt[0] += 1
            if spread:
                wait = t0 + i * spread / n - time.monotonic()
                if wait > 0 and stop.wait(wait):
                    return
            c0 = time.monotonic()
            try:
                s = connect_from(src_ip, port, timeout=5)
            except OSError as e:
                with lock:
                    res.add(f"connect: {type(e).__name__}", time.monotonic() - c0)
                continue
            try:
                how, _, _ = closed_promptly(s, read_timeout, send=payload(i))
            except OSError as e:
                how = f"error: {type(e).__name__}"
            finally:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            with lock:
                res.add(how, time.monotonic() - c0)

    threads = [threading.Thread(target=worker, daemon=True, name=f"flood-{k}")
               for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.1, deadline + read_timeout + 10 - (time.monotonic() - t0)))
    res.unfinished = sum(1 for t in threads if t.is_alive())
    stop.set()
    res.elapsed = time.monotonic() - t0
    return res


# --------------------------------------------------------------------------------------
# fixtures (import them into a test module)
# --------------------------------------------------------------------------------------

@pytest.fixture
def haproxies(tmp_path):
    """Factory: haproxies(backend_port, accept_proxy=True, send_proxy=None) -> running
    Haproxy; all stopped (by PID) at teardown; their output is printed on failure."""
    made = []

    def make(backend_port, **kw):
        h = Haproxy(str(tmp_path), backend_port, **kw)
        made.append(h)
        return h.start()

    yield make
    for h in made:
        h.stop()
        print(f"---- haproxy on {h.port} (exit {h.proc and h.proc.returncode}) ----")
        print(h.output())


@pytest.fixture
def hosts_dnsmasq(tmp_path):
    """Factory: hosts_dnsmasq(name, address) -> running HostsDnsmasq; stopped at
    teardown."""
    made = []

    def make(name, address):
        d = HostsDnsmasq(str(tmp_path), name, address)
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.stop()


@pytest.fixture
def udp_proxy_receivers():
    yield from stopping_factory(UdpProxyReceiver)


@pytest.fixture
def preamble_relays():
    yield from stopping_factory(PreambleRelay)
