"""Helpers of the proxy entrance's tests (96_proxy_*): start proxy:// with a users file,
PROXY_USER lines, curl through it; and the raw SOCKS5 client of harness/socks.py (the
shapes curl never sends), imported from here by the tests."""
import json
import os
import re
import subprocess

import pytest

from conftest import LOOPBACK, free_port, require_tool, serve_directory
from harness.socks import (closed_within, recv_n, socks_addr, socks_open,  # noqa: F401
                            socks_reply)

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


