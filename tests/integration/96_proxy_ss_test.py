"""proxy://...?ss=<port> (docs/proxy.md): Shadowsocks AEAD on a second port of the proxy
entrance. Debian's ss-local (shadowsocks-libev), started by the test with its own config
file, sits in front of the entrance; curl goes through ss-local's SOCKS5 port to a local
web server: the three ciphers, 64 MiB by sha256, the user's counters; a wrong password, a
disabled user, a garbage first chunk and a replayed opening (sealed by Python's
`cryptography`) close only their connection; a key changed by SIGHUP applies.
UDP: Debian's ss-tunnel -u in front of the entrance's UDP relay, the three ciphers, to a UDP
echo; a wrong key, a disabled user and garbage get nothing back."""
import hashlib
import json
import os
import signal
import socket
import time

import pytest

from conftest import LOOPBACK, free_port, wait_port
from harness.procs import LoggedProcess, require_tool
from proxy_util import (closed_within, curl_through, start_proxy, user_stats,  # noqa: F401
                        write_users, www)
from udp_util import UdpEcho

USERS = [
    {"name": "alice", "key": "alice-ss-key-1", "password": "alice-pw"},
    {"name": "carol", "key": "carol-ss-key-3"},
    {"name": "bob", "key": "bob-ss-key-2", "enabled": False},
]


METHODS = ["chacha20-ietf-poly1305", "aes-256-gcm", "aes-128-gcm"]


def entrance(postern, tmp_path, method):
    ss = free_port()
    p = start_proxy(postern, write_users(tmp_path / "users.json", USERS),
                    params=f"allow=127.0.0.0/8,::1&ss={LOOPBACK}:{ss}&method={method}",
                    env={"POSTERN_HANDSHAKE_TIMEOUT": "1500ms"})
    wait_port(ss, timeout=5)
    p.ss = ss
    return p


class SsLocal:
    """ss-local (or another shadowsocks-libev client: <tool>, <extra> arguments) with a
    config file (the password stays out of argv), stopped by PID."""

    def __init__(self, tmp_path, server_port, password, method, tool="ss-local", extra=()):
        self.port = free_port()
        conf = tmp_path / f"{tool}-{self.port}.json"
        conf.write_text(json.dumps({
            "server": LOOPBACK, "server_port": server_port, "local_address": LOOPBACK,
            "local_port": self.port, "password": password, "method": method, "timeout": 30}))
        self.proc = LoggedProcess([require_tool(tool), "-c", str(conf), *extra], merge=True,
                                  name=tool)

    def __enter__(self):
        self.proc.start()
        if "-U" not in self.proc.argv:      # -U: UDP only, no TCP port to wait for
            wait_port(self.port, timeout=10, proc=self.proc.proc)
        if "-u" in self.proc.argv or "-U" in self.proc.argv:
            # its UDP socket is bound after its TCP listener: wait for that too
            self.proc.wait_for_log(r"UDP relay enabled", timeout=10)
        return self

    def __exit__(self, *a):
        self.proc.stop()
        self.proc.cleanup()


def get(local, url, timeout=60):
    return curl_through("--socks5-hostname", f"{LOOPBACK}:{local.port}", url, timeout=timeout)


@pytest.mark.parametrize("method", METHODS)
def test_ss_local_every_cipher(postern, tmp_path, www, method):
    port, _, small = www
    p = entrance(postern, tmp_path, method)
    with SsLocal(tmp_path, p.ss, "alice-ss-key-1", method) as local:
        for _ in range(3):
            r = get(local, f"http://localhost:{port}/small.bin")
            assert r.returncode == 0, r.stderr
            assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(small).hexdigest()
    with SsLocal(tmp_path, p.ss, "carol-ss-key-3", method) as local:
        r = get(local, f"http://{LOOPBACK}:{port}/small.bin")
        assert r.returncode == 0 and r.stdout == small, r.stderr
    mark = p.mark()
    st = user_stats(p, "alice", start=mark)
    assert st["conns"] == 3 and st["down"] >= 3 * len(small), st
    assert user_stats(p, "carol", start=mark)["conns"] == 1


def test_ss_large_transfer(postern, tmp_path, www):
    port, root, _ = www
    big = os.urandom(64 * 1024 * 1024)
    (root / "big.bin").write_bytes(big)
    p = entrance(postern, tmp_path, "chacha20-ietf-poly1305")
    with SsLocal(tmp_path, p.ss, "alice-ss-key-1", "chacha20-ietf-poly1305") as local:
        r = get(local, f"http://localhost:{port}/big.bin", timeout=120)
        assert r.returncode == 0, r.stderr
        assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(big).hexdigest()


def test_ss_refusals_close_only_that_connection(postern, tmp_path, www):
    port, _, small = www
    method = "aes-256-gcm"
    p = entrance(postern, tmp_path, method)
    with SsLocal(tmp_path, p.ss, "alice-ss-key-1", method) as good, \
            SsLocal(tmp_path, p.ss, "wrong-password", method) as bad, \
            SsLocal(tmp_path, p.ss, "bob-ss-key-2", method) as disabled:
        url = f"http://localhost:{port}/small.bin"
        mark = p.mark()
        assert get(bad, url, timeout=15).returncode != 0
        p.wait_for_log(r"ss: authentication failed", start=mark)
        mark = p.mark()
        assert get(disabled, url, timeout=15).returncode != 0
        p.wait_for_log(r"user bob: ss: disabled", start=mark)
        assert user_stats(p, "bob", start=p.mark())["refused"] >= 1
        # garbage: a salt and a length block no key opens; and a short head held open
        s = socket.create_connection((LOOPBACK, p.ss), timeout=5)
        s.sendall(os.urandom(32 + 18 + 100))
        assert closed_within(s, 3)
        s.close()
        held = socket.create_connection((LOOPBACK, p.ss), timeout=5)
        held.sendall(os.urandom(20))
        t0 = time.monotonic()
        assert closed_within(held, 5)
        assert time.monotonic() - t0 < 4      # the 1.5 s head deadline, not an idle timer
        held.close()
        r = get(good, url)
        assert r.returncode == 0 and r.stdout == small, r.stderr


def test_ss_internal_destination_refused(postern, tmp_path, www):
    port, _, _ = www
    ss = free_port()
    p = start_proxy(postern, write_users(tmp_path / "users.json", USERS),
                    params=f"ss={LOOPBACK}:{ss}", env={"POSTERN_HANDSHAKE_TIMEOUT": "1500ms"})
    wait_port(ss, timeout=5)
    with SsLocal(tmp_path, ss, "alice-ss-key-1", "chacha20-ietf-poly1305") as local:
        mark = p.mark()
        assert get(local, f"http://{LOOPBACK}:{port}/small.bin", timeout=15).returncode != 0
        p.wait_for_log(r"ss: destination is internal", start=mark)


def test_ss_key_change_on_sighup(postern, tmp_path, www):
    port, _, small = www
    method = "chacha20-ietf-poly1305"
    p = entrance(postern, tmp_path, method)
    url = f"http://localhost:{port}/small.bin"
    users = [dict(u) for u in USERS]
    users[0]["key"] = "alice-new-key"
    write_users(tmp_path / "users.json", users)
    mark = p.mark()
    p.send_signal(signal.SIGHUP)
    p.wait_for_log(r"reload: 3 user", start=mark)
    with SsLocal(tmp_path, p.ss, "alice-ss-key-1", method) as old, \
            SsLocal(tmp_path, p.ss, "alice-new-key", method) as new:
        assert get(old, url, timeout=15).returncode != 0
        r = get(new, url)
        assert r.returncode == 0 and r.stdout == small, r.stderr


def ss_first_chunk(password, method, host, port, payload):
    """A client's opening (salt + one chunk) sealed by Python's `cryptography` (an
    implementation of its own): EVP_BytesToKey(MD5), HKDF-SHA1 "ss-subkey", nonce 0, 1;
    the key, salt and subkey of aes-128-gcm are 16 bytes."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    n = 16 if method == "aes-128-gcm" else 32
    pw = password.encode()
    d1 = hashlib.md5(pw).digest()
    key = (d1 + hashlib.md5(d1 + pw).digest())[:n]
    salt = os.urandom(n)
    sub = HKDF(algorithm=hashes.SHA1(), length=n, salt=salt, info=b"ss-subkey").derive(key)
    a = (ChaCha20Poly1305 if method == "chacha20-ietf-poly1305" else AESGCM)(sub)
    body = b"\x03" + bytes([len(host)]) + host.encode() + port.to_bytes(2, "big") + payload
    return (salt + a.encrypt(bytes(12), len(body).to_bytes(2, "big"), None) +
            a.encrypt((1).to_bytes(12, "little"), body, None))


@pytest.mark.parametrize("method", ["aes-256-gcm", "aes-128-gcm"])
def test_ss_replayed_opening_refused(postern, tmp_path, www, method):
    port, _, small = www
    p = entrance(postern, tmp_path, method)
    opening = ss_first_chunk("carol-ss-key-3", method, "localhost", port,
                             b"GET /small.bin HTTP/1.0\r\nHost: localhost\r\n\r\n")
    s = socket.create_connection((LOOPBACK, p.ss), timeout=5)
    s.sendall(opening)
    assert len(s.recv(65536)) > 0          # the answer comes back sealed
    s.close()
    mark = p.mark()
    s = socket.create_connection((LOOPBACK, p.ss), timeout=5)
    s.sendall(opening)
    assert closed_within(s, 3)
    s.close()
    p.wait_for_log(r"ss: authentication failed \(a salt seen before", start=mark)


def udp_round_trips(port, sizes, timeout=5):
    """Datagrams of <sizes> to 127.0.0.1:<port>; the answers (None on timeout)."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(timeout)
    got = []
    try:
        for i, n in enumerate(sizes):
            u.sendto(bytes([i + 1]) * n, (LOOPBACK, port))
            try:
                got.append(u.recvfrom(65536)[0])
            except socket.timeout:
                got.append(None)
    finally:
        u.close()
    return got


@pytest.mark.asan_keep("chacha20-ietf-poly1305")
@pytest.mark.parametrize("method", METHODS)
def test_ss_udp_through_ss_tunnel(postern, tmp_path, method):
    """ss-tunnel -u forwards a local UDP port through the entrance's Shadowsocks UDP relay
    to a UDP echo: datagrams come back whole (ss-libev's own bound is about 1.4 KB), the
    user is the one whose key opens them (carol: the second key tried)."""
    echo = UdpEcho(name="uecho")
    try:
        p = entrance(postern, tmp_path, method)
        sizes = [1, 700, 1300, 1]
        for pw, user in (("alice-ss-key-1", "alice"), ("carol-ss-key-3", "carol")):
            with SsLocal(tmp_path, p.ss, pw, method, tool="ss-tunnel",
                         extra=("-u", "-L", f"{LOOPBACK}:{echo.port}")) as tun:
                got = udp_round_trips(tun.port, sizes)
                assert got == [bytes([i + 1]) * n for i, n in enumerate(sizes)], \
                    [None if g is None else len(g) for g in got]
            st = user_stats(p, user, start=p.mark())
            # conns: the UDP session, and the TCP probe of ss-tunnel's port by wait_port
            assert st["up"] == sum(sizes) and st["down"] == sum(sizes) and st["conns"] >= 1, st
        # A wrong key, a disabled user: nothing comes back, each is logged (UDP only, -U:
        # no TCP connection whose refusal would take the once-a-second note first).
        for pw, why in (("wrong-password", r"ss udp: authentication failed"),
                        ("bob-ss-key-2", r"user bob: ss udp: disabled")):
            mark = p.mark()
            with SsLocal(tmp_path, p.ss, pw, method, tool="ss-tunnel",
                         extra=("-U", "-L", f"{LOOPBACK}:{echo.port}")) as tun:
                assert udp_round_trips(tun.port, [10, 10, 10], timeout=0.5) == [None] * 3
            p.wait_for_log(why, start=mark, timeout=5)
        # Garbage at the relay's port is dropped; the relay goes on. Sizes around the
        # method's salt and tag (6 more failures: 9 in all, under the guard's 10).
        ov = (16 if method == "aes-128-gcm" else 32) + 16
        g = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for n in (0, 1, ov - 1, ov, ov + 1, 1500):
            g.sendto(os.urandom(n), (LOOPBACK, p.ss))
        g.close()
        with SsLocal(tmp_path, p.ss, "alice-ss-key-1", method, tool="ss-tunnel",
                     extra=("-u", "-L", f"{LOOPBACK}:{echo.port}")) as tun:
            assert udp_round_trips(tun.port, [5]) == [b"\x01" * 5]
        assert p.alive()
    finally:
        echo.stop()


def test_ss_udp_through_a_node(postern, tmp_path):
    """The Shadowsocks UDP relay with via=: the datagrams leave through a node's tunnel
    (a UDP signal with TARGET, docs/protocol.md §5.2) and come back whole."""
    echo = UdpEcho(name="uecho")
    try:
        nport = free_port()
        node = postern.run([f"server://nodekey@{LOOPBACK}:{nport}/{LOOPBACK}:9"
                            f"?mode=2&egress=1&allow=127.0.0.0/8"])
        node.wait_port(nport)
        ss = free_port()
        p = start_proxy(postern, write_users(tmp_path / "users.json", USERS),
                        params=f"ss={LOOPBACK}:{ss}&method=aes-256-gcm"
                               f"&via=nodekey@{LOOPBACK}:{nport}?min=2")
        p.wait_for_log(rf"via {LOOPBACK}:{nport}: connected to", timeout=10)
        with SsLocal(tmp_path, ss, "carol-ss-key-3", "aes-256-gcm", tool="ss-tunnel",
                     extra=("-u", "-L", f"{LOOPBACK}:{echo.port}")) as tun:
            sizes = [1, 1300, 2]
            assert udp_round_trips(tun.port, sizes) == [bytes([i + 1]) * n for i, n in enumerate(sizes)]
        assert echo.rx_datagrams == len(sizes)
    finally:
        echo.stop()
