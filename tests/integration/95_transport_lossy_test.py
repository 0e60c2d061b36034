"""The tunnel's TCP pool (type=0) and its QUIC transport (type=1) over a lossy path
(issue 15; docs/usage.md "Transports", docs/internals/quic.md):

- two network namespaces joined by a veth pair (tests/harness/netns.py): 1 % of the
  packets dropped at random each way by an nftables rule, a tbf cap of 200 Mbit/s on each
  end; the tunnel server (server://, reverse flow) in namespace a, its client and the
  service behind it in namespace b, both the real binary
- a bulk transfer (upload or download, at least 16 MiB, sha256 compared end to end) and,
  at the same time, a request/response flow (150 exchanges on one connection, 50 on a new
  connection each, every reply compared): both complete within a bound, on type=0 and
  type=1; the tunnel goes on after
- a user that half-closes in the middle of a download, then goes away (its socket reset):
  the connection to the service is ended within seconds, both types (type=1 kept it open
  until its stream was reset both ways: docs/internals/quic.md, "Streams' lifetime")
- the loss rule really dropped packets, in both directions, about 1 % of what crossed
  (its counters), one wire packet per count (their mean size: no GSO super-packet
  crosses the rule whole)

No timing is asserted (bench/lossy_bench.py measures the request/response p99 and the
throughput, docs/benchmarks.md); the durations are printed.
"""
import hashlib
import os
import select
import socket
import threading
import time

import pytest

from conftest import POSTERN_BIN, READY_TIMEOUT, digest_handler, echo_handler, recv_all, \
    recv_exact
from harness.backends import send_until_gone
from harness.netns import LossyPath, netns_names, path_available
from harness.procs import dump_outputs
from tunnel_util import ATTACHED_RE, LISTENING_RE, TUNNEL_ENV, Pattern

TAG = "lossyt"
BULK_MIB = int(os.environ.get("POSTERN_LOSSY_MIB", "16"))
RR_ONE_CONN = 150           # exchanges on one connection
RR_NEW_CONN = 50            # exchanges on a connection each
DEADLINE = 240              # the whole transfer, either type (seconds)
TUNNEL_PORT, USER_PORT = 7100, 7101


@pytest.fixture
def lossy(request):
    path_available()
    p = LossyPath(tag=TAG)
    p.setup()
    try:
        yield p
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is None or rep.failed:
            print(dump_outputs(p.procs))
        p.teardown()
    assert not [n for n in netns_names(TAG) if n in p.ns.values()], "a namespace was left"


# --------------------------------------------------------------------------------------
# the service behind the tunnel (namespace b): one port, the first byte says what to do
# --------------------------------------------------------------------------------------

def service(backend, conn):
    kind = recv_exact(conn, 1)
    if kind == b"U":                        # upload: read to EOF, answer "<n> <sha256>"
        digest_handler(backend, conn)
    elif kind == b"D":                      # download: blocks until the peer's EOF
        h, n, i = hashlib.sha256(), 0, 0
        base = os.urandom(1 << 20)
        while True:
            r, _, _ = select.select([conn], [], [], 0)
            if r and not conn.recv(1, socket.MSG_PEEK):
                break
            o = (i * 104729 + 17) % len(base)
            block = base[o:] + base[:o]
            conn.sendall(block)
            h.update(block)
            n += len(block)
            i += 1
        conn.shutdown(socket.SHUT_WR)
        backend.record(("sent", n, h.hexdigest()))
    elif kind == b"E":                      # echo to EOF
        echo_handler(backend, conn)
    elif kind == b"F":                      # send until the connection fails (20 s at most)
        send_until_gone(backend, conn)


# --------------------------------------------------------------------------------------
# the tunnel
# --------------------------------------------------------------------------------------

def start_tunnel(path, typ, backend_port):
    """server:// in a (users on a's 127.0.0.1:USER_PORT), client:// in b to the service;
    the client follows the server's type= (HELLO)."""
    a = path.addr["a"]
    server = path.start("a", [POSTERN_BIN, f"server://lossy@{a}:{TUNNEL_PORT}/"
                              f"127.0.0.1:{USER_PORT}?type={typ}"], env=TUNNEL_ENV, name="server")
    server.wait_for_log(LISTENING_RE, timeout=READY_TIMEOUT)
    client = path.start("b", [POSTERN_BIN, f"client://lossy@{a}:{TUNNEL_PORT}/"
                              f"127.0.0.1:{backend_port}?mode=2"], env=TUNNEL_ENV, name="client")
    m = client.wait_for_log(r"connected to .* type=(\d)", timeout=20)
    assert m.group(1) == str(typ), m.string
    server.wait_for_log(ATTACHED_RE, timeout=20)
    path.listening("a", USER_PORT, proc=server)
    return server, client


def udp_sockets(path, side, pid):
    r = path.exec(side, ["ss", "-Hanup"], check=False)
    return [ln for ln in r.stdout.splitlines() if f"pid={pid}," in ln]


# --------------------------------------------------------------------------------------
# the flows (threads started in namespace a: their sockets are a's)
# --------------------------------------------------------------------------------------

def bulk_up(box, stop):
    """Upload pattern blocks until <stop> is set and BULK_MIB went; compare the digest."""
    pat = Pattern(1)
    block = next(pat.blocks())
    h, n, i = hashlib.sha256(), 0, 0
    with socket.create_connection(("127.0.0.1", USER_PORT), timeout=60) as s:
        s.sendall(b"U")
        while n < BULK_MIB << 20 or not stop.is_set():
            o = (i * 7919) % len(block)
            b = block[o:] + block[:o]
            s.sendall(b)
            h.update(b)
            n += len(b)
            i += 1
            box["progress"] = n
        s.shutdown(socket.SHUT_WR)
        reply = recv_all(s, limit=200).decode(errors="replace")
    box["result"] = (n, h.hexdigest(), reply)


def bulk_down(box, stop):
    """Read the service's blocks until <stop> is set and BULK_MIB came, then half-close
    and read to its EOF."""
    h, n = hashlib.sha256(), 0
    with socket.create_connection(("127.0.0.1", USER_PORT), timeout=60) as s:
        s.sendall(b"D")
        closed = False
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
            box["progress"] = n
            if not closed and n >= BULK_MIB << 20 and stop.is_set():
                s.shutdown(socket.SHUT_WR)
                closed = True
    box["result"] = (n, h.hexdigest())


def request_response(box):
    """RR_ONE_CONN exchanges on one connection, then RR_NEW_CONN on a new connection each;
    every reply compared; the failures listed."""
    bad, times = [], []
    with socket.create_connection(("127.0.0.1", USER_PORT), timeout=60) as s:
        s.sendall(b"E")
        for i in range(RR_ONE_CONN):
            req = f"req {i:04d}|".encode() + os.urandom(20 + (i * 37) % 900)
            t0 = time.monotonic()
            s.sendall(req)
            got = recv_exact(s, len(req))
            times.append(time.monotonic() - t0)
            if got != req:
                bad.append(f"one connection, exchange {i}: reply differs")
    for i in range(RR_NEW_CONN):
        req = b"E" + f"new {i:04d}|".encode() + os.urandom(20 + (i * 53) % 900)
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", USER_PORT), timeout=60) as s:
                s.sendall(req)
                s.shutdown(socket.SHUT_WR)
                got = recv_all(s, limit=len(req))
        except OSError as e:
            bad.append(f"new connection {i}: {e}")
            continue
        times.append(time.monotonic() - t0)
        if got != req[1:]:
            bad.append(f"new connection {i}: got {len(got)} of {len(req) - 1} bytes")
    box["result"] = (len(times), bad, sorted(times))


def guarded(fn, box, *args):
    def run():
        try:
            fn(box, *args)
        except Exception as e:  # noqa: BLE001 - reported by the test
            box["error"] = f"{type(e).__name__}: {e}"
    return run


@pytest.mark.asan_keep("0-down", "1-up")
@pytest.mark.parametrize("direction", ["up", "down"])
@pytest.mark.parametrize("typ", [0, 1])
def test_bulk_and_request_response_at_once_through_loss(typ, direction, lossy, backends):
    with lossy.inside("b"):
        svc = backends(service, name="service")
    server, client = start_tunnel(lossy, typ, svc.port)
    if typ == 1:
        # the data channel is QUIC: the client's one UDP socket, to the server's veth address
        udp = udp_sockets(lossy, "b", client.pid)
        assert len(udp) == 1 and f"{lossy.addr['a']}:{TUNNEL_PORT}" in udp[0], udp
    before = {side: lossy.counters(side) for side in ("a", "b")}

    stop = threading.Event()
    bulk, rr = {}, {}
    t0 = time.monotonic()
    with lossy.inside("a"):
        tb = threading.Thread(target=guarded(bulk_up if direction == "up" else bulk_down,
                                             bulk, stop), daemon=True, name="bulk")
        tb.start()
        while bulk.get("progress", 0) < 1 << 20:        # the bulk is under way
            assert time.monotonic() - t0 < 60 and tb.is_alive(), f"the bulk did not start: {bulk}"
            time.sleep(0.01)
        tr = threading.Thread(target=guarded(request_response, rr), daemon=True, name="rr")
        tr.start()
    tr.join(DEADLINE)
    rr_end = time.monotonic()
    still_bulk = tb.is_alive()
    stop.set()
    tb.join(max(1, DEADLINE - (time.monotonic() - t0)))
    elapsed = time.monotonic() - t0
    assert not tr.is_alive() and not tb.is_alive(), \
        f"not done within {DEADLINE}s: request/response {rr}, bulk {bulk.get('progress')} bytes"
    assert "error" not in rr and "error" not in bulk, (rr.get("error"), bulk.get("error"))
    assert still_bulk, "the bulk ended before the request/response flow (no overlap)"

    count, bad, times = rr["result"]
    assert not bad, bad[:10]
    assert count == RR_ONE_CONN + RR_NEW_CONN
    if direction == "up":
        n, digest, reply = bulk["result"]
        assert reply == f"{n} {digest}\n", f"the service saw {reply!r}, sent {n} {digest}"
    else:
        n, digest = bulk["result"]
        _, sent_n, sent_digest = svc.wait_record(lambda r: r[0] == "sent", timeout=20)
        assert (n, digest) == (sent_n, sent_digest)
    assert n >= BULK_MIB << 20

    # the loss rule dropped about 1 % of what crossed, each way; one wire packet a count
    after = {side: lossy.counters(side) for side in ("a", "b")}
    delta = {side: {k: (after[side][k][0] - before[side][k][0],
                        after[side][k][1] - before[side][k][1]) for k in ("seen", "lost")}
             for side in ("a", "b")}
    for side in ("a", "b"):
        assert delta[side]["lost"][0] > 0, f"nothing dropped on the way into {side}: {delta}"
    data_side = "b" if direction == "up" else "a"
    seen_pk, seen_bytes = delta[data_side]["seen"]
    assert seen_pk > 10000, delta
    assert 0.004 < delta[data_side]["lost"][0] / seen_pk < 0.025, delta
    assert seen_bytes / seen_pk <= 1514, f"super-packets cross the loss rule: {delta}"

    assert server.alive() and client.alive()
    print(f"type={typ} {direction}: {n >> 20} MiB in {elapsed:.1f}s, request/response "
          f"{count} done in {rr_end - t0:.1f}s (median {times[len(times) // 2] * 1000:.1f} ms, "
          f"max {times[-1] * 1000:.1f} ms), dropped {delta}")


@pytest.mark.asan_skip
@pytest.mark.parametrize("typ", [0, 1])
def test_a_user_gone_mid_download_ends_the_service_connection(typ, lossy, backends):
    with lossy.inside("b"):
        svc = backends(service, name="service")
    server, client = start_tunnel(lossy, typ, svc.port)
    with lossy.inside("a"):
        u = socket.create_connection(("127.0.0.1", USER_PORT), timeout=30)
    try:
        u.sendall(b"F")
        got = 0
        while got < 2 << 20:
            got += len(u.recv(1 << 20))
        u.shutdown(socket.SHUT_WR)          # a FIN first (the tunnel half-closes) ...
        time.sleep(0.3)
    finally:
        u.close()                           # ... then a reset (unread bytes were queued)
    left = time.monotonic()
    _, when, n, end = svc.wait_record(lambda r: r[0] == "gone", timeout=40)
    assert when - left < 10, (f"the service's connection stayed open {when - left:.1f}s after "
                              f"the user left ({n >> 20} MiB sent, {end})")
    assert server.alive() and client.alive()
