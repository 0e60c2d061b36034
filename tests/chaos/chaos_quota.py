"""The hub's quotas held under load from several accounts' users at once
(docs/hub.md §3, docs/security.md): an account with rps=5 hammered over HTTP, one with
max_conns=4 by a dozen users, one with mbps=8 by parallel downloads, all at the same
time, while a user of an account without limits measures its success rate."""
import os
import socket
import threading
import time

from harness.attack import GoodClient
from harness.backends import echo_handler
from harness.net import port_block
from hub_util import HubStack, Route, account, http_request

import scale

RPS, MAX_CONNS, MBPS = 5, 4, 8


def endless_source(backend, conn):
    """Send random bytes until the peer goes (or 60 s)."""
    block = os.urandom(65536)
    end = time.monotonic() + 60
    try:
        while time.monotonic() < end:
            conn.sendall(block)
    except OSError:
        pass


def test_quotas_hold_under_load_from_several_accounts(tmp_path):
    st = HubStack(tmp_path)
    stop = threading.Event()
    try:
        base = port_block(3)
        rate = account("rate", rps=RPS)
        conns = account("conns", max_conns=MAX_CONNS)
        bw = account("bw", mbps=MBPS)
        free = account("free")
        hub = st.hub([rate, conns, bw, free], http=True, ports=(base, base + 2))
        web = st.http_echo("web")
        held_echo = st.tcp(echo_handler, name="conns-echo")
        src = st.tcp(endless_source, name="bw-source")
        good_echo = st.tcp(echo_handler, name="free-echo")
        st.agent(hub, rate["token"], [Route("http", web.port, host="r.hub.test")])
        st.agent(hub, conns["token"], [Route("tcp", held_echo.port, port=base)])
        st.agent(hub, bw["token"], [Route("tcp", src.port, port=base + 1)])
        st.agent(hub, free["token"], [Route("tcp", good_echo.port, port=base + 2)])
        assert scale.echo_ok(base + 2)

        counts = {"200": 0, "429": 0, "other": 0, "conn_ok": 0, "conn_refused": 0}
        lock = threading.Lock()

        def bump(k):
            with lock:
                counts[k] += 1

        def hammer():
            while not stop.is_set():
                try:
                    r = http_request(hub.http_port, "r.hub.test", "/", timeout=3)
                    bump(str(r.status) if r.status in (200, 429) else "other")
                except (OSError, AssertionError, ConnectionError):
                    bump("other")

        def holder():
            while not stop.is_set():
                try:
                    with socket.create_connection(("127.0.0.1", base), timeout=3) as s:
                        s.sendall(b"x")
                        if s.recv(1) == b"x":
                            bump("conn_ok")
                            stop.wait(0.3)
                        else:
                            bump("conn_refused")
                except OSError:
                    bump("conn_refused")
                    stop.wait(0.05)

        got = [0] * 3

        def downloader(i):
            with socket.create_connection(("127.0.0.1", base + 1), timeout=5) as s:
                s.settimeout(1)
                while not stop.is_set():
                    try:
                        b = s.recv(1 << 16)
                    except socket.timeout:
                        continue
                    if not b:
                        break
                    got[i] += len(b)

        ts = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
        ts += [threading.Thread(target=holder, daemon=True) for _ in range(12)]
        ts += [threading.Thread(target=downloader, args=(i,), daemon=True) for i in range(3)]
        live_max = 0
        t0 = time.monotonic()
        for t in ts:
            t.start()
        with GoodClient(lambda: scale.echo_ok(base + 2), gap=0.02,
                        duration=scale.ATTACK_S + 10) as gc:
            while time.monotonic() - t0 < scale.ATTACK_S:
                # The hub counts an exchange gone when its own side ends; the agent's
                # connection to this backend closes a moment later, and a user admitted
                # meanwhile can overlap it here (5 seen once in CI, at load 0.7). A held
                # connection lasts 0.3 s: one over the limit shows in two samples 20 ms
                # apart, a closing one in at most the first.
                first = held_echo.live_connections()
                time.sleep(0.02)
                live_max = max(live_max, min(first, held_echo.live_connections()))
                time.sleep(0.03)
        wall = time.monotonic() - t0
        stop.set()
        for t in ts:
            t.join(10)
        mb_per_s = sum(got) / wall / 1e6
        scale.report("hub quotas under load from 4 accounts at once", seconds=round(wall, 1),
                     rps_limit=RPS, answered_200=counts["200"], answered_429=counts["429"],
                     other=counts["other"], max_conns=MAX_CONNS, conns_live_max=live_max,
                     conns_served=counts["conn_ok"], conns_refused=counts["conn_refused"],
                     mbps_limit=MBPS, download_mb_per_s=round(mb_per_s, 3),
                     good_requests=gc.total(), good_success_pct=round(100 * gc.success(), 2),
                     good_p99_ms=round(1000 * gc.p99(), 1))
        assert counts["429"] > 0, counts
        assert counts["200"] <= RPS * wall + RPS + 2, f"rps={RPS} over {wall:.1f} s: {counts}"
        assert 0 < live_max <= MAX_CONNS, f"max_conns={MAX_CONNS}: {live_max} at once"
        assert counts["conn_refused"] > 0, counts
        # mbps=8 is 1 MB/s; a second's burst over the run at most, and some slack.
        assert 0 < mb_per_s <= MBPS / 8 * 1.25 + 1.0 / wall, f"{mb_per_s:.2f} MB/s"
        assert gc.success() >= 0.99, gc.summary()
    finally:
        stop.set()
        st.cleanup()
