"""A lossy path between two network namespaces (issue 15), for the integration test
95_transport_lossy_test.py and bench/lossy_bench.py:

- LossyPath          two namespaces (names from this process's PID: pstn-<tag>-<pid>-a/-b)
                     joined by a veth pair (10.x.y.1/30 in a, 10.x.y.2/30 in b, lo up in
                     each), a tbf bandwidth cap on both veth ends (tc) and an nftables rule
                     that drops <loss> % of the packets at random on both (numgen random),
                     each direction apart; teardown deletes both namespaces (the veth goes
                     with them) after killing what runs inside
- LossyPath.start()  a program inside a namespace (`ip netns exec`), a LoggedProcess
                     tracked by PID and stopped at teardown
- LossyPath.inside() the calling thread in a namespace (setns(2)) for a block: sockets
                     made there belong to it (a test's backends and clients, in-process)
- LossyPath.counters() the nftables counters of one end: packets seen, packets dropped
- path_available()   skip (or fail under POSTERN_REQUIRE_TOOLS=1) when it cannot be built

Where the loss is: an nftables chain on the netdev `ingress` hook of the receiving veth
end, not on the sender's `output` hook. The sender's hooks see a packet before the kernel
cuts it to the wire's size (TCP's TSO super-packets, the QUIC transport's UDP_SEGMENT
batches of 16 datagrams), so a drop there would lose tens of packets at once; the veth
ends get `gso_max_segs 1`, so what crosses the veth, and what the receiver's ingress hook
sees, is one packet of at most the MTU each (the counters give the mean size to check).
The veth never appears in the root namespace (made in a, its peer given to b).

Teardown runs from the context manager, from atexit (a Ctrl-C in a script) and, in
pytest, from the fixture's finalizer; a namespace of this tag left behind by a process
that no longer exists (kill -9) is deleted by the next LossyPath.
"""
import atexit
import contextlib
import ctypes
import json
import os
import re
import signal
import subprocess
import threading
import time

from .procs import LoggedProcess, require_tool, skip, stop_process

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"

_libc = None


def _setns(fd):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


def _run(argv, check=True, input=None, timeout=20):
    r = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def _unavailable(reason):
    """Skip the calling test, or fail it under POSTERN_REQUIRE_TOOLS=1 (there everything
    the lossy path needs is expected: root, namespaces, tc, nftables)."""
    if os.environ.get("POSTERN_REQUIRE_TOOLS") == "1":
        import pytest
        pytest.fail(reason + " (POSTERN_REQUIRE_TOOLS=1)", pytrace=False)
    skip(reason)


def path_available():
    """The programs a LossyPath needs (ip, tc, nft): a missing one skips the test, or fails
    it under POSTERN_REQUIRE_TOOLS=1 (require_tool); not root skips."""
    if os.geteuid() != 0:
        skip("a lossy path needs root (network namespaces, tc, nftables)")
    for tool in ("ip", "tc", "nft"):
        require_tool(tool)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(tag):
    """Delete the namespaces pstn-<tag>-<pid>-* of a process that no longer runs."""
    r = _run(["ip", "netns", "list"], check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(rf"pstn-{re.escape(tag)}-(\d+)-[ab]", name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            _run(["ip", "netns", "del", name], check=False)


class LossyPath:
    """Two namespaces a and b joined by a veth pair with <loss> % random loss each way and
    a tbf cap of <rate> on each end. Use as a context manager (or setup()/teardown())."""

    _count = 0
    _lock = threading.Lock()

    def __init__(self, tag="lossy", loss=1, rate="200mbit", burst="64kb", latency="50ms"):
        with LossyPath._lock:
            LossyPath._count += 1
            n = LossyPath._count
        pid = os.getpid()
        suffix = f"{pid}" if n == 1 else f"{pid}x{n}"
        self.tag = tag
        self.ns = {"a": f"pstn-{tag}-{suffix}-a", "b": f"pstn-{tag}-{suffix}-b"}
        self.dev = {"a": "pl0", "b": "pl1"}
        x, y = 100 + (pid >> 8) % 100, pid % 256
        self.addr = {"a": f"10.{x}.{y}.1", "b": f"10.{x}.{y}.2"}
        self.loss = loss
        self.rate, self.burst, self.latency = rate, burst, latency
        self.procs = []
        self.made = []
        self._atexit = False

    # ---- building and tearing down -------------------------------------------------

    def ip(self, side, *args, check=True):
        return _run(["ip", "-n", self.ns[side]] + list(args), check=check)

    def exec(self, side, argv, check=True, input=None, timeout=20):
        """Run <argv> inside namespace <side> to its end (bounded by <timeout>)."""
        return _run(["ip", "netns", "exec", self.ns[side]] + list(argv), check=check,
                    input=input, timeout=timeout)

    def setup(self):
        sweep_stale(self.tag)
        if not self._atexit:
            atexit.register(self.teardown)
            self._atexit = True
        try:
            for side in ("a", "b"):
                r = _run(["ip", "netns", "add", self.ns[side]], check=False)
                if r.returncode != 0:
                    _unavailable(f"ip netns add failed: {r.stderr.strip()}")
                self.made.append(self.ns[side])
            self.ip("a", "link", "add", self.dev["a"], "type", "veth", "peer", "name",
                    self.dev["b"], "netns", self.ns["b"])
            for side in ("a", "b"):
                d = self.dev[side]
                self.ip(side, "link", "set", "lo", "up")
                self.ip(side, "addr", "add", self.addr[side] + "/30", "dev", d)
                # one wire packet per skb (the module's doc: where the loss is)
                self.ip(side, "link", "set", "dev", d, "gso_max_segs", "1")
                self.ip(side, "link", "set", d, "up")
                _run(["tc", "-n", self.ns[side], "qdisc", "add", "dev", d, "root", "tbf",
                      "rate", self.rate, "burst", self.burst, "latency", self.latency])
                self.exec(side, ["nft", "-f", "-"], input=self._ruleset(d))
        except BaseException:
            self.teardown()
            raise
        return self

    def _ruleset(self, dev):
        return (f"table netdev postern_loss {{\n"
                f"  chain in {{\n"
                f"    type filter hook ingress device \"{dev}\" priority 0; policy accept;\n"
                f"    counter comment \"seen\"\n"
                f"    numgen random mod 100 < {int(self.loss)} counter drop comment \"lost\"\n"
                f"  }}\n"
                f"}}\n")

    def teardown(self):
        """Stop every process started here (SIGTERM to its PID, SIGKILL after 3 s), then
        kill whatever still runs inside the namespaces (their PIDs from `ip netns pids`:
        only what this path started lives there, e.g. a forking server's children, which
        may hold a started process's output pipe open), then close the pipes and delete
        the namespaces. Safe to call twice."""
        for p in self.procs:
            try:
                if p.proc is not None:
                    stop_process(p.proc, signal.SIGTERM, timeout=3.0)
            except Exception:  # noqa: BLE001 - teardown goes on
                pass
        for name in list(self.made):
            r = _run(["ip", "netns", "pids", name], check=False)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for p in self.procs:
            try:
                p.cleanup()
            except Exception:  # noqa: BLE001 - teardown goes on
                pass
        self.procs = []
        for name in list(self.made):
            _run(["ip", "netns", "del", name], check=False)
            self.made.remove(name)

    def __enter__(self):
        return self.setup()

    def __exit__(self, *exc):
        self.teardown()
        return False

    # ---- inside ---------------------------------------------------------------------

    def start(self, side, argv, env=None, name=None, merge=False, log_path=None):
        """Start <argv> in namespace <side> (`ip netns exec` execs it: the PID is the
        program's own) as a LoggedProcess, stopped at teardown."""
        p = LoggedProcess(["ip", "netns", "exec", self.ns[side]] + [str(a) for a in argv],
                          env=env, merge=merge, log_path=log_path,
                          name=name or os.path.basename(str(argv[0])))
        self.procs.append(p)
        return p.start()

    @contextlib.contextmanager
    def inside(self, side):
        """The calling thread in namespace <side> until the block ends: sockets (and
        threads) made in the block belong to it."""
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            there = os.open(os.path.join(NETNS_DIR, self.ns[side]), os.O_RDONLY)
            try:
                _setns(there)
            finally:
                os.close(there)
            try:
                yield self
            finally:
                _setns(back)
        finally:
            os.close(back)

    def counters(self, side):
        """The receiving end <side>'s loss chain: {"seen": (packets, bytes),
        "lost": (packets, bytes)}."""
        r = self.exec(side, ["nft", "-j", "list", "table", "netdev", "postern_loss"])
        out = {}
        for item in json.loads(r.stdout)["nftables"]:
            rule = item.get("rule")
            if not rule:
                continue
            for e in rule["expr"]:
                if "counter" in e:
                    out[rule.get("comment", "")] = (e["counter"]["packets"],
                                                    e["counter"]["bytes"])
        return out

    def listening(self, side, port, proto="tcp", timeout=5.0, proc=None):
        """Wait until something listens on <port> in namespace <side> (ss)."""
        deadline = time.monotonic() + timeout
        flag = "-Htln" if proto == "tcp" else "-Huln"
        while True:
            r = self.exec(side, ["ss", flag, f"sport = :{port}"], check=False)
            if r.stdout.strip():
                return
            if proc is not None and not proc.alive():
                raise AssertionError(f"{proc.name} exited before listening on {port}:\n"
                                     + proc.output())
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listens on {proto} {port} in {self.ns[side]}")
            time.sleep(0.1)


def netns_names(tag="lossy"):
    """The namespaces of <tag> that exist now (for a check that none is left)."""
    r = _run(["ip", "netns", "list"], check=False)
    return [ln.split()[0] for ln in r.stdout.splitlines()
            if ln.split() and ln.split()[0].startswith(f"pstn-{tag}-")]
