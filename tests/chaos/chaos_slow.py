"""Peers that stall: a user that stops reading in the middle of a large download (through
a tunnel and through a hub tcp route), a target that accepts and never reads, and a
target that never answers a SYN (a blackhole: an unrouted address in a network namespace
the test makes). Each time the others keep being served, memory stays bounded, and
nothing spins (docs/security.md)."""
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from harness.attack import GoodClient, cpu_seconds, download
from harness.backends import echo_handler, paced_source_handler
from harness.net import port_block, wait_until
from hub_util import HubStack, Route, account
from tunnel_util import Tunnel

import scale

GROWTH_MAX = 48 * 1024 * 1024       # RSS a stalled peer may add to a process, at most
UPLOADS = 16 if scale.LONG else 4   # uploads to a target that never reads


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class StalledReader:
    """A download from <port> that reads <first> bytes, then stops reading (a small
    receive buffer) and holds the connection until close()."""

    def __init__(self, port, first=1 << 20):
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.s.settimeout(20)
        self.s.connect(("127.0.0.1", port))
        got = 0
        while got < first:
            b = self.s.recv(65536)
            assert b, f"the stalled reader's download ended after {got} bytes"
            got += len(b)
        self.got = got

    def state(self):
        """"open" (nothing more to read right now or data waiting), or how it ended."""
        self.s.setblocking(False)
        try:
            b = self.s.recv(1, socket.MSG_PEEK)
            return "open" if b else "eof"
        except BlockingIOError:
            return "open"
        except OSError as e:
            return type(e).__name__
        finally:
            self.s.setblocking(True)

    def close(self):
        self.s.close()


def _stalled_reader_case(port, pids, src, name):
    """One stalled reader on <port>, then PARALLEL full downloads: each complete and
    right; the processes <pids> grow by less than GROWTH_MAX and stop growing."""
    base = {p: rss(p) for p in pids}
    stuck = StalledReader(port)
    try:
        time.sleep(1.0)
        mid = {p: rss(p) for p in pids}
        out = [None] * 3
        ts = [threading.Thread(target=lambda i=i: out.__setitem__(i, download(port, timeout=30)),
                               daemon=True) for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        time.sleep(2.0)
        late = {p: rss(p) for p in pids}
        state = stuck.state()
    finally:
        stuck.close()
    if all(o is not None and o[2] == "eof" for o in out):
        wait_until(lambda: sum(1 for r in src.records if r[0] == "sent") >= len(out), 10,
                   what="the source's records")
    sent = {r[2] for r in src.records if r[0] == "sent"}
    scale.report(name, others=[(o[0], o[2]) if o else None for o in out],
                 stalled_state=state,
                 rss_growth_kib={str(p): (late[p] - base[p]) // 1024 for p in pids},
                 rss_growth_during_downloads_kib={str(p): (late[p] - mid[p]) // 1024 for p in pids})
    assert all(o is not None for o in out), "a download did not finish in 60 s"
    for n, sha, outcome in out:
        assert (n, outcome) == (scale.TRANSFER, "eof") and sha in sent, \
            f"another user's download beside a stalled reader: {n} bytes, {outcome}"
    for p in pids:
        assert late[p] - base[p] < GROWTH_MAX, f"pid {p}: RSS {base[p]} -> {late[p]}"


def test_stalled_reader_through_a_tunnel(postern, backends):
    src = backends(paced_source_handler(scale.TRANSFER, chunk=256 * 1024, gap=0),
                   name="source")
    t = Tunnel(postern, "reverse", src.port, key="chaos-key", server_params="tls=1").start()
    _stalled_reader_case(t.user_port, [t.server.proc.pid, t.client.proc.pid], src,
                         "stalled reader mid-download (tunnel, tls=1)")


def test_stalled_reader_through_a_hub(tmp_path):
    st = HubStack(tmp_path)
    try:
        base = port_block(1)
        acct = account("slow")
        hub = st.hub([acct], http=False, ports=(base, base))
        src = st.tcp(paced_source_handler(scale.TRANSFER, chunk=256 * 1024, gap=0),
                     name="source")
        agent = st.agent(hub, acct["token"], [Route("tcp", src.port, port=base)])
        _stalled_reader_case(base, [hub.proc.proc.pid, agent.proc.proc.pid], src,
                             "stalled reader mid-download (hub tcp route)")
    finally:
        st.cleanup()


def never_read_handler(backend, conn):
    """Accept, never read, hold until the backend stops (or 60 s)."""
    backend._stopping.wait(60)


def _push_until_blocked(port, n, hold):
    """<n> connections that send until their send buffer stays full for 1 s; appended
    to <hold> (the caller closes them). Return the bytes sent by each."""
    sent = []
    chunk = os.urandom(65536)
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        hold.append(s)
        s.setblocking(False)
        total, last = 0, time.monotonic()
        while time.monotonic() - last < 1.0 and total < 256 * 1024 * 1024:
            try:
                total += s.send(chunk)
                last = time.monotonic()
            except BlockingIOError:
                time.sleep(0.02)
            except OSError:
                break
        sent.append(total)
    return sent


def test_target_that_never_reads(tmp_path):
    """Users upload to a service that accepts and never reads (hub tcp route): each
    upload stops at the buffers (bounded memory, no CPU spent waiting), and the users of
    another route of the same agent are served meanwhile."""
    st = HubStack(tmp_path)
    hold = []
    try:
        base = port_block(2)
        acct = account("sink")
        hub = st.hub([acct], http=False, ports=(base, base + 1))
        sink = st.tcp(never_read_handler, name="sink")
        echo = st.tcp(echo_handler, name="echo")
        agent = st.agent(hub, acct["token"], [Route("tcp", sink.port, port=base),
                                              Route("tcp", echo.port, port=base + 1)])
        pids = [hub.proc.proc.pid, agent.proc.proc.pid]
        assert scale.echo_ok(base + 1)
        r0 = {p: rss(p) for p in pids}
        sent = _push_until_blocked(base, UPLOADS, hold)
        c0 = {p: cpu_seconds(p) for p in pids}
        t0 = time.monotonic()
        with GoodClient(lambda: scale.echo_ok(base + 1), gap=0.02, duration=10) as gc:
            time.sleep(3.0)
        wall = time.monotonic() - t0
        cpu = {p: cpu_seconds(p) - c0[p] for p in pids}
        r1 = {p: rss(p) for p in pids}
        scale.report(f"target that never reads (hub tcp route, {UPLOADS} uploads)",
                     sent_per_upload_kib=[x // 1024 for x in sent],
                     rss_growth_kib={str(p): (r1[p] - r0[p]) // 1024 for p in pids},
                     cpu_pct={str(p): round(100 * cpu[p] / wall, 1) for p in pids},
                     good_requests=gc.total(), good_success_pct=round(100 * gc.success(), 2),
                     good_p99_ms=round(1000 * gc.p99(), 1))
        assert max(sent) < 64 * 1024 * 1024, f"an upload to a sink went on: {sent}"
        for p in pids:
            assert r1[p] - r0[p] < GROWTH_MAX, f"pid {p}: RSS {r0[p]} -> {r1[p]}"
            assert cpu[p] < 0.5 * wall, f"pid {p}: {cpu[p]:.2f} s CPU in {wall:.1f} s"
        assert gc.success() >= 0.99, gc.summary()
    finally:
        for s in hold:
            s.close()
        st.cleanup()


@pytest.fixture
def blackhole():
    """An IPv4 address that never answers: routed from here into a network namespace
    (a veth pair, a static neighbour entry) where it is no local address and forwarding
    is off (a new namespace's default), so a SYN to it is dropped without a word. Yields
    the address. The namespace is held by a process of its own (unshare --net), stopped
    by PID: no /run/netns mount and no `ip netns exec`, which remount / and /sys and fail
    in a chroot (scripts/fresh-check.sh's root)."""
    if os.geteuid() != 0:
        pytest.skip("a network namespace needs root")
    tag = f"pnbh{os.getpid() % 100000}"
    net = f"10.213.{os.getpid() % 250}"
    here, there = f"{tag}a", f"{tag}b"

    def ip(*args, check=True):
        return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10,
                              check=check)

    inner = (f"i=0; while ! ip link show {there} >/dev/null 2>&1; do i=$((i+1)); "
             f"[ $i -gt 200 ] && exit 1; sleep 0.05; done; "
             f"ip link set {there} up && ip -j link show dev {there} && exec sleep 600")
    try:
        holder = subprocess.Popen(["unshare", "--net", "sh", "-c", inner],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError as e:
        pytest.skip(f"cannot make a network namespace: {e}")
    try:
        ip("link", "add", here, "type", "veth", "peer", "name", there)
        ip("link", "set", there, "netns", str(holder.pid))
        ip("addr", "add", f"{net}.1/30", "dev", here)
        ip("link", "set", here, "up")
        line = holder.stdout.readline()     # the peer's link, once it is up inside
        assert line, f"the namespace's holder: {holder.stderr.read() if holder.poll() is not None else ''}"
        mac = json.loads(line)[0]["address"]
        ip("neigh", "replace", f"{net}.2", "lladdr", mac, "dev", here, "nud", "permanent")
        yield f"{net}.2"
    finally:
        ip("link", "del", here, check=False)
        holder.kill()
        holder.wait(timeout=10)


def _dial_blackhole(port, n):
    """<n> users at once on <port>; return [(seconds until the end, how it ended)]."""
    out = [None] * n

    def one(i):
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
                s.sendall(b"hello?")
                b = s.recv(64)
                how = "eof" if not b else "data"
        except OSError as e:
            how = type(e).__name__
        out[i] = (time.monotonic() - t0, how)

    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return out


def test_blackhole_target_forwarder(postern, blackhole):
    """A forwarder to an address that never answers a SYN gives each user the end within
    the dial timeout (2 s here), all at once, without spinning."""
    p = postern.client([f"{blackhole}:80"], env={"POSTERN_DIAL_TIMEOUT": "2s"})
    c0, t0 = cpu_seconds(p.proc.pid), time.monotonic()
    res = _dial_blackhole(p.port, 20)
    cpu = cpu_seconds(p.proc.pid) - c0
    wall = time.monotonic() - t0
    scale.report("blackhole target (client://, dial timeout 2 s, 20 users)",
                 ends_s=sorted(round(r[0], 2) for r in res if r), how=sorted({r[1] for r in res if r}),
                 cpu_pct=round(100 * cpu / wall, 1))
    assert all(r is not None for r in res)
    for took, how in res:
        assert how != "data" and 1.5 <= took <= 4.5, res
    assert cpu < 0.3 * wall
    assert p.alive()


def test_blackhole_target_tunnel(postern, blackhole):
    """A tunnel (reverse) whose client dials a blackhole: each user gets the end within
    the client's dial timeout, and the tunnel's session stays up (no reconnect)."""
    t = Tunnel(postern, "reverse", f"{blackhole}:80", key="chaos-key",
               client_env={"POSTERN_DIAL_TIMEOUT": "2s"}).start()
    attached = t.attached_count()
    res = _dial_blackhole(t.user_port, 20)
    scale.report("blackhole target (tunnel, reverse, client dial timeout 2 s, 20 users)",
                 ends_s=sorted(round(r[0], 2) for r in res if r),
                 how=sorted({r[1] for r in res if r}))
    assert all(r is not None for r in res)
    for took, how in res:
        assert how != "data" and took <= 6.0, res
    assert t.server.alive() and t.client.alive()
    assert t.attached_count() == attached, "the session was lost to a blackhole target"


def test_blackhole_target_hub_route(tmp_path, blackhole):
    """An agent's route to a blackhole: its users get the end within the dial timeout;
    the same agent's other route serves its users meanwhile."""
    st = HubStack(tmp_path)
    try:
        base = port_block(2)
        acct = account("bh")
        hub = st.hub([acct], http=False, ports=(base, base + 1))
        echo = st.tcp(echo_handler, name="echo")
        st.agent(hub, acct["token"], [Route("tcp", f"{blackhole}:80", port=base),
                                      Route("tcp", echo.port, port=base + 1)],
                 env={"POSTERN_DIAL_TIMEOUT": "2s"})
        assert scale.echo_ok(base + 1)
        with GoodClient(lambda: scale.echo_ok(base + 1), gap=0.02, duration=15) as gc:
            res = _dial_blackhole(base, 20)
        scale.report("blackhole target (hub tcp route, dial timeout 2 s, 20 users)",
                     ends_s=sorted(round(r[0], 2) for r in res if r),
                     how=sorted({r[1] for r in res if r}),
                     good_requests=gc.total(), good_success_pct=round(100 * gc.success(), 2),
                     good_p99_ms=round(1000 * gc.p99(), 1))
        assert all(r is not None for r in res)
        for took, how in res:
            assert how != "data" and took <= 6.0, res
        assert gc.success() >= 0.99, gc.summary()
    finally:
        st.cleanup()
