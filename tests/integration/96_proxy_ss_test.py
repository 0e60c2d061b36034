"""proxy://...?ss=<port> (docs/proxy.md): Shadowsocks AEAD on a second port of the proxy
entrance. Debian's ss-local (shadowsocks-libev), started by the test with its own config
file, sits in front of the entrance; curl goes through ss-local's SOCKS5 port to a local
web server: both ciphers, 64 MiB by sha256, the user's counters; a wrong password, a
disabled user, a garbage first chunk and a replayed opening (sealed by Python's
`cryptography`) close only their connection; a key changed by SIGHUP applies."""
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

USERS = [
    {"name": "alice", "key": "alice-ss-key-1", "password": "alice-pw"},
    {"name": "carol", "key": "carol-ss-key-3"},
    {"name": "bob", "key": "bob-ss-key-2", "enabled": False},
]


def entrance(postern, tmp_path, method):
    ss = free_port()
    p = start_proxy(postern, write_users(tmp_path / "users.json", USERS),
                    params=f"allow=127.0.0.0/8,::1&ss={LOOPBACK}:{ss}&method={method}",
                    env={"POSTERN_HANDSHAKE_TIMEOUT": "1500ms"})
    wait_port(ss, timeout=5)
    p.ss = ss
    return p


class SsLocal:
    """ss-local with a config file (the password stays out of argv), stopped by PID."""

    def __init__(self, tmp_path, server_port, password, method):
        self.port = free_port()
        conf = tmp_path / f"ss-local-{self.port}.json"
        conf.write_text(json.dumps({
            "server": LOOPBACK, "server_port": server_port, "local_address": LOOPBACK,
            "local_port": self.port, "password": password, "method": method, "timeout": 30}))
        self.proc = LoggedProcess([require_tool("ss-local"), "-c", str(conf)], merge=True,
                                  name="ss-local")

    def __enter__(self):
        self.proc.start()
        wait_port(self.port, timeout=10, proc=self.proc.proc)
        return self

    def __exit__(self, *a):
        self.proc.stop()
        self.proc.cleanup()


def get(local, url, timeout=60):
    return curl_through("--socks5-hostname", f"{LOOPBACK}:{local.port}", url, timeout=timeout)


@pytest.mark.parametrize("method", ["chacha20-ietf-poly1305", "aes-256-gcm"])
def test_ss_local_both_ciphers(postern, tmp_path, www, method):
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
    implementation of its own): EVP_BytesToKey(MD5), HKDF-SHA1 "ss-subkey", nonce 0, 1."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    pw = password.encode()
    d1 = hashlib.md5(pw).digest()
    key = d1 + hashlib.md5(d1 + pw).digest()
    salt = os.urandom(32)
    sub = HKDF(algorithm=hashes.SHA1(), length=32, salt=salt, info=b"ss-subkey").derive(key)
    a = (AESGCM if method == "aes-256-gcm" else ChaCha20Poly1305)(sub)
    body = b"\x03" + bytes([len(host)]) + host.encode() + port.to_bytes(2, "big") + payload
    return (salt + a.encrypt(bytes(12), len(body).to_bytes(2, "big"), None) +
            a.encrypt((1).to_bytes(12, "little"), body, None))


def test_ss_replayed_opening_refused(postern, tmp_path, www):
    port, _, small = www
    method = "aes-256-gcm"
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
