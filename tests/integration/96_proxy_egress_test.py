"""proxy://...&via= (docs/proxy.md, "Through nodes"): the entrance sends each user's
connection through a tunnel to a node (a tunnel server in forward flow with egress=1),
which dials the destination named in the signal's TARGET TLV (docs/protocol.md §5.2).
Real curl through entrance -> tunnel -> node -> a local web server (sha256 of the body);
the node's allow= refusing a loopback destination unless allowed; a node without
egress=1 refusing; with two nodes, kill -9 one and new connections go through the other.
The reverse path too (via=rev:): the node, a tunnel client, dials the entrance's tunnel port.
The node's RESULT frame (docs/protocol.md §6.5) reaches the user as the protocol's own
error: curl's and ncat's exit codes and messages for SOCKS5 replies 2/5/6, HTTP 403/502/504."""
import hashlib
import socket
import subprocess

from conftest import LOOPBACK, free_port
from harness.procs import require_tool
from tunnel_util import wait_checkpoint
from proxy_util import (curl_through, socks_addr, socks_open, start_proxy, user_stats,  # noqa: F401
                        write_users, www)
from udp_util import UdpEcho

import pytest

USERS = [{"name": "alice", "password": "alice-pw-1"}]
ENV = {"POSTERN_REPORT_INTERVAL": "500ms", "POSTERN_BACKOFF_MAX": "2s"}


def start_node(postern, fixed_target, params, env=None):
    """A node: server://k@127.0.0.1:<free>/<fixed_target>?mode=2&<params>, listening."""
    for _ in range(3):
        port = free_port()
        p = postern.run([f"server://nodekey@{LOOPBACK}:{port}/{LOOPBACK}:{fixed_target}"
                         f"?mode=2&{params}"], {**ENV, **(env or {})})
        p.port = port
        try:
            p.wait_port()
            return p
        except AssertionError:
            p.cleanup()
    raise AssertionError("could not start a node")


def start_entrance(postern, tmp_path, nodes, params="", pool=""):
    via = ",".join(f"nodekey@{LOOPBACK}:{n.port}{pool}" for n in nodes)
    px = start_proxy(postern, write_users(tmp_path / "users.json", USERS),
                     params=f"via={via}" + (f"&{params}" if params else ""), env=ENV)
    for n in nodes:
        px.wait_for_log(rf"via {LOOPBACK}:{n.port}: connected to {LOOPBACK}:{n.port}", timeout=10)
    return px


def fetch(px, url, how="--socks5-hostname"):
    if how == "-x":
        return curl_through("-x", f"http://alice:alice-pw-1@{LOOPBACK}:{px.port}", url, timeout=20)
    return curl_through(how, f"alice:alice-pw-1@{LOOPBACK}:{px.port}", url, timeout=20)


def test_curl_through_a_node(postern, tmp_path, www):
    port, _, small = www
    want = hashlib.sha256(small).hexdigest()
    # The node's fixed target is a closed port: the body can only come from the TARGET.
    node = start_node(postern, free_port(), "egress=1&allow=127.0.0.0/8")
    px = start_entrance(postern, tmp_path, [node], pool="?min=3")     # this node's pool: 3
    px.wait_for_log(r"via .*: connected to .* pool 3-1024", timeout=5)
    for how, host in (("--socks5-hostname", "localhost"), ("--socks5", LOOPBACK), ("-x", LOOPBACK)):
        r = fetch(px, f"http://{host}:{port}/small.bin", how)
        assert r.returncode == 0, (how, r.stderr)
        assert hashlib.sha256(r.stdout).hexdigest() == want, how
    # CONNECT through the node, too
    r = curl_through("-p", "-x", f"http://alice:alice-pw-1@{LOOPBACK}:{px.port}",
                     f"http://localhost:{port}/small.bin", timeout=20)
    assert r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == want, r.stderr
    assert node.count_lines(r"egress: exchange .* refused") == 0


def refused_as(px, url, socks_rep, status):
    """The user sees the node's refusal as SOCKS5 reply <socks_rep> (curl: exit 97, the
    reply in its message) and HTTP <status> (absolute URI: the status; CONNECT: exit 56)."""
    r = fetch(px, url)
    assert r.returncode == 97 and f"({socks_rep})".encode() in r.stderr, r.stderr
    r = curl_through("-s", "-o", "/dev/null", "-w", "%{http_code}", "-x",
                     f"http://alice:alice-pw-1@{LOOPBACK}:{px.port}", url, timeout=20)
    assert r.stdout == str(status).encode(), (r.stdout, r.stderr)
    r = curl_through("-p", "-x", f"http://alice:alice-pw-1@{LOOPBACK}:{px.port}", url, timeout=20)
    assert r.returncode == 56 and f"response {status}".encode() in r.stderr, r.stderr


def test_node_allow_guards_loopback(postern, tmp_path, www):
    port, _, small = www
    node = start_node(postern, port, "egress=1")      # no allow=: loopback is internal
    px = start_entrance(postern, tmp_path, [node])
    refused_as(px, f"http://localhost:{port}/small.bin", 2, 403)
    node.wait_for_log(r"egress: exchange to localhost:\d+ refused: destination is internal "
                      r"\(not in allow=\)", timeout=5)
    px.wait_for_log(r"user alice: socks5: the node: destination is internal", timeout=5)
    mark = px.mark()
    assert user_stats(px, "alice", start=mark)["refused"] >= 3


def test_node_answers_refused_and_timeout(postern, tmp_path):
    """A closed port: reply 5 / 502 (curl, ncat in both proxy types); a destination that
    never answers the SYN (a listener whose backlog is full) past the node's 1 s dial
    deadline: reply 6 / 504, well before the entrance's own 10 s."""
    node = start_node(postern, free_port(), "egress=1&allow=127.0.0.0/8",
                      env={"POSTERN_DIAL_TIMEOUT": "1s"})
    px = start_entrance(postern, tmp_path, [node])
    closed = free_port()
    refused_as(px, f"http://localhost:{closed}/", 5, 502)
    ncat = [require_tool("ncat"), "--proxy", f"{LOOPBACK}:{px.port}", "--proxy-auth",
            "alice:alice-pw-1", "-w", "5", LOOPBACK, str(closed)]
    r = subprocess.run(ncat + ["--proxy-type", "socks5"], input=b"", capture_output=True, timeout=30)
    assert r.returncode == 1 and b"Connection refused" in r.stderr, r.stderr
    r = subprocess.run(ncat + ["--proxy-type", "http"], input=b"", capture_output=True, timeout=30)
    assert r.returncode == 1 and b"status code 502" in r.stderr, r.stderr
    full = socket.socket()
    full.bind((LOOPBACK, 0))
    full.listen(0)
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(full.getsockname())
        fillers.append(c)
    try:
        refused_as(px, f"http://{LOOPBACK}:{full.getsockname()[1]}/", 6, 504)
    finally:
        for c in fillers + [full]:
            c.close()
    px.wait_for_log(r"user alice: http: the node: timed out", timeout=5)


@pytest.mark.parametrize("path", ["relay", "reverse"])
def test_node_without_egress_refuses(postern, tmp_path, www, path):
    port, _, small = www
    # The fixed target is the web server: reaching it would make curl succeed.
    if path == "relay":
        node = start_node(postern, port, "allow=127.0.0.0/8")
        px = start_entrance(postern, tmp_path, [node])
    else:
        px = start_rev_entrance(postern, tmp_path)
        node = start_rev_node(postern, px, port, "allow=127.0.0.0/8")
    r = fetch(px, f"http://localhost:{port}/small.bin")
    assert r.returncode == 97 and b"(2)" in r.stderr, r.stderr      # not allowed
    node.wait_for_log(r"egress: exchange to localhost:\d+ refused: this end was not started "
                      r"with egress=1", timeout=5)
    assert node.alive()


@pytest.mark.parametrize("path", ["relay", "reverse"])
def test_udp_associate_through_a_node(postern, tmp_path, path):
    """SOCKS5 UDP ASSOCIATE with via=: each destination's datagrams go through a tunnel
    UDP session to the node (TARGET in the UDP signal), which sends them to a UDP echo;
    answers come back whole with the destination's header as the user named it. A
    destination the node refuses (internal, not in its allow=) gets nothing back."""
    echo = UdpEcho(name="uecho")
    try:
        if path == "relay":
            node = start_node(postern, free_port(), "egress=1&allow=127.0.0.0/8")
            px = start_entrance(postern, tmp_path, [node])
        else:
            px = start_rev_entrance(postern, tmp_path)
            node = start_rev_node(postern, px, free_port(), "egress=1&allow=127.0.0.0/8")
            node.wait_for_log(r"connected to .* flow=reverse", timeout=5)
        s, status, rep, bnd = socks_open(px.port, "alice", "alice-pw-1", "0.0.0.0", 0, cmd=3)
        assert (status, rep) == (0, 0), rep
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(5)
        sizes = [1, 1400, 9000, 0, 60000]
        for host in (LOOPBACK, "localhost"):
            hdr = b"\x00\x00\x00" + socks_addr(host, echo.port)
            for i, n in enumerate(sizes):
                payload = bytes([i + 1]) * n
                u.sendto(hdr + payload, bnd)
                d, _ = u.recvfrom(65536)
                assert d == hdr + payload, (host, n, len(d))
        assert echo.rx_datagrams == 2 * len(sizes)
        assert node.count_lines(r"egress: exchange .* refused") == 0
        s.close()
        u.close()
    finally:
        echo.stop()


def test_udp_through_a_node_refused(postern, tmp_path):
    echo = UdpEcho(name="uecho")
    try:
        node = start_node(postern, free_port(), "egress=1")     # loopback is internal there
        px = start_entrance(postern, tmp_path, [node])
        s, status, rep, bnd = socks_open(px.port, "alice", "alice-pw-1", "0.0.0.0", 0, cmd=3)
        assert (status, rep) == (0, 0), rep
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(b"\x00\x00\x00" + socks_addr(LOOPBACK, echo.port) + b"x", bnd)
        px.wait_for_log(rf"user alice: udp via node to {LOOPBACK}:{echo.port}: destination is "
                        r"internal \(not in allow=\)", timeout=5)
        assert echo.rx_datagrams == 0
        s.close()
        u.close()
    finally:
        echo.stop()


def fetch_ok(px, port, want, times):
    for _ in range(times):
        r = fetch(px, f"http://localhost:{port}/small.bin")
        assert r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == want, r.stderr


def kill_node(px, node):
    mark = px.mark()
    node.kill()
    px.wait_for_log(rf"via {LOOPBACK}:{node.port}: session ended", timeout=5, start=mark)


def carried(node, at_least):
    """The node's CHECK_POINT once its TCP bytes (both ways, since start) reach <at_least>."""
    return wait_checkpoint(node, lambda v: v["tcprx"] + v["tcptx"] >= at_least, timeout=5)


@pytest.mark.asan_keep("0")
@pytest.mark.parametrize("lbs", ["0", "2"])
def test_two_nodes_kill_one(postern, tmp_path, www, lbs):
    port, _, small = www
    want = hashlib.sha256(small).hexdigest()
    a = start_node(postern, free_port(), "egress=1&allow=127.0.0.0/8")
    b = start_node(postern, free_port(), "egress=1&allow=127.0.0.0/8")
    px = start_entrance(postern, tmp_path, [a, b], params=f"lbs={lbs}")
    fetch_ok(px, port, want, 4)
    if lbs == "0":              # round robin: each node carried two bodies
        carried(a, 2 * len(small))
        carried(b, 2 * len(small))
    else:                       # primary/backup: all on the first node
        carried(a, 4 * len(small))
        mark = b.mark()
        v = wait_checkpoint(b, lambda v: True, timeout=5, start=mark)
        assert v["tcprx"] + v["tcptx"] == 0, v
    kill_node(px, a)
    fetch_ok(px, port, want, 6)
    carried(b, 6 * len(small))
    # Both gone: a clear refusal at once, not a hang.
    kill_node(px, b)
    r = fetch(px, f"http://localhost:{port}/small.bin")
    assert r.returncode != 0
    px.wait_for_log(r"no node's tunnel is up", timeout=5)


def start_rev_entrance(postern, tmp_path, extra_nodes=(), params="", pool=""):
    """An entrance whose first node is reversed: it listens on a free tunnel port."""
    tport = free_port()
    via = ",".join([f"rev:nodekey@{LOOPBACK}:{tport}{pool}"] +
                   [f"nodekey@{LOOPBACK}:{n.port}" for n in extra_nodes])
    px = start_proxy(postern, write_users(tmp_path / "users.json", USERS),
                     params=f"via={via}" + (f"&{params}" if params else ""), env=ENV)
    px.tport = tport
    return px


def start_rev_node(postern, px, fixed_target, params):
    """A node behind NAT: client://k@<entrance tunnel port>/<fixed>?mode=2&<params>."""
    mark = px.mark()
    p = postern.run([f"client://nodekey@{LOOPBACK}:{px.tport}/{LOOPBACK}:{fixed_target}"
                     f"?mode=2&{params}"], ENV)
    px.wait_for_log(rf"via rev {LOOPBACK}:{px.tport}: client .* attached", timeout=10, start=mark)
    return p


def test_reverse_path(postern, tmp_path, www):
    port, _, small = www
    want = hashlib.sha256(small).hexdigest()
    px = start_rev_entrance(postern, tmp_path, pool="?max=8")      # the pool we grant: 8
    # No node yet: refused at once.
    r = fetch(px, f"http://localhost:{port}/small.bin")
    assert r.returncode != 0
    px.wait_for_log(r"no node's tunnel is up", timeout=5)
    node = start_rev_node(postern, px, free_port(), "egress=1&allow=127.0.0.0/8")
    node.wait_for_log(r"connected to .* flow=reverse.* pool \d+-8\b", timeout=5)
    fetch_ok(px, port, want, 3)
    r = fetch(px, f"http://{LOOPBACK}:{port}/small.bin", "-x")
    assert r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == want, r.stderr


def test_reverse_port_in_use_exits_1(postern, tmp_path):
    """A reverse node's tunnel port already taken: a run-time failure (exit 1, as for the
    entrance's own port), and the entrance's tables are freed on the way out (the
    ASan+UBSan run reads LeakSanitizer's report)."""
    holder = socket.socket()
    holder.bind((LOOPBACK, 0))
    holder.listen(1)
    try:
        users = write_users(tmp_path / "users.json", USERS)
        p = postern.run([f"proxy://{LOOPBACK}:{free_port()}?users={users}"
                         f"&via=rev:nodekey@{LOOPBACK}:{holder.getsockname()[1]}"], ENV)
        rc = p.wait_exit(10)             # its output read to the end once it exited
        assert rc == 1, (rc, p.output())
        assert "address already in use" in "\n".join(p.lines("stderr")), p.output()
        # A leak does not change an exit status that is already 1: LeakSanitizer's report.
        assert "Sanitizer" not in p.output(), p.output()
    finally:
        holder.close()


def test_reverse_and_relay_nodes_kill_the_reverse_one(postern, tmp_path, www):
    port, _, small = www
    want = hashlib.sha256(small).hexdigest()
    relay = start_node(postern, free_port(), "egress=1&allow=127.0.0.0/8")
    px = start_rev_entrance(postern, tmp_path, [relay], params="lbs=2")
    px.wait_for_log(rf"via {LOOPBACK}:{relay.port}: connected to", timeout=10)
    rev = start_rev_node(postern, px, free_port(), "egress=1&allow=127.0.0.0/8")
    rev.wait_for_log(r"connected to .* flow=reverse", timeout=5)
    fetch_ok(px, port, want, 3)             # lbs=2: the first listed, the reverse node
    carried(rev, 3 * len(small))
    mark = px.mark()
    rev.kill()
    px.wait_for_log(rf"via rev {LOOPBACK}:{px.tport}: client .* detached", timeout=5, start=mark)
    fetch_ok(px, port, want, 3)
    carried(relay, 3 * len(small))
