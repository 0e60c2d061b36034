"""The tunables NodePass names and postern lacked (docs/operations.md "NodePass's
environment variables"), each seen taking effect:

- POSTERN_POOL_MIN_INTERVAL: a client's pool of 128 fills 32 at a time, one refill per
  interval (the refills' log times are that far apart)
- NP_MAX_POOL_INTERVAL: a full pool is refilled every interval
- POSTERN_RELOAD_INTERVAL: a swapped certificate is served only once the interval passed
- POSTERN_TCP_DATA_BUF_SIZE: the splice pipes have that size (F_GETPIPE_SZ on them)
- NP_SERVICE_COOLDOWN: the master restarts a failing instance after that long, then twice
  that
- a value out of bounds: exit 2 naming the variable"""
import fcntl
import hashlib
import os
import re
import socket
import subprocess
import time
import urllib.parse
from datetime import datetime

import pytest

from conftest import LOOPBACK, POSTERN_BIN, pem_fingerprint
from harness.certs import live_pair, swap_pair
from master_util import start_master, wait_instance
from tunnel_util import tunnel  # noqa: F401 - fixture

REFILL_RE = re.compile(r"^(\S+ \S+) DEBUG .*pool refill: (\d+) opened, (\d+) idle, next in (\d+) ms")
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)


def refills(p):
    """(time in s, opened, idle, next ms) of each refill line of <p>."""
    out = []
    for line in p.lines():
        m = REFILL_RE.search(line)
        if m:
            t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            out.append((t, int(m.group(2)), int(m.group(3)), int(m.group(4))))
    return out


def wait_refills(p, pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = refills(p)
        if pred(r):
            return r
        time.sleep(0.1)
    raise AssertionError(f"refills: {refills(p)}\n{p.output()[-3000:]}")


# A long report interval: no per-interval refill between those under test.
QUIET = {"POSTERN_REPORT_INTERVAL": "30s"}


@pytest.mark.asan_skip
def test_pool_min_interval_paces_the_refills(tunnel, echo_backend):
    t = tunnel("reverse", echo_backend.port, client_params="min=128&log=debug",
               env=QUIET, client_env={"POSTERN_POOL_MIN_INTERVAL": "700ms"}).start()
    r = wait_refills(t.client, lambda r: any(x[2] >= 128 for x in r), timeout=15)
    short = [x for x in r if x[3] == 700]
    assert len(short) >= 3, r                   # 128 in bursts of 32
    # A refill also runs at once on some events (the first data connections): the
    # paced ones are those the interval apart, 100 ms apart without the variable.
    gaps = [b[0] - a[0] for a, b in zip(short, short[1:])]
    assert len([g for g in gaps if g >= 0.65]) >= 2, gaps


@pytest.mark.asan_skip
def test_np_max_pool_interval_paces_a_full_pool(tunnel, echo_backend):
    t = tunnel("reverse", echo_backend.port, client_params="min=2&log=debug", env=QUIET,
               client_env={"POSTERN_POOL_MAX_INTERVAL": "", "NP_MAX_POOL_INTERVAL": "300ms"})
    t.start()
    # Refills of a full pool (nothing opened): only the timer runs them.
    r = wait_refills(t.client, lambda r: len([x for x in r if x[1] == 0]) >= 6, timeout=8)
    full = [x for x in r if x[1] == 0 and x[3] == 300]
    gaps = [b[0] - a[0] for a, b in zip(full, full[1:])]
    assert min(gaps) >= 0.28 and sorted(gaps)[len(gaps) // 2] < 0.8, gaps  # 1 s by default


@pytest.mark.asan_skip
def test_reload_interval_delays_the_certificate_check(postern, certs, echo_backend, tmp_path):
    import ssl
    crt1, key1 = certs.leaf("r1", serial=2001)
    crt2, key2 = certs.leaf("r2", serial=2002)
    fp1, fp2 = pem_fingerprint(crt1), pem_fingerprint(crt2)
    live = live_pair(tmp_path / "live", crt1, key1)
    crt, key = live
    q = urllib.parse.quote
    p = postern.client([echo_backend.port],
                       f"noudp=1&tls=2&crt={q(str(crt), safe='/')}&key={q(str(key), safe='/')}",
                       env={"POSTERN_RELOAD_INTERVAL": "6s"})
    ctx = ssl.create_default_context(cafile=str(certs.ca_pem))

    def served():
        with socket.create_connection((LOOPBACK, p.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

    assert served() == fp1
    swap_pair(live, crt2, key2)
    swapped = time.monotonic()
    seen = []
    while time.monotonic() - swapped < 2.5:
        seen.append(served())
        time.sleep(0.3)
    assert set(seen) == {fp1}, "checked before the reload interval passed (1 s by default)"
    deadline = swapped + 10
    while served() != fp2:
        assert time.monotonic() < deadline, "the new certificate was never served"
        time.sleep(0.3)
    assert "tls: reloaded certificate" in p.output()


def pipe_sizes(pid):
    sizes = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:"):
                continue
            f = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            sizes.append(fcntl.fcntl(f, F_GETPIPE_SZ))
        finally:
            os.close(f)
    return sizes


@pytest.mark.parametrize("var", ["POSTERN_TCP_DATA_BUF_SIZE", "NP_TCP_DATA_BUF_SIZE"])
def test_tcp_data_buf_size_sizes_the_splice_pipes(postern, echo_backend, var):
    p = postern.client([echo_backend.port], "noudp=1", env={var: "262144"})
    with socket.create_connection((LOOPBACK, p.port), timeout=10) as s:
        for _ in range(16):
            chunk = os.urandom(65536)
            s.sendall(chunk)
            got = b""
            while len(got) < len(chunk):
                b = s.recv(len(chunk) - len(got))
                assert b, "closed"
                got += b
            assert got == chunk
        sizes = pipe_sizes(p.pid)
    assert 262144 in sizes, sizes               # 65536 without the variable


@pytest.mark.asan_skip
def test_np_service_cooldown_spaces_the_restarts(postern, tmp_path, echo_backend):
    taken = socket.socket()
    taken.bind((LOOPBACK, 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        m = start_master(postern, tmp_path, env={"NP_SERVICE_COOLDOWN": "2500ms"})
        inst = m.create(f"client://{LOOPBACK}:{port}/{LOOPBACK}:{echo_backend.port}?mode=1")
        wait_instance(m, inst["id"], lambda i: i["status"] == "error", what="first failure")
        failed = time.monotonic()
        m.p.wait_for_log(rf"instance {inst['id']}: restarting in 2500 ms", timeout=3)
        time.sleep(2.0)
        assert m.instance(inst["id"])["restarts"] == 0     # 1 s by default
        wait_instance(m, inst["id"], lambda i: i["restarts"] >= 1, timeout=5, what="restart")
        assert time.monotonic() - failed >= 2.3
        m.p.wait_for_log(rf"instance {inst['id']}: restarting in 5000 ms", timeout=5)
    finally:
        taken.close()


@pytest.mark.parametrize("argv, env", [
    (["client://127.0.0.1:1/127.0.0.1:2"], {"NP_MIN_POOL_INTERVAL": "1ms"}),
    (["client://127.0.0.1:1/127.0.0.1:2"], {"POSTERN_POOL_MAX_INTERVAL": "2h"}),
    (["client://127.0.0.1:1/127.0.0.1:2"], {"NP_RELOAD_INTERVAL": "soon"}),
    (["client://127.0.0.1:1/127.0.0.1:2"], {"POSTERN_TCP_DATA_BUF_SIZE": "2097152"}),
    (["server://127.0.0.1:1/127.0.0.1:2?type=1"], {"POSTERN_QUIC_CC": "vegas"}),
    (["master://127.0.0.1:1?db=/nonexistent/x.db"], {"POSTERN_SERVICE_COOLDOWN": "0"}),
])
def test_out_of_bounds_is_refused_by_name(argv, env):
    r = subprocess.run([POSTERN_BIN] + argv, timeout=10, env=env, capture_output=True, text=True)
    name = next(iter(env))
    assert r.returncode == 2 and name in r.stderr, (r.returncode, r.stderr)
