"""The QUIC transport (type=1, docs/usage.md "Transports", docs/internals/quic.md):

- a client given nothing follows the server's HELLO to type=1; its data streams travel
  in one QUIC connection on the tunnel port's number over UDP (the server holds one UDP
  socket there; the client one connected UDP socket, no TCP data connection)
- both flows over type=1 with tls=0/1/2: 32 MiB each way compared by sha256 (256 MiB each
  way in both flows with tls=1), 200 concurrent connections, half-close, UDP datagrams (carried
  in streams: boundaries kept), kill -9 of either end and recovery
- tls=2 with a wrong sni= fails the QUIC handshake (certificate verification), says so and
  moves no byte; a wrong key is refused at the control channel
- a capture of the tunnel port read by tshark (Wireshark's own dissector) decodes as QUIC,
  the client's Initial carrying a ClientHello with ALPN postern-tunnel/1; the server's
  connection ids are 8 bytes, the client's empty
- 1 % of the datagrams lost (a relay drops them), both flows: 16 MiB each way arrive whole
- NAT rebinding: the client's datagrams reach the server from a new source port in the
  middle of an upload (a UDP relay changes its socket); the server follows the path
  (QUIC path validation) and the upload completes, no new connection made
- bad input on the UDP port: random datagrams, truncated and forged Initials: the server
  neither crashes nor stalls, the tunnel goes on
- a hub's stateless reset key lives in a file of its own (0600) and is the same after a
  restart; an agent's QUIC connection whose datagrams reach another hub process of that
  key is reset at once (with another key, the exchange hangs on)
"""
import os
import random
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import (READY_TIMEOUT, connect, curl, digest_handler, echo_handler, free_port,
                      recv_all, wait_port, wait_until)
from harness.certs import CertFactory, live_pair, swap_pair
from harness.procs import require_ipv6_loopback, require_tool, stop_process
from hub_util import Route, account, hubstack, port_block  # noqa: F401 - fixture
from quic_util import UdpRelay
from transport_util import bulk_each_way, half_close_digest, kill9_either_end_and_recover, \
    udp_sizes_cross, wait_echo_route
from tunnel_util import (Pattern, concurrent_echo, kill9, relays, tunnel, upload_pattern,  # noqa: F401
                         wait_checkpoint)
from udp_util import udp_backends  # noqa: F401 - fixture

FLOWS = ["reverse", "forward"]
BULK_MIB = int(os.environ.get("POSTERN_BULK_MIB", "32"))
BULK_TIMEOUT = 30 + 2 * max(BULK_MIB, 256)


@pytest.fixture(scope="module")
def bulk():
    return Pattern(BULK_MIB)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    f = CertFactory(tmp_path_factory.mktemp("quic-certs"))
    crt, key = f.leaf("server", 2)[:2]
    return f.ca_pem, crt, key


def quic_tunnel(tunnel, flow, backend, tls=0, certs=None, client_params="", sni="localhost"):
    sp = "type=1"
    if tls == 2:
        sp += f"&tls=2&crt={certs[1]}&key={certs[2]}"
        client_params = "&".join(p for p in (client_params, f"ca={certs[0]}&sni={sni}") if p)
    elif tls:
        sp += f"&tls={tls}"
    return tunnel(flow, backend, server_params=sp, client_params=client_params)


def assert_tunnel_alive(t):
    with connect(t.user_port) as s:
        s.sendall(b"still here")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s, limit=100) == b"still here"


def sockets_of(pid, kind):
    """The local ports of <pid>'s sockets of <kind> ("tcp", "udp")."""
    out = subprocess.run(["ss", "-Hanp", "-" + kind[0]], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if f"pid={pid}," in ln]


def test_type_1_reaches_a_client_that_was_given_none(tunnel, echo_backend):
    t = tunnel("reverse", echo_backend.port, server_params="type=1").start()
    m = t.client.wait_for_log(r"connected to .* type=(\d)", timeout=5)
    assert m.group(1) == "1", m.string
    wait_checkpoint(t.server, lambda v: v["pool"] >= 64, timeout=20)
    assert_tunnel_alive(t)
    # The data streams are in one UDP flow: the client holds one UDP socket and one TCP
    # connection (control); the server a UDP socket on the tunnel port's number.
    udp = sockets_of(t.client.proc.pid, "udp")
    assert len(udp) == 1, udp
    tcp = [ln for ln in sockets_of(t.client.proc.pid, "tcp") if f":{t.tunnel_port} " in ln]
    assert len(tcp) == 1, tcp
    assert any(f"127.0.0.1:{t.tunnel_port} " in ln for ln in sockets_of(t.server.proc.pid, "udp"))


@pytest.mark.asan_keep("forward-1", "reverse-2")
@pytest.mark.parametrize("tls", [0, 1, 2])
@pytest.mark.parametrize("flow", FLOWS)
def test_bulk_each_way_sha256(flow, tls, tunnel, backends, bulk, certs):
    bulk_each_way(lambda port: quic_tunnel(tunnel, flow, port, tls, certs).start(), backends,
                  bulk, BULK_TIMEOUT)


@pytest.mark.asan_skip
@pytest.mark.parametrize("flow", FLOWS)
def test_256mib_each_way_sha256(flow, tunnel, backends, certs):
    test_bulk_each_way_sha256(flow, 1, tunnel, backends, Pattern(256), certs)


@pytest.mark.asan_keep("reverse-0", "forward-1")
@pytest.mark.parametrize("tls", [0, 1])
@pytest.mark.parametrize("flow", FLOWS)
def test_200_concurrent_connections(flow, tls, tunnel, echo_backend, certs):
    n = 200
    t = quic_tunnel(tunnel, flow, echo_backend.port, tls, certs).start()
    bad = concurrent_echo(t.user_port, n, timeout=120)
    assert not bad, f"{len(bad)} of {n} failed, e.g. {list(bad.items())[:5]}"


@pytest.mark.parametrize("flow", FLOWS)
def test_half_close_reply_after_eof(flow, tunnel, backends, certs):
    # more than a stream's window: the reply comes after the FIN of a long upload
    half_close_digest(lambda port: quic_tunnel(tunnel, flow, port, 1, certs).start(), backends,
                      12000)


@pytest.mark.parametrize("flow", FLOWS)
def test_udp_datagrams_cross_whole(flow, postern, udp_backends):
    udp_sizes_cross(flow, postern, udp_backends().port, "type=1",
                    (1, 2, 100, 1199, 1200, 1201, 1472, 8192, 65000))


def test_kill9_of_either_end_and_recovery(tunnel, http_server):
    port, path, content = http_server
    t = tunnel("reverse", port, server_params="type=1&tls=1").start()
    kill9_either_end_and_recover(t, path, content, timeout=15)


def test_wrong_sni_fails_verification_and_moves_nothing(tunnel, http_server, certs):
    port, path, _ = http_server
    t = quic_tunnel(tunnel, "reverse", port, 2, certs, sni="not-the-server.example")
    t.start(ready=False)
    t.client.wait_for_log(r"data channel certificate verification failed: tls handshake: quic", timeout=15)
    r = curl("--max-time", "3", f"http://127.0.0.1:{t.user_port}{path}")
    assert r.returncode != 0 or r.stdout == b""


def test_wrong_key_is_refused(tunnel, http_server):
    port, path, _ = http_server
    t = tunnel("reverse", port, server_params="type=1", server_key="right",
               client_key="wrong")
    t.start(ready=False)
    t.client.wait_for_log(r"authentication failed", timeout=15)
    r = curl("--max-time", "3", f"http://127.0.0.1:{t.user_port}{path}")
    assert r.returncode != 0 or r.stdout == b""


# --------------------------------------------------------------------------------------
# NAT rebinding
# --------------------------------------------------------------------------------------

def test_nat_rebinding_mid_upload_keeps_the_connection(tunnel, relays, backends):
    b = backends(digest_handler, name="digest")
    t = tunnel("reverse", b.port, key="rebind", server_params="type=1&tls=1")
    t.start_server()
    relay = relays(t.tunnel_port)           # TCP: the control connection
    udp = UdpRelay(relay.port, t.tunnel_port)
    try:
        t.client_dial_port = relay.port
        t.start_client()
        t.wait_ready()
        bulk = Pattern(64)
        box = {}
        def upload():
            try:
                box["r"] = upload_pattern(t.user_port, bulk, 120)
            except Exception as e:  # noqa: BLE001 - reported below
                box["e"] = e
        th = threading.Thread(target=upload, daemon=True)
        th.start()
        deadline = time.monotonic() + 60
        # well into the upload (reverse: the server sends), in bytes: the packets are
        # up to 65000 bytes on loopback (its route's MTU), 1452 bytes elsewhere
        while udp.bytes < 6 << 20:
            assert time.monotonic() < deadline and th.is_alive(), \
                f"the upload did not start: {box}, {udp.count} datagrams, {udp.bytes} bytes"
            time.sleep(0.01)
        udp.rebind()
        th.join(150)
        assert "r" in box, f"the upload did not complete after the rebinding: {box}"
        n, digest, reply = box["r"]
        assert reply == f"{bulk.size} {digest}\n", reply
        assert len(udp.ports) == 2 and udp.after > 100, (udp.ports, udp.after)
        # the same connection went on: no second QUIC connection from the client
        assert "quic: connection ended" not in t.client.output()
    finally:
        udp.close()


def test_ipv6_tunnel_16mib_sha256(postern, backends):
    """A type=1 tunnel over [::1]: the client named the server by an IPv6 literal, which
    it must not send as SNI (GnuTLS's server refused the handshake then), and its
    packets take the size of loopback's route (IPV6_MTU); 16 MiB arrive whole."""
    require_ipv6_loopback()
    b = backends(digest_handler, name="digest")
    tun, entry = free_port("::1"), free_port()
    srv = postern.run([f"server://k6@[::1]:{tun}/127.0.0.1:{entry}?type=1&tls=1&log=debug"])
    wait_port(tun, "::1", READY_TIMEOUT, proc=srv.proc)
    cli = postern.run([f"client://k6@[::1]:{tun}/127.0.0.1:{b.port}?mode=2&log=debug"])
    wait_until(lambda: "attached" in srv.output(), READY_TIMEOUT, what="the client attached")
    bulk = Pattern(16)
    box = {}

    def attempt():
        try:
            box["r"] = upload_pattern(entry, bulk, 60)
        except OSError as e:        # the pool's first stream not there yet
            box["e"] = e
        return "r" in box
    wait_until(attempt, 30, interval=0.2, what="an upload through the tunnel")
    n, digest, reply = box["r"]
    assert reply == f"{bulk.size} {digest}\n", (reply, srv.output()[-2000:])
    for p in (srv, cli):
        assert "handshake failed" not in p.output(), p.output()[-2000:]
        assert "udp payloads up to 65000 bytes" in p.output(), p.output()[-2000:]


@pytest.mark.asan_keep("reverse")
@pytest.mark.parametrize("flow", FLOWS)
def test_one_percent_loss_each_way_sha256(flow, tunnel, relays, backends):
    """Every datagram crosses a relay that drops 1 % of them: lost packets are sent again
    from the chunks a stream keeps until acknowledged; both directions arrive whole."""
    made = []

    def start(port):
        t = tunnel(flow, port, key="lossy", server_params="type=1&tls=1")
        t.start_server()
        relay = relays(t.tunnel_port)
        made.append(UdpRelay(relay.port, t.tunnel_port, loss=0.01))
        t.client_dial_port = relay.port
        t.start_client()
        t.wait_ready()
        return t
    try:
        bulk_each_way(start, backends, Pattern(16), BULK_TIMEOUT)
        # 16 MiB each way: about 520 packets of up to 65000 bytes (loopback's MTU allows
        # them) and their ACKs, 1 % of them dropped (the relay's seeded draws drop its
        # 13th, 40th, 262nd, 473rd ... datagram)
        assert all(u.dropped > 2 for u in made), [u.dropped for u in made]
    finally:
        for u in made:
            u.close()


# --------------------------------------------------------------------------------------
# a real dissector
# --------------------------------------------------------------------------------------

@pytest.mark.asan_skip
def test_tshark_decodes_quic_with_postern_alpn(tunnel, echo_backend, tmp_path):
    tshark = require_tool("tshark")
    t = tunnel("reverse", echo_backend.port, server_params="type=1&tls=1")
    t.start_server()
    cap = tmp_path / "quic.pcapng"
    err = open(tmp_path / "tshark.err", "w+")
    p = subprocess.Popen([tshark, "-i", "lo", "-f", f"udp port {t.tunnel_port}", "-w", str(cap)],
                         stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 20
        while "Capture started" not in open(err.name).read() and \
                "Capturing on" not in open(err.name).read():
            if p.poll() is not None and "ermission" in open(err.name).read():
                pytest.skip("capturing on lo needs CAP_NET_RAW (root or the wireshark group)")
            assert p.poll() is None, open(err.name).read()
            assert time.monotonic() < deadline, "tshark did not start capturing"
            time.sleep(0.1)
        time.sleep(0.5)
        t.start_client()
        t.wait_ready()
        assert_tunnel_alive(t)
        time.sleep(0.5)
    finally:
        stop_process(p, timeout=10)
        err.close()
    r = subprocess.run([tshark, "-r", str(cap), "-d", f"udp.port=={t.tunnel_port},quic", "-Y", "quic",
                        "-T", "fields", "-e", "quic.long.packet_type",
                        "-e", "tls.handshake.extensions_alpn_str", "-e", "udp.dstport",
                        "-e", "quic.scid", "-e", "quic.dcid"],
                       capture_output=True, text=True, timeout=60)
    rows = [ln.split("\t") for ln in r.stdout.splitlines()]
    assert len(rows) > 10, r.stdout + r.stderr
    initial_alpns = [row[1] for row in rows if len(row) > 1 and row[0].split(",")[0] == "0"]
    assert "postern-tunnel/1" in initial_alpns, rows[:10]
    # Connection ids (docs/internals/quic.md): the server's are 8 bytes, the client's empty,
    # as the long headers say (tshark then reads the short headers' by them).
    port = str(t.tunnel_port)
    longs = [row for row in rows if len(row) == 5 and row[0] != ""]
    to_server = {row[3].split(",")[0] for row in longs if row[2] == port}
    to_client = {row[3].split(",")[0] for row in longs if row[2] != port}
    assert to_server == {""}, to_server
    assert to_client and all(len(s.replace(":", "")) == 16 for s in to_client), to_client
    shorts = [row for row in rows if len(row) == 5 and row[0] == "" and row[4] != ""]
    assert shorts and all(len(row[4].replace(":", "")) == 16 for row in shorts
                          if row[2] == port), shorts[:5]


# --------------------------------------------------------------------------------------
# bad input on the UDP port
# --------------------------------------------------------------------------------------

def initial(dcid=b"\x11" * 8, scid=b"\x22" * 8, body_len=1200, version=1, token=b""):
    """A QUIC v1 long-header Initial of <body_len> bytes of garbage payload (its
    protection cannot be removed: the server must drop it, RFC 9000 §12.2)."""
    first = 0xc0 | 0x03   # long header, fixed bit, Initial, 4-byte packet number
    varint_tok = bytes([len(token)]) + token
    length = body_len
    hdr = bytes([first]) + struct.pack(">I", version) + bytes([len(dcid)]) + dcid + \
        bytes([len(scid)]) + scid + varint_tok + struct.pack(">H", 0x4000 | length)
    return hdr + os.urandom(body_len)


def test_garbage_and_truncated_initials_do_not_stall_the_server(tunnel, echo_backend):
    t = tunnel("reverse", echo_backend.port, server_params="type=1").start()
    wait_checkpoint(t.server, lambda v: v["pool"] >= 64, timeout=20)
    rnd = random.Random(15)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        dst = ("127.0.0.1", t.tunnel_port)
        for i in range(3000):
            k = i % 5
            if k == 0:
                d = os.urandom(rnd.randint(0, 1500))   # an empty datagram too (fuzz_quic)
            elif k == 1:
                d = initial()[:rnd.randint(1, 60)]          # truncated header
            elif k == 2:
                d = initial(dcid=os.urandom(8))              # forged Initial, new id each time
            elif k == 3:
                d = initial(version=0x1a2a3a4a)              # a version nobody speaks
            else:
                d = b"\x40" + os.urandom(rnd.randint(0, 100))   # short header, unknown id
            u.sendto(d, dst)
    assert t.server.proc.poll() is None
    assert_tunnel_alive(t)
    bad = concurrent_echo(t.user_port, 20, timeout=60)
    assert not bad, bad


# --------------------------------------------------------------------------------------
# hub
# --------------------------------------------------------------------------------------

HUB_AGENTS = 5


def test_hub_type1_agents_publish_routes_over_quic(hubstack):
    """Agents given nothing learn type=1 from the hub: each route answers through the
    agent's QUIC connection; the hub holds the UDP port, each agent one UDP socket."""
    base = port_block(HUB_AGENTS)
    accts = [account(f"q{i}", ports=[f"{base + i}"]) for i in range(HUB_AGENTS)]
    hub = hubstack.hub(accts, http=False, ports=(base, base + HUB_AGENTS - 1),
                       params="type=1&tls=1")
    echo = hubstack.tcp(echo_handler, name="echo")
    agents = [hubstack.agent(hub, a["token"], [Route("tcp", echo.port, port=base + i)])
              for i, a in enumerate(accts)]
    for i in range(HUB_AGENTS):
        wait_echo_route(base + i, b"through the hub over quic %d" % i, timeout=20)
    for a in agents:
        assert "type=1" in a.proc.output()
        assert len(sockets_of(a.proc.pid, "udp")) == 1
    assert any(f":{hub.ctl} " in ln for ln in sockets_of(hub.proc.pid, "udp"))


def test_hub_keeps_its_stateless_reset_key_across_a_restart(hubstack, tmp_path):
    """A hub with type=1 makes its stateless reset key once, in a file of its own (0600,
    $XDG_STATE_HOME/postern/quic-reset.key), and reads the same after kill -9 and a
    restart; the key is in no log line. The agent connects anew and its route answers."""
    state = tmp_path / "state"
    port = port_block(1)
    acct = account("qk", ports=[f"{port}"])
    hub = hubstack.hub([acct], http=False, ports=(port, port), params="type=1&tls=1",
                       env={"XDG_STATE_HOME": str(state)})
    echo = hubstack.tcp(echo_handler, name="echo")
    agent = hubstack.agent(hub, acct["token"], [Route("tcp", echo.port, port=port)])
    wait_echo_route(port, b"before the restart", timeout=20)
    key = state / "postern" / "quic-reset.key"
    assert key.stat().st_mode & 0o777 == 0o600 and key.stat().st_size == 32
    assert (state / "postern").stat().st_mode & 0o777 == 0o700
    secret = key.read_bytes()
    hub.proc.wait_for_log(r"stateless reset key from .*quic-reset\.key", timeout=5)
    hub.restart()
    hub.proc.wait_for_log(r"stateless reset key from .*quic-reset\.key", timeout=5)
    wait_echo_route(port, b"after the restart", timeout=15)
    assert key.read_bytes() == secret            # read, not made again
    assert sorted(p.name for p in key.parent.iterdir()) == ["quic-reset.key"]
    for text in [p.output() for p in hub.procs] + [agent.proc.output()]:
        assert secret.hex() not in text and secret.hex().upper() not in text


def ticker_handler(backend, conn):
    """Send a line every 50 ms until the connection fails (30 s at most); record
    ("gone", when)."""
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 30:
            conn.sendall(b"tick\n")
            time.sleep(0.05)
    except OSError:
        pass
    backend.record(("gone", time.monotonic()))


class _Via:
    """What an Agent needs of a hub to dial it: its port (here a relay's) and folder."""

    def __init__(self, hub, port):
        self.ctl, self.dir = port, hub.dir


@pytest.mark.asan_keep("same")
@pytest.mark.parametrize("key", ["same", "other"])
def test_a_restarted_hub_resets_the_agents_old_quic_connection(key, hubstack, relays, tmp_path):
    """A user's exchange runs through an agent's QUIC connection when its datagrams start
    reaching a second hub process on a second port, as a restarted hub whose restart
    the agent has not yet heard of on its control connection (that one stays, through a
    TCP relay, with the first hub; e.g. a host gone silently). With the same key file
    (same user, same folder) the second hub's stateless reset is recognised: the agent's
    connection ends at once (its log says it), and the service's connection behind it
    too. With another key (key=other, as each hub before this change: a random key at
    each start) nothing is recognised and the exchange hangs on (checked for 6 s)."""
    state = tmp_path / "state"
    base = port_block(1)
    acct = account("qr", ports=[f"{base}"])
    hub_a = hubstack.hub([acct], http=False, ports=(base, base), params="type=1&tls=1",
                         env={"XDG_STATE_HOME": str(state)})
    other = state if key == "same" else tmp_path / "state-b"
    hub_b = hubstack.hub([acct], http=False, params="type=1&tls=1",
                         env={"XDG_STATE_HOME": str(other)})
    relay = relays(hub_a.ctl)
    udp = UdpRelay(relay.port, hub_a.ctl)
    try:
        ticker = hubstack.tcp(ticker_handler, name="ticker")
        agent = hubstack.agent(_Via(hub_a, relay.port), acct["token"],
                               [Route("tcp", ticker.port, port=base)])
        with connect(base, timeout=10) as u:
            got = b""
            while len(got) < 5:
                got += u.recv(5 - len(got)) or b"EOF"
            assert got == b"tick\n", got
            mark = agent.proc.mark()
            t0 = time.monotonic()
            udp.rebind(upstream=hub_b.ctl)
            if key == "other":
                with pytest.raises(AssertionError):
                    ticker.wait_record(lambda r: r[0] == "gone", timeout=6)
                assert "stateless reset" not in agent.proc.output()
                return
            agent.proc.wait_for_log(r"quic: stateless reset from the server", timeout=10,
                                    start=mark)
            t_reset = time.monotonic() - t0
            gone = ticker.wait_record(lambda r: r[0] == "gone", timeout=10)
        assert gone[1] - t0 < 5, gone[1] - t0
        print(f"reset {t_reset:.3f} s, service's connection ended {gone[1] - t0:.3f} s "
              "after the switch")
    finally:
        udp.close()


def test_tls2_certificate_files_reloaded_for_new_quic_connections(tunnel, echo_backend, certs,
                                                                   tmp_path):
    """tls=2 with type=1: the certificate files replaced on disk (by another CA's pair)
    are served to the next new QUIC connection, as type=0 serves them to the next TLS
    connection (checked at most once a reload interval); the connection made before
    keeps its certificate and goes on. A new client that trusts only the new CA connects
    and carries data (the files read at start only, its handshake would fail)."""
    second = CertFactory(tmp_path / "ca2")
    crt2, key2 = second.leaf("server2", 3)
    live = live_pair(tmp_path / "live", certs[1], certs[2])
    t = tunnel("reverse", echo_backend.port,
               server_params=f"type=1&tls=2&crt={live[0]}&key={live[1]}",
               client_params=f"ca={certs[0]}&sni=localhost")
    t.start()
    assert_tunnel_alive(t)
    first = t.client
    mark = t.server.mark()
    swap_pair(live, crt2, key2)
    time.sleep(1.2)                                 # the default reload interval: 1 s
    assert_tunnel_alive(t)                          # the old connection, its certificate
    kill9(first)
    again = t.start_client(params=f"ca={second.ca_pem}&sni=localhost")
    t.wait_ready(client=again, server_start=mark)
    assert_tunnel_alive(t)
    t.server.wait_for_log(r"quic: new connections get the reloaded certificate", start=mark)
    assert "certificate verif" not in again.output().lower()
