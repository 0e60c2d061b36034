"""Attack and fault tools shared by the admission tests (integration/94_*) and the chaos
suite (tests/chaos/): a slowloris (many connections trickling a request head), a slow
reader, a non-reader (requests sent, answers never read), a good client that measures
its success rate and latency, descriptor limits set on a child only, and a process's CPU
time from /proc. Every thread has a deadline and
every socket is closed by stop()."""
import contextlib
import os
import resource
import selectors
import socket
import threading
import time

import harness.procs as procs


@contextlib.contextmanager
def child_nofile(n, hard=None):
    """Within the block, children started through the harness (harness.procs'
    subprocess.Popen) get RLIMIT_NOFILE <n> (soft, and hard unless <hard> is given),
    set in the child between fork and exec; this process keeps its own limit."""
    real = procs.subprocess.Popen

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n if hard is None else hard))

    def popen(*a, **kw):
        kw.setdefault("preexec_fn", limit)
        return real(*a, **kw)

    procs.subprocess.Popen = popen
    try:
        yield
    finally:
        procs.subprocess.Popen = real


def cpu_seconds(pid):
    """utime + stime of <pid> in seconds (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def held_peers(pid):
    """The peers' ports of the TCP sockets <pid> holds (IPv4): /proc/<pid>/fd's socket
    inodes against /proc/net/tcp, read once."""
    d, links = f"/proc/{pid}/fd", []
    for fd in os.listdir(d):
        with contextlib.suppress(OSError):     # closed meanwhile
            links.append(os.readlink(f"{d}/{fd}"))
    inodes = {link[8:-1] for link in links if link.startswith("socket:[")}
    ports = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[9] in inodes:
                ports.add(int(cols[2].split(":")[1], 16))
    return ports


class _Worker:
    """A daemon thread running self._run() until stop() (or its own deadline)."""

    def __init__(self, name):
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True, name=name)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._t.join(30)


class Slowloris(_Worker):
    """<n> connections from <src> to 127.0.0.1:<port>, each sending <head> and then one
    byte of <drip> every <interval> s, never finishing. With <reconnect>, a connection the
    server closes is opened again (so the attack keeps <n> attempts going). Counts:
    opened, closed (by the server), the most held at once, and lifetimes of closed ones."""

    def __init__(self, port, n, head, drip=b"X-a: b\r\n", interval=1.0, src="127.0.0.1",
                 reconnect=True, duration=60.0):
        self.port, self.n, self.head, self.drip = port, n, head, drip
        self.interval, self.src, self.reconnect = interval, src, reconnect
        self.duration = duration
        self.opened = self.closed = self.failed = self.max_held = 0
        self.lifetimes = []
        self._held = 0
        super().__init__("slowloris")

    def held(self):
        return self._held

    def _open(self, sel, conns):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((self.src, 0))
            s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            s.close()
            self.failed += 1
            return
        conns[s] = {"t0": time.monotonic(), "sent": 0, "next": time.monotonic()}
        sel.register(s, selectors.EVENT_READ)
        self.opened += 1

    def _drop(self, sel, conns, s, by_server):
        info = conns.pop(s)
        sel.unregister(s)
        s.close()
        if by_server:
            self.closed += 1
            self.lifetimes.append(time.monotonic() - info["t0"])

    def _run(self):
        sel = selectors.DefaultSelector()
        conns = {}
        self._held = 0
        end = time.monotonic() + self.duration
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                while len(conns) < self.n and (self.reconnect or self.opened < self.n):
                    before = self.opened
                    self._open(sel, conns)
                    if self.opened == before:
                        break
                now = time.monotonic()
                for s, info in list(conns.items()):
                    if now < info["next"]:
                        continue
                    data = self.head if info["sent"] == 0 else self.drip[:1]
                    info["next"] = now + (0.05 if info["sent"] == 0 else self.interval)
                    try:
                        s.send(data)
                        info["sent"] += 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        if info["sent"] > 0:
                            self._drop(sel, conns, s, True)
                        else:
                            info["next"] = now + 0.05
                for key, _ in sel.select(timeout=0.05):
                    s = key.fileobj
                    try:
                        if s.recv(4096) == b"":
                            self._drop(sel, conns, s, True)
                    except BlockingIOError:
                        pass
                    except OSError:
                        self._drop(sel, conns, s, True)
                self._held = len(conns)
                self.max_held = max(self.max_held, self._held)
        finally:
            for s in list(conns):
                sel.unregister(s)
                s.close()
            sel.close()


class NonReader(_Worker):
    """<n> connections from <src> to 127.0.0.1:<port>, each sending <payload> (e.g.
    pipelined requests for large bodies) with a small receive buffer and never reading
    a byte. A connection the server closes (FIN or reset: poll without POLLIN) is opened
    again. Counts as Slowloris: opened, closed (by the server), held now, lifetimes."""

    def __init__(self, port, n, payload, src="127.0.0.1", rcvbuf=4096, duration=60.0):
        self.port, self.n, self.payload, self.src = port, n, payload, src
        self.rcvbuf, self.duration = rcvbuf, duration
        self.opened = self.closed = self.failed = 0
        self.lifetimes = []
        self._held = 0
        super().__init__("non-reader")

    def held(self):
        return self._held

    def _run(self):
        import select
        poll = select.poll()
        conns = {}
        end = time.monotonic() + self.duration
        gone = select.POLLRDHUP | select.POLLHUP | select.POLLERR
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                while len(conns) < self.n:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
                    try:
                        s.bind((self.src, 0))
                        s.settimeout(2.0)
                        s.connect(("127.0.0.1", self.port))
                        s.sendall(self.payload)
                    except OSError:
                        s.close()
                        self.failed += 1
                        break
                    conns[s.fileno()] = (s, time.monotonic())
                    poll.register(s, gone)
                    self.opened += 1
                for fd, _ev in poll.poll(50):
                    s, t0 = conns.pop(fd)
                    poll.unregister(fd)
                    s.close()
                    self.closed += 1
                    self.lifetimes.append(time.monotonic() - t0)
                self._held = len(conns)
                if self.failed and len(conns) < self.n:
                    self._stop.wait(0.05)
        finally:
            for s, _t0 in conns.values():
                s.close()


class GoodClient(_Worker):
    """Calls <fn>() (one request; raises or returns False on failure) every <gap> s in a
    thread; records each call's latency and outcome."""

    def __init__(self, fn, gap=0.02, duration=60.0):
        self.fn, self.gap, self.duration = fn, gap, duration
        self.lat, self.errors = [], []
        super().__init__("good-client")

    def _run(self):
        end = time.monotonic() + self.duration
        while not self._stop.is_set() and time.monotonic() < end:
            t0 = time.monotonic()
            try:
                ok = self.fn() is not False
                err = None if ok else "refused"
            except Exception as e:  # noqa: BLE001 - any failure counts
                ok, err = False, f"{type(e).__name__}: {e}"
            self.lat.append(time.monotonic() - t0)
            if not ok:
                self.errors.append(err)
            self._stop.wait(self.gap)

    def total(self):
        return len(self.lat)

    def success(self):
        return 1.0 - len(self.errors) / max(1, len(self.lat))

    def p99(self):
        if not self.lat:
            return float("inf")
        s = sorted(self.lat)
        return s[min(len(s) - 1, int(len(s) * 0.99))]

    def summary(self):
        return (f"{self.total()} requests, {100 * self.success():.2f} % ok, "
                f"p99 {1000 * self.p99():.1f} ms; errors: {self.errors[:3]}")


def download(port, on_progress=None, timeout=20.0, host="127.0.0.1"):
    """Read from <host>:<port> until the end; return (bytes, sha256 hex, outcome) where
    outcome is "eof" (a clean end) or the error's class name (ConnectionResetError...)."""
    import hashlib
    s = socket.create_connection((host, port), timeout=timeout)
    h = hashlib.sha256()
    n = 0
    try:
        while True:
            try:
                b = s.recv(1 << 16)
            except OSError as e:
                return n, h.hexdigest(), type(e).__name__
            if not b:
                return n, h.hexdigest(), "eof"
            h.update(b)
            n += len(b)
            if on_progress is not None:
                on_progress(n)
    finally:
        s.close()


def get_ok(port, path, headers=None, src=None, timeout=3.0, host="127.0.0.1"):
    """One GET of <path> on a fresh connection to <host>:<port> (from <src>): True on a
    200, False on another status; raises on a connection error or timeout."""
    import http.client
    c = http.client.HTTPConnection(host, port, timeout=timeout,
                                   source_address=(src, 0) if src else None)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        r.read()
        return r.status == 200
    finally:
        c.close()
