"""Helpers for the UDP tests (50_udp_*_test.py), on top of conftest.py and tunnel_util.py.

- UdpEcho            (tests/harness/backends.py, re-exported) a UDP echo server thread
- UdpClient          one client address (one socket, big buffers): exchange() sends a
                     datagram and waits for exactly that datagram back (bounded retries),
                     expect_silence() asserts that nothing comes back
- Dnsmasq            a real DNS server (dnsmasq --no-daemon) with h<i>.postern.test records,
                     stopped by PID
- dns_query/dns_parse  a minimal DNS client (A records) and dig_short() for dig
- start_service()    single-end, reverse or forward in front of one backend port, ready
                     for TCP and/or UDP as enabled (udp_entry / start_tunnel underneath);
                     returns a Service (user port, entry process, all processes)
- dual_echo()        TCP and UDP echo backends on one port number
- fixtures `udp_backends`, `dnsmasq` (import them into a test module)

Every wait has a deadline; every thread and process is stopped in a finalizer.
"""
import collections
import os
import random
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import (LOOPBACK, READY_TIMEOUT, client_url, echo_handler, free_port,
                      stopping_factory, wait_port)
from harness.backends import (MAX_DATAGRAM, UdpEcho, set_big_buffers,  # noqa: F401 - re-exported
                              udp_echo_on)
from harness.procs import LoggedProcess, require_tool
from tunnel_util import ATTACHED_RE, CONNECTED_RE, TUNNEL_ENV, Tunnel, count_lines

UDP_ENV = dict(TUNNEL_ENV)      # fast CHECK_POINT lines for every UDP test
# log lines of a tunnel end whose control session ended
TUNNEL_BROKEN_RE = r"(?i)detached|reconnecting|server refused|session ended: error"
MOVE_RE = r"control channel moves onto HTTP/2; reconnecting at once"


def udp_stats():
    """The kernel's UDP counters (/proc/net/snmp 'Udp:'), for diagnostics of drops."""
    try:
        lines = [ln.split() for ln in open("/proc/net/snmp") if ln.startswith("Udp:")]
        return dict(zip(lines[0][1:], map(int, lines[1][1:])))
    except (OSError, IndexError, ValueError):
        return {}


def udp_drop_note(before):
    """A sentence about the kernel's UDP receive-buffer drops since <before>."""
    after = udp_stats()
    keys = ("RcvbufErrors", "InErrors", "NoPorts")
    diff = {k: after.get(k, 0) - before.get(k, 0) for k in keys}
    return f"kernel UDP counters since start: {diff}"


def burst_whole(client, payloads, backend):
    """Send <payloads> through <client> back to back, read the echoes back, and check that
    every one came back once, whole (none merged, split, lost or extra). Return the
    payloads in the order they came back."""
    rx0 = backend.counts()[0]
    before = udp_stats()
    got = []
    for p in payloads:              # back to back, no waiting: the reads come in bursts
        client.send(p)
    while len(got) < len(payloads):
        d = client.recv(3.0)
        if d is None:
            break
        got.append(d)
    extra = client.recv(0.3)        # nothing beyond what was sent
    sent_set = set(payloads)
    foreign = [len(d) for d in got if d not in sent_set]
    assert not foreign, f"{len(foreign)} received datagrams are none of the sent ones " \
                        f"(merged or split), sizes {foreign[:10]}"
    missing = collections.Counter(payloads) - collections.Counter(got)
    dup = collections.Counter(got) - collections.Counter(payloads)
    assert not missing and not dup and extra is None, \
        (f"received {len(got)} of {len(payloads)} (missing sizes {[len(p) for p in missing][:10]}, "
         f"duplicated {len(dup)}, extra {extra is not None}); backend got "
         f"{backend.counts()[0] - rx0}; {udp_drop_note(before)}")
    return got


# --------------------------------------------------------------------------------------
# client side
# --------------------------------------------------------------------------------------

class UdpClient:
    """One client address: an unconnected UDP socket on 127.0.0.1 with big buffers that
    talks to 127.0.0.1:<port>. Replies must come from exactly that address."""

    def __init__(self, port, name="client"):
        self.port = port
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        set_big_buffers(self.sock)
        self.sock.bind((LOOPBACK, 0))
        self.addr = self.sock.getsockname()
        self.sent = []              # every payload sent, in order (retries included)
        self.retries = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, payload):
        self.sock.sendto(payload, (LOOPBACK, self.port))
        self.sent.append(payload)

    def recv(self, timeout):
        """Return the next datagram (from the service address), or None after <timeout>."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data, peer = self.sock.recvfrom(MAX_DATAGRAM + 1024)
            except socket.timeout:
                return None
            except ConnectionRefusedError:
                continue        # an ICMP error queued on the socket; not a datagram
            assert peer == (LOOPBACK, self.port), \
                f"{self.name}: datagram from {peer}, expected 127.0.0.1:{self.port}"
            return data

    def exchange(self, payload, timeout=1.5, retries=2, stale=()):
        """Send <payload> and wait for the same bytes back; resend at most <retries>
        times when nothing arrives within <timeout> s. Datagrams equal to one this
        client sent before or to one of <stale> (late answers to earlier exchanges) are
        skipped; any other datagram fails. Return the number of retries used."""
        stale = set(stale) | set(self.sent)
        for attempt in range(retries + 1):
            self.send(payload)
            deadline = time.monotonic() + timeout
            while True:
                got = self.recv(max(0.0, deadline - time.monotonic()))
                if got is None:
                    break
                if got == payload:
                    self.retries += attempt
                    return attempt
                assert got in stale, \
                    (f"{self.name}: sent {len(payload)} bytes, got back a different datagram "
                     f"of {len(got)} bytes (head {got[:16].hex()}, sent head "
                     f"{payload[:16].hex()})")
        raise AssertionError(f"{self.name}: no reply to a {len(payload)}-byte datagram after "
                             f"{retries + 1} tries of {timeout}s each")

    def expect_silence(self, payloads, window):
        """Send each of <payloads> spread over <window> s and fail if any datagram
        arrives until the end of the window."""
        gap = window / (len(payloads) + 1)
        deadline = time.monotonic() + window
        for p in payloads:
            self.send(p)
            got = self.recv(gap)
            assert got is None, f"{self.name}: unexpected answer of {len(got)} bytes"
        got = self.recv(max(0.0, deadline - time.monotonic()))
        assert got is None, f"{self.name}: unexpected answer of {len(got)} bytes"


def wait_udp_echo(port, timeout=READY_TIMEOUT, procs=(), name="probe"):
    """Poll with probe datagrams from one client address until <port> echoes one back;
    fail after <timeout> s or when one of <procs> (Postern) has exited. The probe makes
    one session. Return the probe's bytes (payload bytes echoed, in each direction)."""
    deadline = time.monotonic() + timeout
    n = 0
    with UdpClient(port, name=name) as c:
        while True:
            for p in procs:
                assert p.alive(), f"postern exited ({p.proc.returncode}):\n{p.output()}"
            n += 1
            probe = f"probe-{n}-".encode() + os.urandom(8)
            c.send(probe)
            got = c.recv(0.2)
            while got is not None and got != probe:
                got = c.recv(0.2)       # a late echo of an earlier probe
            if got == probe:
                return sum(len(x) for x in c.sent)
            if time.monotonic() >= deadline:
                raise AssertionError(f"no UDP echo through 127.0.0.1:{port} within {timeout}s")


def tcp_refused(port):
    """True when a TCP connect to 127.0.0.1:<port> is refused."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


# --------------------------------------------------------------------------------------
# DNS: a minimal A-record client, dig, dnsmasq
# --------------------------------------------------------------------------------------

DNS_NAME = "h{}.postern.test"
DNS_HOSTS = 50


def expected_ip(i):
    return f"192.0.2.{i}"


def dns_query(qid, name):
    """A standard recursive query for <name> IN A with id <qid>."""
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def _skip_name(msg, off):
    while True:
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def _read_name(msg, off):
    labels = []
    for _ in range(128):
        n = msg[off]
        if n == 0:
            return ".".join(labels)
        if n & 0xC0 == 0xC0:
            off = ((n & 0x3F) << 8) | msg[off + 1]
            continue
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    raise ValueError("name compression loop")


def dns_parse(msg):
    """Parse a response: (id, rcode, question name, [A addresses])."""
    qid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    if not flags & 0x8000:
        raise ValueError("not a response")
    off = 12
    qname = None
    for _ in range(qd):
        qname = _read_name(msg, off)
        off = _skip_name(msg, off) + 4
    addrs = []
    for _ in range(an):
        off = _skip_name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            addrs.append(socket.inet_ntoa(msg[off:off + 4]))
        off += rdlen
    return qid, flags & 0xF, qname, addrs


def resolve(client, i, timeout=2.0):
    """Ask for h<i>.postern.test over <client> (a UdpClient), no retry; return the
    answer's addresses. Fail on a missing, foreign or malformed answer."""
    name = DNS_NAME.format(i)
    qid = random.randrange(1 << 16)
    client.send(dns_query(qid, name))
    got = client.recv(timeout)
    assert got is not None, f"{client.name}: no answer for {name} within {timeout}s"
    rid, rcode, qname, addrs = dns_parse(got)
    assert (rid, rcode, qname) == (qid, 0, name), \
        f"{client.name}: asked {name} id {qid}, answer id {rid} rcode {rcode} for {qname}"
    return addrs


# dig sets SO_REUSEPORT on its random source port, and so does postern on its UDP
# listener: run by the same user (root here), dig may draw postern's own port P as its
# source, share it and then talk to itself ("query response not set", or a timeout), about
# once in 28000 runs. As another user it cannot join postern's port and draws again.
DIG_AS = dict(user=65534, group=65534, extra_groups=[]) if os.geteuid() == 0 else {}


def dig_short(port, i, timeout=2):
    """dig @127.0.0.1 -p <port> h<i>.postern.test +short (one try, as nobody when we are
    root): (exit code, output words, stderr)."""
    r = subprocess.run(["dig", f"@{LOOPBACK}", "-p", str(port), DNS_NAME.format(i),
                        "A", "+short", "+tries=1", f"+time={timeout}"],
                       capture_output=True, timeout=timeout + 10, **DIG_AS)
    out = r.stdout.decode(errors="replace")
    return r.returncode, out.split(), r.stderr.decode(errors="replace")


def dnsmasq_argv(exe, workdir, port, *extra):
    """The command line of dnsmasq <exe> in the foreground on 127.0.0.1:<port> with no
    source of its own (no resolv.conf, /etc/hosts or config file), logging to stdout, its
    pid file in <workdir>, with the options <extra>."""
    argv = [exe, "--no-daemon", f"--port={port}", f"--listen-address={LOOPBACK}",
            "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            "--log-facility=-", f"--pid-file={os.path.join(workdir, f'dnsmasq-{port}.pid')}"]
    argv += list(extra)
    if os.geteuid() == 0:
        argv.append("--user=root")
    return argv


class Dnsmasq:
    """dnsmasq in the foreground on 127.0.0.1:<port> (UDP and TCP), answering
    h<i>.postern.test A 192.0.2.<i> for i in 1..<hosts> (TEST-NET-1: data only)."""

    def __init__(self, workdir, hosts=DNS_HOSTS):
        self.workdir = workdir
        self.hosts = hosts
        self.proc = None
        self.port = None
        self.logged = None          # the LoggedProcess (output also in dnsmasq-<port>.log)

    def start(self, attempts=3):
        exe = require_tool("dnsmasq")
        last = ""
        for _ in range(attempts):
            self.port = free_port()
            log_path = os.path.join(self.workdir, f"dnsmasq-{self.port}.log")
            argv = dnsmasq_argv(exe, self.workdir, self.port, "--keep-in-foreground",
                                *[f"--host-record={DNS_NAME.format(i)},{expected_ip(i)}"
                                  for i in range(1, self.hosts + 1)])
            self.logged = LoggedProcess(argv, merge=True, log_path=log_path,
                                        name="dnsmasq").start()
            self.proc = self.logged.proc
            try:
                self._wait_ready()
                return self
            except AssertionError as e:
                last = f"{e}\n{self.log()}"
                self.stop()
        raise AssertionError(f"dnsmasq did not start: {last}")

    def _wait_ready(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((LOOPBACK, 0))
            n = 0
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"dnsmasq exited with {self.proc.returncode}")
                n += 1
                s.sendto(dns_query(n, DNS_NAME.format(1)), (LOOPBACK, self.port))
                s.settimeout(0.1)
                try:
                    data, _ = s.recvfrom(4096)
                    if dns_parse(data)[3] == [expected_ip(1)]:
                        return
                except (socket.timeout, ConnectionRefusedError, ValueError):
                    pass
                if time.monotonic() >= deadline:
                    raise AssertionError(f"dnsmasq did not answer within {timeout}s")

    def log(self):
        return self.logged.output()[-3000:] if self.logged is not None else ""

    def stop(self):
        if self.logged is not None:
            self.logged.stop(timeout=5.0)
            self.logged.cleanup()


def run_dns_load(port, threads=8, queries=400, digs_per_thread=6, timeout=60.0):
    """<threads> threads at once, each with its own client address, ask <queries>
    questions in total through 127.0.0.1:<port> (python client), then each thread runs
    <digs_per_thread> dig processes (a new client address each). Return
    (answers checked, {thread: failure text})."""
    per = queries // threads
    barrier = threading.Barrier(threads, timeout=timeout)
    ok = [0] * threads
    failures = {}
    lock = threading.Lock()

    def one(t):
        rnd = random.Random(t)
        try:
            with UdpClient(port, name=f"dns-{t}") as c:
                barrier.wait()
                for _ in range(per):
                    i = rnd.randint(1, DNS_HOSTS)
                    addrs = resolve(c, i)
                    assert addrs == [expected_ip(i)], \
                        f"dns-{t}: h{i} answered {addrs}, expected {expected_ip(i)}"
                    ok[t] += 1
            for _ in range(digs_per_thread):
                i = rnd.randint(1, DNS_HOSTS)
                rc, words, err = dig_short(port, i)
                assert rc == 0 and words == [expected_ip(i)], \
                    f"dig h{i}: rc={rc} output={words} stderr={err.strip()[:200]}"
                ok[t] += 1
        except threading.BrokenBarrierError:
            with lock:
                failures[t] = "barrier broken (another thread failed first)"
        except Exception as e:  # noqa: BLE001 - reported by the caller
            barrier.abort()
            with lock:
                failures[t] = f"{type(e).__name__}: {e}"

    ts = [threading.Thread(target=one, args=(t,), daemon=True, name=f"dns-{t}")
          for t in range(threads)]
    for t in ts:
        t.start()
    deadline = time.monotonic() + timeout
    for t in ts:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    alive = sum(1 for t in ts if t.is_alive())
    if alive:
        failures[-1] = f"{alive} threads still running after {timeout}s"
    return sum(ok), failures


# --------------------------------------------------------------------------------------
# starting postern
# --------------------------------------------------------------------------------------

MODES = ["single", "reverse", "forward"]


class Service:
    """A running UDP service: users send to 127.0.0.1:<port>; <entry> is the postern
    process where they arrive (its CHECK_POINT counts them), <procs> all processes."""

    def __init__(self, mode, port, entry, procs, tunnel=None):
        self.mode, self.port, self.entry, self.procs, self.tunnel = \
            mode, port, entry, procs, tunnel

    def alive(self):
        return all(p.alive() for p in self.procs)

    def assert_alive(self):
        """Every process still runs, and a tunnel still has its first control session:
        attached once, never detached, no reconnect (a protocol error ends the session,
        which a test of the data alone might not notice)."""
        for p in self.procs:
            assert p.alive(), f"postern exited with {p.proc.returncode}:\n{p.output()}"
        if self.tunnel is not None:
            attached = count_lines(self.tunnel.server, ATTACHED_RE)
            broken = [ln for p in self.procs for ln in p.lines()
                      if re.search(TUNNEL_BROKEN_RE, ln)]
            # A client given no type= that learns type=3 moves its control channel once
            # when it starts (a detach and an attach more, docs/protocol.md 13.2).
            moves = sum(1 for p in self.procs for ln in p.lines() if re.search(MOVE_RE, ln))
            moved = [ln for ln in broken if re.search(MOVE_RE, ln)]
            stopped = [ln for ln in broken if "detached: the client stopped" in ln][:moves]
            broken = [ln for ln in broken if ln not in moved and ln not in stopped]
            assert attached == 1 + moves and not broken and len(stopped) == moves, \
                f"the tunnel session broke ({attached} attaches): {broken[:5]}"

    def outputs(self):
        return "\n".join(p.output() for p in self.procs)


def wait_dns(port, timeout=READY_TIMEOUT, procs=(), name="dns-probe"):
    """Poll with DNS queries for h1 until an answer comes back through <port>."""
    deadline = time.monotonic() + timeout
    with UdpClient(port, name=name) as c:
        n = 0
        while True:
            for p in procs:
                assert p.alive(), f"postern exited ({p.proc.returncode}):\n{p.output()}"
            n += 1
            c.send(dns_query(n, DNS_NAME.format(1)))
            got = c.recv(0.2)
            if got is not None:
                try:
                    if dns_parse(got)[3] == [expected_ip(1)]:
                        return
                except ValueError:
                    pass
            if time.monotonic() >= deadline:
                raise AssertionError(f"no DNS answer through 127.0.0.1:{port} within "
                                     f"{timeout}s")


def udp_entry(factory, targets, params="", env=None, udp_ready=True, tcp_ready=False,
              probe=wait_udp_echo):
    """Start a single-end forwarder client://127.0.0.1:P/<targets>?<params> with the
    UDP test environment plus <env>. Wait for UDP (<probe>: one probe session through P)
    and/or TCP (a connect) as asked. Retry on another port when P was taken."""
    e = dict(UDP_ENV)
    e.update(env or {})
    last = None
    for _ in range(3):
        port = free_port()
        p = factory.run([client_url(port, targets, params)], e)
        p.port = port
        try:
            if tcp_ready:
                p.wait_port()
            if udp_ready:
                probe(port, procs=[p])
            if not (tcp_ready or udp_ready):
                p.wait_for_log(r"(?i)listening", timeout=READY_TIMEOUT)
            return p
        except AssertionError as ex:
            last = ex
            p.cleanup()
            if "address already in use" not in p.output().lower():
                raise AssertionError(f"{ex}\npostern output:\n{p.output()}") from None
    raise last


def start_tunnel(t, tcp=True, udp=True, timeout=10.0, probe=wait_udp_echo):
    """Start Tunnel <t> (tunnel_util) and wait until the client is connected and
    attached, then until the user port takes TCP connections (<tcp>) and answers a UDP
    <probe> (<udp>). Return <t>."""
    t.start_server()
    t.start_client()
    m = t.client.wait_for_log(CONNECTED_RE, timeout=timeout)
    assert m.group(1).lower() == t.flow, f"client reports {m.string}, expected {t.flow}"
    t.server.wait_for_log(ATTACHED_RE, timeout=timeout)
    entry = entry_proc(t)
    if tcp:
        wait_port(t.user_port, timeout=timeout, proc=entry.proc)
    if udp:
        probe(t.user_port, timeout=timeout, procs=[t.server, t.client])
    return t


def entry_proc(t):
    """The tunnel end where users arrive: the server in reverse, the client in forward."""
    return t.server if t.flow == "reverse" else t.client


def start_service(mode, factory, backend_port, params="", env=None, tcp=False, udp=True,
                  probe=wait_udp_echo):
    """Start postern in <mode> ("single", "reverse", "forward") in front of
    127.0.0.1:<backend_port> and wait until it serves TCP (<tcp>) and/or UDP (<udp>,
    checked with <probe>). <params> go on the client:// URL for single-end and on the
    server:// URL for a tunnel. Return a Service."""
    if mode == "single":
        p = udp_entry(factory, [backend_port], params, env, udp_ready=udp, tcp_ready=tcp,
                      probe=probe)
        return Service(mode, p.port, p, [p])
    t = Tunnel(factory, mode, backend_port, server_params=params, env=env)
    start_tunnel(t, tcp=tcp, udp=udp, probe=probe)
    return Service(mode, t.user_port, entry_proc(t), [t.server, t.client], t)


def dual_echo(backends, udp_backends, attempts=5):
    """A TCP echo Backend and a UdpEcho on the same port number; return (tcp, udp)."""
    for _ in range(attempts):
        b = backends(echo_handler, name="tcp-echo")
        try:
            return b, udp_backends(port=b.port, timeout=0.5)
        except AssertionError:
            b.stop()
    raise AssertionError("could not put TCP and UDP echo backends on one port")


# --------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------

@pytest.fixture
def udp_backends():
    """Factory: udp_backends(port=0, name=...) -> UdpEcho (port= an exact port, retried
    while taken); all stopped at teardown."""
    def make(port=0, name="udp-echo", timeout=5.0):
        return udp_echo_on(port, name, timeout) if port else UdpEcho(0, name=name)

    yield from stopping_factory(make)


@pytest.fixture
def dnsmasq(tmp_path):
    """A running Dnsmasq (see the class); stopped at teardown."""
    d = Dnsmasq(str(tmp_path))
    try:
        yield d.start()
    finally:
        d.stop()
