"""Helpers of the proxy entrance's tests (96_proxy_*): start proxy:// with a users file,
a raw SOCKS5 client (the shapes curl never sends), PROXY_USER lines, curl through it."""
import json
import os
import re
import socket
import struct
import subprocess

import pytest

from conftest import LOOPBACK, free_port, require_tool, serve_directory

USER_RE = r"PROXY_USER\|(\{.*\})"


@pytest.fixture
def www(tmp_path):
    """A web server over a fresh directory: (port, root, small), small.bin = 300 KiB random."""
    root = tmp_path / "www"
    root.mkdir()
    small = os.urandom(300 * 1024)
    (root / "small.bin").write_bytes(small)
    for port in serve_directory(root):
        yield port, root, small


def write_users(path, users):
    path.write_text(json.dumps({"users": users}))
    return path


def start_proxy(postern, users_path, params="allow=127.0.0.0/8,::1", env=None):
    """proxy://127.0.0.1:<free>?users=<file>[&params] running and listening."""
    env = dict(env or {})
    env.setdefault("POSTERN_REPORT_INTERVAL", "200ms")
    last = None
    for _ in range(3):
        port = free_port()
        url = f"proxy://{LOOPBACK}:{port}?users={users_path}"
        if params:
            url += "&" + params
        p = postern.run([url], env)
        p.port = port
        try:
            p.wait_port()
            # printed once SIGHUP is watched: a test's reload is not lost
            p.wait_for_log(r"proxy: listening on ", timeout=10)
            return p
        except AssertionError as e:
            last = e
            p.cleanup()
    raise last


def user_stats(proc, name, timeout=5.0, start=0):
    """The last PROXY_USER object of <name> after <start> (waits for one)."""
    proc.wait_for_log(USER_RE.replace(r"(\{.*\})", r'\{"name":"' + re.escape(name) + '"'),
                      timeout=timeout, start=start)
    last = None
    for line in proc.lines()[start:]:
        m = re.search(USER_RE, line)
        if m:
            o = json.loads(m.group(1))
            if o["name"] == name:
                last = o
    return last


def curl_through(*args, timeout=60):
    """curl with the given proxy arguments (no proxy environment)."""
    require_tool("curl")
    env = {"PATH": "/usr/bin:/bin"}
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout - 5)] + list(args),
                          capture_output=True, timeout=timeout, env=env)


def socks_addr(host, port):
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host) + struct.pack(">H", port)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack(">H", port)
    except OSError:
        h = host.encode()
        return b"\x03" + bytes([len(h)]) + h + struct.pack(">H", port)


def recv_n(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError(f"closed after {len(b)} of {n} bytes")
        b += c
    return b


def socks_reply(s):
    """Read a SOCKS5 reply: (REP, (host, port))."""
    head = recv_n(s, 4)
    atyp = head[3]
    if atyp == 1:
        host = socket.inet_ntop(socket.AF_INET, recv_n(s, 4))
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, recv_n(s, 16))
    else:
        host = recv_n(s, recv_n(s, 1)[0]).decode()
    port = struct.unpack(">H", recv_n(s, 2))[0]
    return head[1], (host, port)


def socks_open(port, user, pw, host, dport, cmd=1, timeout=5.0):
    """Greet, authenticate and send a request. Returns (socket, auth status, REP,
    bound address); REP is None when the authentication failed."""
    s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    s.sendall(b"\x05\x01\x02")
    assert recv_n(s, 2) == b"\x05\x02"
    u, p = user.encode(), pw.encode()
    s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
    ver, status = recv_n(s, 2)
    assert ver == 1
    if status != 0:
        return s, status, None, None
    s.sendall(b"\x05" + bytes([cmd]) + b"\x00" + socks_addr(host, dport))
    rep, bnd = socks_reply(s)
    return s, status, rep, bnd


def closed_within(s, seconds):
    """True when the peer closes <s> (EOF or reset) within <seconds>, reading what comes."""
    s.settimeout(seconds)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
