"""TLS on the listener: tls=1 (in-memory self-signed ECDSA, TLS 1.3) and tls=2
(certificate files, reloaded when they change on disk)."""
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse

import pytest

from conftest import (IO_TIMEOUT, curl, pem_fingerprint, recorder_handler, recv_all,
                      require_tool)


def test_tls1_openssl_s_client_tls13_ecdsa(postern, backends):
    require_tool("openssl")
    rec = backends(recorder_handler, name="recorder")
    p = postern.client([rec.port], "tls=1")
    token = b"through-tls-" + os.urandom(8).hex().encode()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{p.port}", "-tls1_3"],
                       input=token + b"\n", capture_output=True, timeout=20)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out + r.stderr.decode(errors="replace")
    assert "New, TLSv1.3" in out, out
    assert "Peer signature type: ECDSA" in out, out
    assert "id-ecPublicKey, 256" in out, out      # a P-256 key in the certificate
    rec.wait_record(lambda data: token in data, timeout=5)


def test_tls1_curl_insecure_gets_the_file(postern, http_server):
    port, path, content = http_server
    p = postern.client([port], "tls=1")
    r = curl("-k", f"https://127.0.0.1:{p.port}{path}")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == content


def tls_connect(port, cafile):
    """TLS 1.3 connection to 127.0.0.1:<port>, verified against <cafile> for 'localhost'."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    try:
        return ctx.wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def peer_fingerprint(port, cafile):
    with tls_connect(port, cafile) as s:
        return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def http_get(sock, path):
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
    resp = recv_all(sock, limit=10 << 20)
    head, _, body = resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head[:100]
    return body


def test_tls2_ca_signed_cert_and_live_reload(postern, http_server, certs, tmp_path):
    port, path, content = http_server
    crt1, key1 = certs.leaf("leaf1", serial=1001)
    crt2, key2 = certs.leaf("leaf2", serial=1002)
    fp1, fp2 = pem_fingerprint(crt1), pem_fingerprint(crt2)
    assert fp1 != fp2

    live = tmp_path / "live"
    live.mkdir()
    crt, key = live / "server.pem", live / "server.key"
    shutil.copy(crt1, crt)
    shutil.copy(key1, key)
    # Date the first pair in the past, so that the swap below changes the mtime even
    # for a checker with one-second resolution.
    past = time.time() - 60
    for f in (crt, key):
        os.utime(f, (past, past))

    q = urllib.parse.quote
    p = postern.client([port], f"tls=2&crt={q(str(crt), safe='/')}&key={q(str(key), safe='/')}")

    r = curl("--cacert", str(certs.ca_pem), "--resolve", f"localhost:{p.port}:127.0.0.1",
             f"https://localhost:{p.port}{path}")
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stdout == content

    assert peer_fingerprint(p.port, certs.ca_pem) == fp1
    old = tls_connect(p.port, certs.ca_pem)      # opened before the swap
    try:
        assert hashlib.sha256(old.getpeercert(binary_form=True)).hexdigest() == fp1

        # Swap in the second pair: write beside, then rename over (key first).
        for src, dst in ((key2, key), (crt2, crt)):
            tmp = dst.with_suffix(".new")
            shutil.copy(src, tmp)
            os.replace(tmp, dst)

        seen = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            seen.append(peer_fingerprint(p.port, certs.ca_pem))
            if seen[-1] == fp2:
                break
            time.sleep(0.2)
        assert seen[-1] == fp2, (f"new certificate not served within 5 s of the swap "
                                 f"({len(seen)} handshakes, all with the old one)")

        r = curl("--cacert", str(certs.ca_pem), "--resolve", f"localhost:{p.port}:127.0.0.1",
                 f"https://localhost:{p.port}{path}")
        assert r.returncode == 0, r.stderr.decode(errors="replace")
        assert r.stdout == content

        # The connection from before the swap still carries traffic.
        assert http_get(old, path) == content
    finally:
        old.close()


def test_tls_requires_tls13(postern, echo_backend):
    """tls=1 is TLS 1.3 only: a TLS 1.2-only client must not get a session."""
    p = postern.client([echo_backend.port], "tls=1")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", p.port), timeout=IO_TIMEOUT) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with ctx.wrap_socket(raw) as s:
                s.sendall(b"x")
                s.recv(1)
