"""An account's mbps and max_routes counted over every hub of a cluster (docs/hub.md §7,
"Account limits across hubs"): two hubs on one Redis (a redis-server of the test's own
on loopback), one account with routes on both. The bytes both hubs relay for it stay
near its mbps (each hub alone would let mbps through: twice as much); a route claimed on
hub b past the account's max_routes counted on both hubs is refused with the reason."""
import socket
import threading
import time

import pytest

from cluster_util import cluster_hub, redis, remote_route  # noqa: F401
from conftest import echo_handler
from hub_util import Route, account, hubstack, port_block  # noqa: F401

MBPS = 8                        # 1,000,000 bytes/s for the account, both hubs together
RATE = MBPS * 125000
CHUNK = bytes(64 * 1024)


def redis_cmd(redis, *args):
    """One command to the test's Redis (no password); the reply's first line and, for a
    bulk string, its value (str), else None."""
    req = f"*{len(args)}\r\n" + "".join(f"${len(str(a))}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", redis.port), timeout=5) as s:
        s.sendall(req.encode())
        f = s.makefile("rb")
        head = f.readline()
        if head.startswith(b"$") and int(head[1:]) >= 0:
            return f.read(int(head[1:]) + 2)[:-2].decode()
        return None


def source(backend, conn):
    """Send zeros until the user goes."""
    try:
        while True:
            conn.sendall(CHUNK)
    except OSError:
        pass


@pytest.mark.asan_skip
def test_mbps_is_shared_by_the_accounts_routes_on_every_hub(redis, hubstack):
    st = hubstack
    base = port_block(2)
    alice = account("alice", mbps=MBPS)
    a = cluster_hub(st, [alice], redis, "hub-a", http=False, ports=(base, base + 1))
    b = cluster_hub(st, [alice], redis, "hub-b", http=False, ports=(base, base + 1))
    src = st.tcp(source, name="source")
    st.agent(a, alice["token"], [Route("tcp", src.port, port=base)])
    st.agent(b, alice["token"], [Route("tcp", src.port, port=base + 1)])
    warm, window = 2.5, 5.0
    t0 = time.monotonic()
    start, end = t0 + warm, t0 + warm + window
    counted = {}

    def download(hub, port):
        n = 0
        with socket.create_connection((hub.public, port), timeout=10) as s:
            s.settimeout(10)
            while True:
                got = s.recv(1 << 16)
                now = time.monotonic()
                if not got or now >= end:
                    break
                if now >= start:
                    n += len(got)
        counted[hub.public] = n

    ts = [threading.Thread(target=download, args=(h, p)) for h, p in ((a, base), (b, base + 1))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=warm + window + 20)
    assert len(counted) == 2, f"a download did not end: {counted}"
    total = sum(counted.values())
    # each hub counting alone would pass 2 * RATE * window; shared, the limit with the
    # documented tolerance (a heartbeat's lag, each bucket's burst of a second of its share)
    assert 0.5 * RATE * window <= total <= 1.3 * RATE * window, \
        f"{total} bytes in {window} s through both hubs (limit {RATE} B/s): {counted}"
    # both hubs carried a part (neither starved)
    assert min(counted.values()) >= 0.15 * RATE * window, counted


def test_max_routes_counts_the_accounts_routes_on_every_hub(redis, hubstack):
    st = hubstack
    base = port_block(4)
    alice = account("alice", max_routes=2)
    a = cluster_hub(st, [alice], redis, "hub-a", http=False, ports=(base, base + 3))
    b = cluster_hub(st, [alice], redis, "hub-b", http=False, ports=(base, base + 3))
    echo = st.tcp(echo_handler, name="echo")
    st.agent(a, alice["token"], [Route("tcp", echo.port, port=base),
                                 Route("tcp", echo.port, port=base + 1)])
    b.wait_state(lambda s: remote_route(s, f"tcp:{base + 1}") is not None, timeout=5)
    # hub a told Redis its 2 live routes of alice's at a heartbeat; hub b reads the sum at
    # its next one (POSTERN_CLUSTER_TTL / 3: 0.5 s here)
    deadline = time.monotonic() + 5
    while not (redis_cmd(redis, "HGET", "pn:routes:alice", "hub-a") or "").startswith("2:"):
        assert time.monotonic() < deadline, "hub a did not count alice's routes in Redis"
        time.sleep(0.1)
    time.sleep(1.5)
    third = Route("tcp", echo.port, port=base + 2)
    c = st.agent(b, alice["token"], [third], wait=False)
    assert c.refused(third) == \
        "the account has its 2 routes already (counted on every hub of the cluster)"
    # hub a's routes still answer (through hub b too)
    for h in (a, b):
        with socket.create_connection((h.public, base), timeout=5) as s:
            s.settimeout(5)
            s.sendall(b"ping")
            assert s.recv(4) == b"ping"
