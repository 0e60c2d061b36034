"""Helpers for the cluster tests (94_hub_cluster_*): several hubs sharing one Redis
(docs/hub.md "Several hubs as one"), on top of hub_util.py.

- RedisServer     a redis-server of the test's own on 127.0.0.1 (its own port and
                  directory, no persistence, optional requirepass), started and stopped
                  by PID; start() again on the same port after stop()
- cluster_hub()   a Hub of a HubStack with cluster=redis://127.0.0.1:<port>, id=, peer= and
                  cluster_secret= (the same secret for every hub unless told)
- remote_route()  a hub's HUB_STATE "cluster.remote" entry for a route key, or None
- redis           a fixture: a RedisServer of the test's own, started (import it)
"""
import socket
import time
from pathlib import Path

import pytest

from conftest import free_port, require_tool
from harness.procs import LoggedProcess

CLUSTER_ENV = {"POSTERN_CLUSTER_TTL": "1500ms"}


class RedisServer:
    """redis-server on 127.0.0.1:<port> with its files in <directory>."""

    def __init__(self, directory, password=None):
        require_tool("redis-server")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.password = password
        self.proc = None
        self.procs = []

    def start(self, timeout=10.0):
        conf = self.dir / "redis.conf"
        lines = [f"port {self.port}", "bind 127.0.0.1", f"dir {self.dir}", "save \"\"",
                 "appendonly no", "daemonize no", "protected-mode no", "loglevel warning"]
        if self.password:
            lines.append(f"requirepass {self.password}")
        conf.write_text("\n".join(lines) + "\n")
        self.proc = LoggedProcess(["redis-server", str(conf)], merge=True, name="redis-server")
        self.proc.start()
        self.procs.append(self.proc)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("redis-server did not start:\n" + self.proc.output())
                time.sleep(0.05)

    def stop(self):
        self.proc.stop()

    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def keys(self, pattern):
        """KEYS <pattern> (no password), as a set of str: what the registry holds."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(f"KEYS {pattern}\r\n".encode())
            f = s.makefile("rb")
            head = f.readline()
            assert head.startswith(b"*"), head
            out = set()
            for _ in range(int(head[1:])):
                n = int(f.readline()[1:])
                out.add(f.read(n + 2)[:n].decode())
            return out

    def cleanup(self):
        for p in self.procs:
            p.cleanup()


CLUSTER_SECRET = "cluster-secret-" + "k" * 24


def cluster_hub(stack, accounts, redis, hub_id, env=None, url=None, secret=CLUSTER_SECRET, **kw):
    """A hub of <stack> in the cluster on <redis> under id <hub_id>, taking other hubs'
    users on peer=127.0.0.1:<fresh port> with <secret> (written to a file of its own)."""
    params = kw.pop("params", "")
    path = Path(stack.dir) / f"{hub_id}.secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secret + "\n")
    # Hubs on one machine: each binds its tcp/udp routes on an address of its own
    # (public=), as hubs on several machines would, since every hub also listens
    # on the ports of the other hubs' tcp routes.
    public = f"127.0.1.{len(stack.hubs) + 1}"
    q = (f"cluster={url or redis.url()}&id={hub_id}&peer=127.0.0.1:{free_port()}"
         f"&cluster_secret={path}&public={public}")
    e = dict(CLUSTER_ENV, **(env or {}))
    h = stack.hub(accounts, params=q + ("&" + params if params else ""), env=e, **kw)
    h.public = public
    return h


def remote_route(state, key):
    for r in (state.get("cluster") or {}).get("remote", []):
        if r["route"] == key:
            return r
    return None


@pytest.fixture
def redis(tmp_path):
    """A RedisServer of the test's own in <tmp_path>/redis, started; stopped after."""
    r = RedisServer(tmp_path / "redis").start()
    yield r
    r.cleanup()
