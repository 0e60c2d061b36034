"""Protection of the tunnel server: failed control handshakes are rate-limited per
source IP (10 failures within 10 s close that IP's new connections at accept for 10 s),
a flood of 2000 bad handshakes from 127.0.0.2 does not disturb the attached client from
127.0.0.1; a connection that sends nothing is closed within the handshake timeout; a
control frame announcing an over-long payload ends that session only."""
import os
import re
import signal
import struct
import threading
import time

from conftest import curl
from limits_util import (USER_IP, closed_promptly, connect_from, control_psk_hex, flood,
                         preamble_relays, s_client_psk)  # noqa: F401 - fixture
from tunnel_util import (ATTACHED_RE, PREAMBLE_CONTROL, PREAMBLE_DATA, count_lines, tunnel,
                         wait_curl)  # noqa: F401 - fixture

AUTH_FAIL_RE = re.compile(r"(?i)auth\w*\b.*fail|fail\w*\b.*auth")
FLOOD_N = 2000
FLOOD_SPREAD = 12.0     # seconds: longer than one 10 s ban, so the flood outlives a ban


def garbage_handshake(i):
    """The control preamble and random bytes: a failed control handshake."""
    return PREAMBLE_CONTROL + os.urandom(64 + i % 200)


def auth_fail_lines(p, ip, start=0):
    return [ln for ln in p.lines()[start:] if AUTH_FAIL_RE.search(ln) and ip in ln]


def probe_ban(port, src_ip, within=1.0):
    """Connect from <src_ip> and send nothing: 'eof'/'reset' when the server closes the
    connection within <within> s (closed at accept), 'open' otherwise."""
    with connect_from(src_ip, port) as s:
        how, _, secs = closed_promptly(s, within)
    return how, secs


class CurlLoop:
    """curl the tunnel every <period> s in a thread until stopped; every request must
    succeed within its own timeout."""

    def __init__(self, port, path, content, period=0.2, max_time=5):
        self.args = (port, path, content, max_time)
        self.period = period
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True, name="curl-loop")
        self._t.start()

    def _run(self):
        port, path, content, max_time = self.args
        while not self._stop.is_set():
            t0 = time.monotonic()
            r = curl("--max-time", str(max_time), f"http://127.0.0.1:{port}{path}",
                     timeout=max_time + 10)
            if r.returncode == 0 and r.stdout == content:
                self.ok += 1
            else:
                self.failures.append(f"rc {r.returncode} after {time.monotonic() - t0:.1f}s, "
                                     f"{len(r.stdout)} bytes: "
                                     f"{r.stderr.decode(errors='replace').strip()}")
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        self._t.join(timeout=20)
        assert not self._t.is_alive(), "curl loop did not stop"


def test_flood_of_bad_handshakes_does_not_stop_the_good_client(tunnel, preamble_relays,
                                                               http_server):
    port, path, content = http_server
    t = tunnel("reverse", port, key="floodkey").start()
    wait_curl(t.user_port, path, content, timeout=10)
    server = t.server
    mark = server.mark()
    attached_before = count_lines(server, ATTACHED_RE)

    loop = CurlLoop(t.user_port, path, content)
    try:
        # a few real TLS 1.3 handshakes with a wrong PSK, from 127.0.0.2
        relay = preamble_relays(t.tunnel_port, src_ip=USER_IP)
        for _ in range(3):
            rc, out, err, secs = s_client_psk(relay.port, control_psk_hex("not-the-key"),
                                              timeout=10)
            assert rc not in (0, None), f"wrong-PSK handshake: rc {rc} after {secs:.1f}s {err}"
        # then the flood: the control preamble and garbage, 50 at a time
        res = flood(t.tunnel_port, FLOOD_N, garbage_handshake, src_ip=USER_IP,
                    concurrency=50, deadline=60, read_timeout=3, spread=FLOOD_SPREAD)
        ban = probe_ban(t.tunnel_port, USER_IP)
        time.sleep(1.0)
    finally:
        loop.stop()
    assert res.done == FLOOD_N and res.unfinished == 0 and res.elapsed < 60, res
    assert res.elapsed >= FLOOD_SPREAD - 1, res
    assert not loop.failures, \
        f"{len(loop.failures)} of {loop.ok + len(loop.failures)} curls through the tunnel " \
        f"failed during the flood: {loop.failures[:5]}"
    assert loop.ok >= 3, f"only {loop.ok} curls ran during the flood ({res})"
    assert t.client.alive() and server.alive()

    # 127.0.0.2 is banned: a connection from it is closed at accept, while one from
    # another address is left to the handshake timeout (10 s by default)
    assert ban[0] in ("eof", "reset"), \
        f"a connection from {USER_IP} right after the flood stayed open ({ban}); {res}"
    other = probe_ban(t.tunnel_port, "127.0.0.4")
    assert other[0] == "open", \
        f"a connection from 127.0.0.4 (no failures) was closed after {other[1]:.2f}s"

    lines = auth_fail_lines(server, USER_IP, mark)
    print(f"flood: {res}; {loop.ok} curls ok; {len(lines)} auth failure lines")
    assert lines, f"no line matching {AUTH_FAIL_RE.pattern!r} naming {USER_IP}:\n" + \
        "\n".join(server.lines()[mark:][-20:])
    # banned connections are refused before any handshake and noted at most about once
    # a second: far fewer lines than attempts (at most 64 handshakes in flight + 10 more
    # failures per ban window may each be logged)
    assert len(lines) <= FLOOD_N // 10, \
        f"{len(lines)} auth failure lines for {FLOOD_N} attempts from one source in " \
        f"{res.elapsed:.1f}s: not rate-limited; first ones:\n" + "\n".join(lines[:10])
    assert count_lines(server, ATTACHED_RE) == attached_before, \
        "a client attached during the flood:\n" + "\n".join(server.lines()[mark:][-20:])

    # a fresh client from 127.0.0.1 attaches
    t.client.stop(signal.SIGTERM)
    smark = server.mark()
    c2 = t.start_client()
    t.wait_ready(client=c2, server_start=smark)
    wait_curl(t.user_port, path, content, timeout=10, what="curl after the client restart")


def test_ban_needs_ten_failures_and_expires(tunnel, backends):
    t = tunnel("reverse", 9, key="bankey")     # no client: only the control port matters
    t.start_server()
    # a few failures: no ban (a connection that sends nothing stays open)
    res = flood(t.tunnel_port, 3, garbage_handshake, src_ip=USER_IP, concurrency=1)
    assert res.done == 3, res
    how, secs = probe_ban(t.tunnel_port, USER_IP)
    assert how == "open", f"banned after 3 failures (closed after {secs:.2f}s)"
    # enough failures: banned
    res = flood(t.tunnel_port, 12, garbage_handshake, src_ip=USER_IP, concurrency=1)
    assert res.done == 12, res
    how, secs = probe_ban(t.tunnel_port, USER_IP)
    assert how in ("eof", "reset"), f"not banned after 15 failures within seconds ({how})"
    banned_at = time.monotonic()
    # the ban lasts about 10 s and then ends (measured from the last probe, which may
    # have been counted as well)
    time.sleep(max(0.0, banned_at + 11.5 - time.monotonic()))
    how, secs = probe_ban(t.tunnel_port, USER_IP)
    assert how == "open", f"still banned 11.5s later (closed after {secs:.2f}s)"
    assert t.server.alive()


def test_silent_connections_end_at_the_handshake_timeout(tunnel, http_server):
    port, path, content = http_server
    t = tunnel("reverse", port, key="silentkey",
               server_env={"POSTERN_HANDSHAKE_TIMEOUT": "1s"}).start()
    for what, first in (("nothing", b""), ("control preamble only", PREAMBLE_CONTROL),
                        ("data preamble only", PREAMBLE_DATA),
                        ("half a TLS record header", PREAMBLE_CONTROL + b"\x16\x03")):
        with connect_from("127.0.0.1", t.tunnel_port) as s:
            how, data, secs = closed_promptly(s, 4.0, send=first)
        assert how in ("eof", "reset"), \
            f"a connection sending {what} was still open after 4s (handshake timeout 1s)"
        assert secs <= 3.0, f"a connection sending {what} was closed after {secs:.2f}s"
    assert t.server.alive() and t.client.alive()
    wait_curl(t.user_port, path, content, timeout=5, what="curl after the silent connections")


def test_oversized_control_frame_ends_that_session_only(tunnel, preamble_relays, http_server):
    port, path, content = http_server
    key = "boundkey"
    t = tunnel("reverse", port, key=key)
    server = t.start_server()
    relay = preamble_relays(t.tunnel_port, src_ip="127.0.0.1")
    # a control session with the right key that announces a 16 MiB PING payload
    header = struct.pack(">BBBBII", 1, 0x04, 0, 0, 0, 16 << 20)
    mark = server.mark()
    rc, out, err, secs = s_client_psk(relay.port, control_psk_hex(key), stdin_data=header,
                                      hold=8.0, timeout=10)
    assert rc is not None and secs < 8.0, \
        f"the server kept the session with an over-long frame open ({secs:.1f}s)"
    assert out[:2] == b"\x01\x01", \
        f"no HELLO frame first: the handshake with the right key failed? {out[:40]!r} {err}"
    assert server.alive(), server.output()
    server.wait_for_log(ATTACHED_RE, timeout=3, start=mark)   # the handcrafted session

    smark = server.mark()
    t.start_client()
    t.wait_ready(server_start=smark)
    wait_curl(t.user_port, path, content, timeout=10, what="curl with a new client")
