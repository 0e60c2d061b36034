"""rate=<Mbps>: one token bucket per instance, shared by all its connections, both
directions, TCP and UDP. Behaviour, not benchmarks: with rate=2 (250 KB/s, burst about
100 ms) 1 MiB cannot pass in under 2.5 s, while the same transfer unlimited takes a
fraction of that."""
import os
import threading
import time

from conftest import digest_handler, source_handler
from limits_util import timed_upload
from tunnel_util import Tunnel, download_all
from udp_util import UdpClient, udp_backends, udp_entry  # noqa: F401 - fixture

MIB = 1 << 20
RATE = "rate=2"                 # 2 Mbps = 250,000 B/s: 1 MiB needs about 4.2 s
MIN_LIMITED = 2.5               # the contract's floor for 1 MiB at rate=2
MAX_LIMITED = 15.0              # far above 4.2 s: only a much lower rate reaches this
MAX_UNLIMITED = 1.0             # the same transfer unlimited (milliseconds in practice)


def timed_download(port, size, timeout=30.0):
    t0 = time.monotonic()
    n, _ = download_all(port, timeout=timeout)
    assert n == size, f"downloaded {n} of {size} bytes"
    return time.monotonic() - t0


def test_single_end_upload_is_limited(postern, backends):
    sink = backends(digest_handler, name="sink")
    free = postern.client([sink.port])
    t_free = timed_upload(free.port, MIB)
    assert t_free < MAX_UNLIMITED, f"unlimited 1 MiB upload took {t_free:.2f}s"

    limited = postern.client([sink.port], RATE)
    t_lim = timed_upload(limited.port, MIB)
    assert MIN_LIMITED <= t_lim <= MAX_LIMITED, \
        f"1 MiB upload with {RATE} took {t_lim:.2f}s (unlimited: {t_free:.3f}s)"


def test_single_end_download_is_limited(postern, backends):
    data = os.urandom(MIB)
    src = backends(source_handler(data), name="source")
    free = postern.client([src.port])
    t_free = timed_download(free.port, MIB)
    assert t_free < MAX_UNLIMITED, f"unlimited 1 MiB download took {t_free:.2f}s"

    limited = postern.client([src.port], RATE)
    t_lim = timed_download(limited.port, MIB)
    assert MIN_LIMITED <= t_lim <= MAX_LIMITED, \
        f"1 MiB download with {RATE} took {t_lim:.2f}s (unlimited: {t_free:.3f}s)"


def test_bucket_is_shared_by_concurrent_connections(postern, backends):
    """Two 512 KiB uploads at once: one bucket for both takes about as long as 1 MiB on
    one connection (about 4.2 s); a bucket per connection would take about 2.1 s."""
    sink = backends(digest_handler, name="sink")
    p = postern.client([sink.port], RATE)
    times, errors = [None, None], []

    def one(i):
        try:
            times[i] = timed_upload(p.port, MIB // 2)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"upload {i}: {type(e).__name__}: {e}")

    t0 = time.monotonic()
    ts = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=40)
    total = time.monotonic() - t0
    assert not errors and all(times), f"uploads failed: {errors} {times}"
    assert total >= 3.2, \
        f"two 512 KiB uploads with {RATE} finished in {total:.2f}s ({times}): not one " \
        f"shared bucket (one bucket needs about 4.2 s, per-connection buckets about 2.1 s)"


def test_reverse_tunnel_upload_is_limited_by_the_server(postern, backends):
    sink = backends(digest_handler, name="sink")
    free = Tunnel(postern, "reverse", sink.port, key="ratefree").start()
    t_free = timed_upload(free.user_port, MIB)
    assert t_free < 1.5, f"unlimited 1 MiB through the tunnel took {t_free:.2f}s"

    t = Tunnel(postern, "reverse", sink.port, key="ratelimited", server_params=RATE).start()
    t_lim = timed_upload(t.user_port, MIB)
    assert MIN_LIMITED <= t_lim <= MAX_LIMITED, \
        f"1 MiB through a reverse tunnel with server {RATE} took {t_lim:.2f}s " \
        f"(unlimited: {t_free:.3f}s)"


def udp_burst(port, count=400, size=1000, batch=50, gap=0.005):
    """Send <count> datagrams of <size> bytes from one client in batches; wait for the
    echoes for one more second; return the number of echoes received."""
    got = 0
    with UdpClient(port, name="burst") as c:
        for i in range(count):
            c.send(i.to_bytes(4, "big") + os.urandom(size - 4))
            if i % batch == batch - 1:
                time.sleep(gap)
        deadline = time.monotonic() + 1.0
        while True:
            d = c.recv(max(0.0, deadline - time.monotonic()))
            if d is None:
                return got
            got += 1


def test_udp_datagrams_over_the_budget_are_dropped(postern, udp_backends):
    u = udp_backends()
    free = udp_entry(postern, [u.port])
    base = u.counts()[0]
    echoed = udp_burst(free.port)
    passed = u.counts()[0] - base
    assert passed >= 360 and echoed >= 360, \
        f"unlimited: only {passed} of 400 datagrams reached the echo, {echoed} came back"

    limited = udp_entry(postern, [u.port], RATE)
    base = u.counts()[0]
    echoed = udp_burst(limited.port)
    passed = u.counts()[0] - base
    # ~400 KB offered in about 50 ms; the budget is about 25 KB burst + 250 KB/s, both
    # directions together: some tens of datagrams, far from all of them
    assert 1 <= passed <= 150, \
        f"with {RATE}, {passed} of 400 x 1000-byte datagrams reached the echo backend"
    assert echoed <= passed, (echoed, passed)
