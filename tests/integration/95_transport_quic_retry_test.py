"""The QUIC listener's stateless answers (type=1, docs/internals/quic.md, src/tls/quic_gate.c),
driven with real client Initials built by hand (tests/harness/quic_wire.py: a ClientHello
with ALPN postern-tunnel/1, protected with the Initial keys; the server starts a handshake
for each):

- a quiet port answers an Initial at once (its own Initial: no Retry, no round trip more);
  past 32 handshakes in progress (or 64 new Initials in a second) it answers Retry, keeping
  nothing; a Retry token brought back from the same address and port opens the handshake,
  the same token from another port, forged, or older than 10 s gets a small
  CONNECTION_CLOSE and opens nothing
- a flood of real Initials from 64 source ports of the client's own address while a good
  client starts: the client gets a Retry (seen by tshark), follows it, and a 16 MiB upload
  through its tunnel arrives with its sha256 intact
- POSTERN_QUIC_RETRY=1: the client's first Initial gets a Retry every time (seen on a relay),
  its next Initial brings the token back, a 16 MiB upload arrives whole
- a long-header datagram of an unknown version (0x1a2a3a4a), 1200 bytes: a Version
  Negotiation listing version 1, its ids swapped; a 1199-byte one: no answer; a short
  header (an unknown id): a stateless reset (42 bytes, or one byte less than a shorter
  datagram; none below 30 bytes: the server's ids are 8 bytes), never Version Negotiation
- two servers of the same key; mid-upload the client's UDP is moved (a relay) from the
  first to the second, which never had the connection: it answers the client's datagrams
  with a stateless reset the client recognises (the token derives from the key), the
  connection ends at the client's next datagram (the upload fails within 20 s: at once
  when it has ACKs to send, else at its 10 s keep-alive; instead of hanging until the 30 s
  idle timeout) and the client sends nothing more on it
- connection migration by the client, both flows: SIGHUP after half of a 64 MiB upload
  moves the client's connection to a new UDP socket; the upload arrives with its sha256;
  the client is left with one UDP socket, the new one; in two network namespaces, an
  nftables rule that makes the client's socket refuse to send (EPERM) mid-upload: the
  client moves by itself and the 32 MiB arrive whole
"""
import hashlib
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

# tests/harness/quic_wire.py needs python3-cryptography (scripts/deps.sh installs it): a
# machine without it fails here rather than skipping the file.
from harness.netns import LossyPath, path_available  # noqa: E402
from harness.procs import require_tool, stop_process  # noqa: E402
from harness.quic_wire import (INITIAL, RETRY, client_initial,  # noqa: E402
                               initial_token, long_type, parse_retry,
                               parse_version_negotiation)
from conftest import POSTERN_BIN, READY_TIMEOUT, connect, digest_handler, recv_all  # noqa: E402
from quic_util import UdpRelay  # noqa: E402
from tunnel_util import (ATTACHED_RE, LISTENING_RE, TUNNEL_ENV, Pattern, relays,  # noqa: E402,F401
                         tunnel, upload_pattern)


def udp_sock(timeout=2.0):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(timeout)
    return u


def first_reply(u, timeout=2.0):
    """The first datagram <u> receives within <timeout> s, or None."""
    u.settimeout(timeout)
    try:
        return u.recv(65536)
    except socket.timeout:
        return None


def quic_server(tunnel, echo_backend):
    t = tunnel("reverse", echo_backend.port, server_params="type=1&tls=1")
    t.start_server()
    return t, ("127.0.0.1", t.tunnel_port)


@pytest.mark.asan_skip
def test_retry_only_under_load_and_its_token_is_bound_to_the_address(tunnel, echo_backend):
    t, dst = quic_server(tunnel, echo_backend)
    socks = []
    try:
        # quiet: the server's own Initial comes back (a handshake starts)
        u = udp_sock()
        socks.append(u)
        u.sendto(client_initial()[0], dst)
        r = first_reply(u)
        assert r is not None and long_type(r) == INITIAL and len(r) >= 1200, r and r[:8].hex()
        # 99 more from other ports at once: past 32 handshakes in progress, Retry
        kinds = []
        sent = {}
        for _ in range(99):
            v = udp_sock()
            socks.append(v)
            d, dcid, scid = client_initial()
            sent[v] = (dcid, scid)
            v.sendto(d, dst)
        for v in socks[1:]:
            r = first_reply(v)
            kinds.append(None if r is None else long_type(r))
            if r is not None and long_type(r) == RETRY:
                rdcid, rscid, token = parse_retry(r)
                assert rdcid == sent[v][1] and len(rscid) == 8 and token[0] == 0xb6
                sent[v] = (rscid, token)
        assert kinds.count(INITIAL) >= 20 and kinds.count(RETRY) >= 50, kinds
        retried = [v for v in socks[1:] if len(sent[v][1]) > 16]
        # the token from the same address and port: the handshake starts (the server's Initial)
        v = retried[0]
        rscid, token = sent[v]
        v.sendto(client_initial(dcid=rscid, token=token)[0], dst)
        r = first_reply(v)
        assert r is not None and long_type(r) == INITIAL and len(r) >= 1200, r and (r[:8].hex(), len(r))
        # the same kind of token from another port: refused with a small Initial (CONNECTION_CLOSE)
        w = retried[1]
        other = udp_sock()
        socks.append(other)
        other.sendto(client_initial(dcid=sent[w][0], token=sent[w][1])[0], dst)
        r = first_reply(other)
        assert r is not None and long_type(r) == INITIAL and len(r) < 200, r and (r[:8].hex(), len(r))
        # a forged token: the same
        other.sendto(client_initial(token=b"\xb6" + bytes(90))[0], dst)
        r = first_reply(other)
        assert r is not None and long_type(r) == INITIAL and len(r) < 200, r and (r[:8].hex(), len(r))
        # a token older than 10 s, from its own port: refused
        x = retried[2]
        time.sleep(10.5)
        x.sendto(client_initial(dcid=sent[x][0], token=sent[x][1])[0], dst)
        r = first_reply(x)
        assert r is not None and long_type(r) == INITIAL and len(r) < 200, r and (r[:8].hex(), len(r))
        assert t.server.proc.poll() is None
    finally:
        for s in socks:
            s.close()


class Flood:
    """Real client Initials (a new connection each) from <nsocks> source ports of
    127.0.0.1 to <dst>, about <rate> a second, until stop(); counts what comes back."""

    def __init__(self, dst, nsocks=64, rate=1000):
        self.dst = dst
        self.socks = [udp_sock() for _ in range(nsocks)]
        for s in self.socks:
            s.setblocking(False)
        self.ports = {s.getsockname()[1] for s in self.socks}
        self.rate = rate
        self.sent = 0
        self.replies = {}
        self.stop_ = False
        self.t0 = time.monotonic()
        self.th = threading.Thread(target=self._run, daemon=True, name="quic-flood")
        self.th.start()

    def _run(self):
        i = 0
        t0 = self.t0
        while not self.stop_:
            if self.sent < (time.monotonic() - t0) * self.rate:
                s = self.socks[i % len(self.socks)]
                i += 1
                try:
                    s.sendto(client_initial()[0], self.dst)
                    self.sent += 1
                except OSError:
                    pass
            r, _, _ = select.select(self.socks, [], [], 0)
            for s in r:
                try:
                    d = s.recv(65536)
                except OSError:
                    continue
                k = long_type(d)
                self.replies[k] = self.replies.get(k, 0) + 1
            if not r and self.sent >= (time.monotonic() - t0) * self.rate:
                time.sleep(0.001)

    def stop(self):
        self.stop_ = True
        self.th.join(10)
        for s in self.socks:
            s.close()


def start_capture(tshark, port, cap, errpath):
    err = open(errpath, "w+")
    p = subprocess.Popen([tshark, "-i", "lo", "-f", f"udp port {port}", "-w", str(cap)],
                         stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 20
    while "Capture started" not in open(errpath).read() and \
            "Capturing on" not in open(errpath).read():
        if p.poll() is not None and "ermission" in open(errpath).read():
            pytest.skip("capturing on lo needs CAP_NET_RAW (root or the wireshark group)")
        assert p.poll() is None, open(errpath).read()
        assert time.monotonic() < deadline, "tshark did not start capturing"
        time.sleep(0.1)
    time.sleep(0.5)
    return p, err


def test_flood_of_initials_a_good_client_follows_retry_and_moves_data(tunnel, backends, tmp_path):
    tshark = require_tool("tshark")
    b = backends(digest_handler, name="digest")
    t = tunnel("reverse", b.port, server_params="type=1&tls=1")
    t.start_server()
    dst = ("127.0.0.1", t.tunnel_port)
    cap = tmp_path / "flood.pcapng"
    p, err = start_capture(tshark, t.tunnel_port, cap, tmp_path / "tshark.err")
    flood = None
    try:
        flood = Flood(dst)
        deadline = time.monotonic() + 20
        while flood.replies.get(RETRY, 0) < 100:    # the port is under load now
            assert time.monotonic() < deadline, (flood.sent, flood.replies)
            time.sleep(0.05)
        t.start_client()
        t.wait_ready(timeout=30)
        bulk = Pattern(16)
        n, digest, reply = upload_pattern(t.user_port, bulk, 120)
        assert reply == f"{bulk.size} {digest}\n", reply
        assert flood.th.is_alive()
        while time.monotonic() - flood.t0 < 4:     # a flood of some seconds
            time.sleep(0.1)
    finally:
        if flood is not None:
            flood.stop()
        stop_process(p, timeout=10)
        err.close()
    # every Initial past the first 32 in progress was answered with a Retry, none lost
    assert flood.sent > 500 and flood.replies.get(RETRY, 0) > 0.9 * flood.sent - 64, \
        (flood.sent, flood.replies)
    assert t.server.proc.poll() is None
    # said once in the log (at most once a minute)
    assert t.server.count_lines(r"quic: under load .*Retry") == 1, t.server.output()[-2000:]
    # tshark sees the flood's Retry packets; the good client (not a flood port) was sent
    # one unless its Initial came among the few a second still taken at once, and then its
    # next Initial brought the token back; its connection went on (1-RTT packets).
    r = subprocess.run([tshark, "-r", str(cap), "-d", f"udp.port=={t.tunnel_port},quic",
                        "-Y", "quic", "-T", "fields", "-E", "occurrence=f",
                        "-e", "udp.srcport", "-e", "udp.dstport", "-e", "quic.long.packet_type",
                        "-e", "quic.token_length", "-e", "quic.header_form"],
                       capture_output=True, text=True, timeout=120)
    rows = [ln.split("\t") for ln in r.stdout.splitlines()]
    good = [row for row in rows if len(row) >= 5 and
            int(row[0]) not in flood.ports and int(row[1]) not in flood.ports]
    to_client = [row for row in good if int(row[0]) == t.tunnel_port]
    from_client = [row for row in good if int(row[1]) == t.tunnel_port]
    retries = [row for row in rows if len(row) >= 5 and row[2] == "3" and
               int(row[0]) == t.tunnel_port and int(row[1]) in flood.ports]
    assert len(retries) > 0.9 * flood.sent - 64, (len(retries), flood.sent, r.stderr[-500:])
    if any(row[2] == "3" for row in to_client):
        assert any(row[2] == "0" and row[3] not in ("", "0") for row in from_client), \
            from_client[:5]
    # (the client's 1-RTT packets are mostly its ACKs, one per 8 of the server's packets,
    # which are up to 65000 bytes on loopback: about 35 for the 16 MiB)
    assert sum(1 for row in from_client if row[4] == "0") > 20, from_client[-5:]


def test_postern_quic_retry_1_the_client_follows_a_retry_every_time(tunnel, relays, backends):
    """POSTERN_QUIC_RETRY=1: the server answers the client's first Initial with a Retry
    (seen by a relay between them), the client's next Initial brings the token back, and
    a 16 MiB upload through the tunnel arrives whole."""
    b = backends(digest_handler, name="digest")
    t = tunnel("reverse", b.port, key="retry-always", server_params="type=1&tls=1",
               server_env={"POSTERN_QUIC_RETRY": "1"})
    t.start_server()
    relay = relays(t.tunnel_port)
    udp = UdpRelay(relay.port, t.tunnel_port, log=True)
    try:
        t.client_dial_port = relay.port
        t.start_client()
        t.wait_ready()
        bulk = Pattern(16)
        n, digest, reply = upload_pattern(t.user_port, bulk, 120)
        assert reply == f"{bulk.size} {digest}\n", reply
    finally:
        udp.close()
    longs = [(k, long_type(d), d) for _, k, d in udp.log if long_type(d) is not None]
    first_s2c = next(i for i, (k, _, _) in enumerate(longs) if k == "s2c")
    assert longs[first_s2c][1] == RETRY, [(k, ty) for k, ty, _ in longs[:5]]
    rdcid, rscid, token = parse_retry(longs[first_s2c][2])
    nxt = next(d for k, ty, d in longs[first_s2c:] if k == "c2s" and ty == INITIAL)
    assert initial_token(nxt) == token
    # 1-RTT packets: the 16 MiB need 259 of loopback's 65000 bytes, and the ACKs
    assert sum(1 for _, k, d in udp.log if not d[0] & 0x80) > 250


def test_version_negotiation_for_an_unknown_version(tunnel, echo_backend):
    t, dst = quic_server(tunnel, echo_backend)
    dcid, scid = bytes(range(1, 21)), bytes(range(100, 108))

    def long_header(size, version=0x1a2a3a4a):
        h = bytes([0xc0]) + version.to_bytes(4, "big") + bytes([len(dcid)]) + dcid + \
            bytes([len(scid)]) + scid
        return h + bytes(size - len(h))
    with udp_sock() as u:
        u.sendto(long_header(1199), dst)         # too small to be a client's first datagram
        assert first_reply(u, 1.0) is None
        # a short header never gets one (its id is unknown: a stateless reset, shorter)
        u.sendto(b"\x40" + bytes(range(8)) + bytes(1300), dst)
        r = first_reply(u, 1.0)
        assert r is not None and long_type(r) is None and len(r) == 42, r
        u.sendto(b"\x40" + bytes(range(8)) + bytes(21), dst)     # 30 bytes: 29 back
        r = first_reply(u, 1.0)
        assert r is not None and long_type(r) is None and len(r) == 29, r
        u.sendto(b"\x40" + bytes(range(8)) + bytes(20), dst)     # 29 bytes: too small
        assert first_reply(u, 1.0) is None
        u.sendto(long_header(1200), dst)
        r = first_reply(u)
        assert r is not None, "no Version Negotiation"
        assert len(r) < 1200
        rdcid, rscid, versions = parse_version_negotiation(r)
        assert (rdcid, rscid) == (scid, dcid)
        assert 1 in versions and 0x1a2a3a4a not in versions, versions
    assert t.server.proc.poll() is None


# --------------------------------------------------------------------------------------
# stateless reset
# --------------------------------------------------------------------------------------

@pytest.mark.asan_skip
def test_a_server_that_lost_the_connection_resets_it_statelessly(tunnel, relays, backends):
    """Two servers of the same key; the client's UDP reaches the first, then (mid-upload)
    the second, which has no such connection (as a restarted server): it answers with a
    stateless reset the client recognises (the token derives from the key), so the
    client's connection ends at once, not after the 30 s idle timeout."""
    b = backends(digest_handler, name="digest")
    ta = tunnel("reverse", b.port, key="reset-test", server_params="type=1&tls=1")
    ta.start_server()
    tb = tunnel("reverse", b.port, key="reset-test", server_params="type=1&tls=1")
    tb.start_server()
    relay = relays(ta.tunnel_port)          # TCP: the control connection stays with the first
    udp = UdpRelay(relay.port, ta.tunnel_port, log=True)
    try:
        ta.client_dial_port = relay.port
        ta.start_client()
        ta.wait_ready()
        box = {}

        def upload():
            try:
                box["r"] = upload_pattern(ta.user_port, Pattern(256), 120)
            except Exception as e:  # noqa: BLE001 - reported below
                box["e"] = e
            box["t"] = time.monotonic()
        th = threading.Thread(target=upload, daemon=True)
        th.start()
        deadline = time.monotonic() + 60
        while len(udp.log) < 3000:          # well into the upload
            assert time.monotonic() < deadline and th.is_alive(), (box, len(udp.log))
            time.sleep(0.01)
        n0 = len(udp.log)
        old_ids = {d[1:9] for _, k, d in udp.log[:n0] if k == "c2s" and not d[0] & 0x80}
        t_switch = time.monotonic()
        udp.rebind(upstream=tb.tunnel_port)
        th.join(25)
        assert not th.is_alive(), "the upload still hangs: the connection was not reset"
        assert "e" in box, f"the upload completed through a server that never saw it: {box}"
        # At once when the client has something to send after the switch (ACKs of the
        # first server's last packets); when it had sent them all before, its next packet
        # is the keep-alive PING, 10 s later (PN_QUIC_IDLE_MS / 3), which gets the reset:
        # seen at 10.6 s with the machine's two CPUs busy. Either way well before the
        # 30 s idle timeout that a connection without the reset waits for.
        assert box["t"] - t_switch < 20, box["t"] - t_switch
        after = udp.log[n0:]
        resets = [(t, d) for t, k, d in after
                  if k == "s2c" and not d[0] & 0x80 and 21 <= len(d) <= 42]
        assert resets, [(k, len(d)) for _, k, d in after[:20]]
        t_reset = resets[0][0]
        # Times are the relay's (a Python thread): under load it drains a backlog of the
        # client's large packets sent before the reset reached it (0.7 s late once, in CI
        # at load 3); a connection that ignored the reset would go on for the upload's
        # whole length and its timeouts' probes (1, 2, 4 s ...).
        late = [t - t_reset for t, k, d in after if k == "c2s" and not d[0] & 0x80 and
                d[1:9] in old_ids and t > t_reset + 2.0]
        assert not late, f"{len(late)} datagrams of the reset connection after it, e.g. {late[:5]}"
    finally:
        udp.close()


# --------------------------------------------------------------------------------------
# connection migration by the client
# --------------------------------------------------------------------------------------

def udp_ports_of(pid, but):
    """The local ports of <pid>'s UDP sockets, <but> aside (a forward client's user port)."""
    out = subprocess.run(["ss", "-Hanup"], capture_output=True, text=True).stdout
    ports = [int(ln.split()[3].rsplit(":", 1)[1]) for ln in out.splitlines() if f"pid={pid}," in ln]
    return [p for p in ports if p != but]


@pytest.mark.parametrize("flow", ["reverse", "forward"])
def test_sighup_moves_the_client_to_a_new_port_mid_transfer(flow, tunnel, backends):
    """SIGHUP to the client after the first half of a 64 MiB upload: it moves its QUIC
    connection to a new UDP socket (ngtcp2 migrates: a new connection id; the server sees
    a new source port and validates the path); the second half follows and the whole
    arrives with its sha256, on the same connection."""
    b = backends(digest_handler, name="digest")
    t = tunnel(flow, b.port, server_params="type=1&tls=1")
    t.start()
    before = udp_ports_of(t.client.proc.pid, t.user_port)
    assert len(before) == 1, before
    bulk = Pattern(64)
    h = hashlib.sha256()
    with connect(t.user_port, timeout=120) as s:
        for i, block in enumerate(bulk.blocks()):
            if i == bulk.mib // 2:
                t.client.proc.send_signal(signal.SIGHUP)
                m = t.client.wait_for_log(r"quic: the connection moved to udp port (\d+)",
                                          timeout=10)
            s.sendall(block)
            h.update(block)
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, limit=200).decode(errors="replace")
    assert reply == f"{bulk.size} {h.hexdigest()}\n", reply
    # one UDP socket, the one it moved to: a new connection would have had another
    after = udp_ports_of(t.client.proc.pid, t.user_port)
    assert after == [int(m.group(1))] and after != before, (before, after)
    assert "cannot move" not in t.client.output()


def netns_tunnel(path, backends, tport):
    """A type=1 tunnel across <path> (harness/netns.py): the server in a on <tport>, its
    user port <tport>+1, the client in b (mode=2), a digest backend in b. Returns
    (server, client, user port), the data channel attached."""
    with path.inside("b"):
        b = backends(digest_handler, name="digest")
    a, uport = path.addr["a"], tport + 1
    server = path.start("a", [POSTERN_BIN, f"server://move@{a}:{tport}/127.0.0.1:{uport}"
                              "?type=1&tls=1"], env=TUNNEL_ENV, name="server")
    server.wait_for_log(LISTENING_RE, timeout=READY_TIMEOUT)
    client = path.start("b", [POSTERN_BIN, f"client://move@{a}:{tport}/127.0.0.1:{b.port}"
                              "?mode=2"], env=TUNNEL_ENV, name="client")
    client.wait_for_log(r"connected to .* type=1", timeout=20)
    server.wait_for_log(ATTACHED_RE, timeout=20)
    path.listening("a", uport, proc=server)
    return server, client, uport


def test_a_refused_send_moves_the_client_to_a_new_port(backends):
    """Client and server in two network namespaces (harness/netns.py, no loss); mid-upload
    an nftables rule in the client's namespace drops what its UDP socket sends (sendmsg
    fails with EPERM, as when a filter, a route or the local address goes): the client
    moves its connection to a new socket by itself and the upload arrives whole."""
    path_available()
    path = LossyPath(tag="qmove", loss=0)
    path.setup()
    try:
        server, client, uport = netns_tunnel(path, backends, 7200)
        r = path.exec("b", ["ss", "-Hanup"], check=False).stdout
        ports = [int(ln.split()[3].rsplit(":", 1)[1]) for ln in r.splitlines()
                 if f"pid={client.proc.pid}," in ln]
        assert len(ports) == 1, r
        bulk = Pattern(32)
        h = hashlib.sha256()
        with path.inside("a"):
            s = socket.create_connection(("127.0.0.1", uport), timeout=120)
        with s:
            for i, block in enumerate(bulk.blocks()):
                if i == bulk.mib // 2:
                    path.exec("b", ["nft", "-f", "-"], input=(
                        "table inet pstn_block {\n"
                        "  chain out {\n"
                        "    type filter hook output priority 0; policy accept;\n"
                        f"    udp sport {ports[0]} counter drop\n"
                        "  }\n"
                        "}\n"))
                s.sendall(block)
                h.update(block)
            s.shutdown(socket.SHUT_WR)
            reply = recv_all(s, limit=200).decode(errors="replace")
        assert reply == f"{bulk.size} {h.hexdigest()}\n", (reply, client.output()[-2000:])
        m = client.wait_for_log(r"refuses to send \((.*)\): moving", timeout=5)
        assert "not permitted" in m.group(1), m.string
        m = client.wait_for_log(r"quic: the connection moved to udp port (\d+)", timeout=5)
        assert int(m.group(1)) != ports[0]
        out = path.exec("b", ["nft", "list", "table", "inet", "pstn_block"]).stdout
        assert "counter packets 0 " not in out, out      # the rule did drop
    finally:
        path.teardown()


@pytest.mark.asan_keep("True-0")
@pytest.mark.parametrize("way_back,loss", [(True, 0), (False, 0), (True, 1)])
def test_a_new_preferred_local_address_moves_the_client_with_path_validation(way_back, loss,
                                                                             backends):
    """Client and server in two network namespaces (harness/netns.py, no loss). Mid-upload
    the client's namespace gains a second address and its route to the server names it as
    the source, while the first address still works: the client sees it (netlink),
    validates a path from the new address (PATH_CHALLENGE, the old path carrying the
    upload meanwhile), then moves there; the upload arrives whole, with no stall, and the
    client's one UDP socket is bound to the new address. Without a route back to the new
    address in the server's namespace (way_back=False) the validation fails: the client
    says so and stays on its first address, the upload whole all the same. With 1 % of
    the datagrams lost each way (loss=1) it moves all the same."""
    path_available()
    path = LossyPath(tag="qaddr", loss=loss)
    path.setup()
    try:
        a, old = path.addr["a"], path.addr["b"]
        new = old.rsplit(".", 1)[0] + ".6"
        server, client, uport = netns_tunnel(path, backends, 7210)

        def client_udp():
            r = path.exec("b", ["ss", "-Hanup"], check=False).stdout
            return [ln.split()[3] for ln in r.splitlines() if f"pid={client.proc.pid}," in ln]
        before = client_udp()
        assert len(before) == 1 and before[0].startswith(old + ":"), before
        bulk = Pattern(64)
        h = hashlib.sha256()
        gaps = []
        with path.inside("a"):
            s = socket.create_connection(("127.0.0.1", uport), timeout=120)
        with s:
            for i, block in enumerate(bulk.blocks()):
                if i == bulk.mib // 4:
                    if way_back:
                        path.ip("a", "route", "add", new + "/32", "dev", path.dev["a"])
                    path.ip("b", "addr", "add", new + "/32", "dev", path.dev["b"])
                    path.ip("b", "route", "replace", a + "/32", "dev", path.dev["b"], "src", new)
                    t_change = time.monotonic()
                t = time.monotonic()
                s.sendall(block)
                h.update(block)
                if i >= bulk.mib // 4:
                    gaps.append(time.monotonic() - t)
            s.shutdown(socket.SHUT_WR)
            reply = recv_all(s, limit=200).decode(errors="replace")
        assert reply == f"{bulk.size} {h.hexdigest()}\n", (reply, client.output()[-2000:])
        m = client.wait_for_log(r"preferred local address towards the server is now "
                                r"(\S+) udp port \d+ \(was (\S+) udp", timeout=5)
        assert (m.group(1), m.group(2)) == (new, old), m.string
        t_seen = m.string[:23]
        if not way_back:
            m = client.wait_for_log(r"the new path from (\S+) udp port \d+ did not validate",
                                    timeout=15)
            assert m.group(1) == new, m.string
            assert client_udp() == before
            assert "moved to" not in client.output() and max(gaps) < 2.0, max(gaps)
            print(f"change seen {t_seen}, validation failed {m.string[:23]}")
            return
        m = client.wait_for_log(r"quic: the connection moved to udp port (\d+) from (\S+) udp "
                                r"port \d+ \(path validated\)", timeout=5)
        assert m.group(2) == new, m.string
        after = client_udp()
        assert after == [f"{new}:{m.group(1)}"], (before, after)
        assert "did not validate" not in client.output()
        assert "refuses to send" not in client.output()     # it moved before anything broke
        # no stall: no 1 MiB block took long (the path: 200 Mbit/s, about 42 ms a MiB)
        assert max(gaps) < 2.0, (max(gaps), gaps)
        print(f"change seen {t_seen}, moved {m.string[:23]}; upload ended "
              f"{time.monotonic() - t_change:.2f} s after the change; slowest MiB after it "
              f"{max(gaps) * 1000:.0f} ms")
    finally:
        path.teardown()
