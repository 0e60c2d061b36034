"""Hubs that find Redis through Sentinel (docs/hub.md §7, cluster=redis-sentinel://...):
a Redis master and its replica, two Sentinels watching them (redis-server --sentinel),
all started by the test on loopback. Two hubs ask the Sentinels for the master (the first
Sentinel named in the URL is not there: the next is asked), claim through it; when the
master is killed, the Sentinels promote the replica and the hubs follow: a route claimed
before still holds, a new one is claimed on the new master and refused on the other hub."""
import socket
import time
from pathlib import Path

from cluster_util import cluster_hub
from conftest import echo_handler, free_port, require_tool, wait_until
from harness.procs import LoggedProcess
from hub_util import Route, account, hubstack, port_block  # noqa: F401

MASTER = "pm"


def resp(port, *args, timeout=5):
    """One command to 127.0.0.1:<port>; the reply as str (bulk, simple), list of str
    (an array of bulk strings), int, or None (nil)."""
    req = f"*{len(args)}\r\n" + "".join(f"${len(str(a))}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(req.encode())
        f = s.makefile("rb")

        def one():
            head = f.readline()
            t, rest = head[:1], head[1:].strip()
            if t in (b"+", b"-"):
                return rest.decode()
            if t == b":":
                return int(rest)
            if t == b"$":
                n = int(rest)
                return None if n < 0 else f.read(n + 2)[:n].decode()
            if t == b"*":
                n = int(rest)
                return None if n < 0 else [one() for _ in range(n)]
            raise AssertionError(f"unexpected reply {head!r}")
        return one()


class RedisProc:
    """redis-server (or a Sentinel) on 127.0.0.1 with <lines> of configuration."""

    def __init__(self, directory, name, lines, sentinel=False):
        require_tool("redis-server")
        self.dir = Path(directory) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = self.dir / "redis.conf"
        conf.write_text("\n".join([f"port {self.port}", "bind 127.0.0.1", f"dir {self.dir}",
                                   "daemonize no", "protected-mode no", "loglevel notice"]
                                  + lines) + "\n")
        argv = ["redis-server", str(conf)] + (["--sentinel"] if sentinel else [])
        self.proc = LoggedProcess(argv, merge=True, name=name)
        self.proc.start()
        wait_until(self._answers, 10, interval=0.05, what=f"{name} to answer")

    def _answers(self):
        if self.proc.proc.poll() is not None:
            raise AssertionError(f"{self.proc.name} exited:\n" + self.proc.output())
        try:
            return resp(self.port, "PING") == "PONG"
        except OSError:
            return False


def test_hubs_follow_a_sentinel_failover(tmp_path, hubstack):
    st = hubstack
    base = port_block(4)
    data = ["save \"\"", "appendonly no"]
    master = RedisProc(tmp_path, "redis-master", data)
    replica = RedisProc(tmp_path, "redis-replica", data + [f"replicaof 127.0.0.1 {master.port}"])
    sent = [RedisProc(tmp_path, f"sentinel-{i}", [
        f"sentinel monitor {MASTER} 127.0.0.1 {master.port} 1",
        f"sentinel down-after-milliseconds {MASTER} 1000",
        f"sentinel failover-timeout {MASTER} 4000"], sentinel=True) for i in range(2)]
    procs = [master, replica] + sent
    try:
        wait_until(lambda: "master_link_status:up" in resp(replica.port, "INFO", "replication"),
                   20, interval=0.2, what="the replica in sync")
        for s in sent:
            wait_until(lambda s=s: len(resp(s.port, "SENTINEL", "replicas", MASTER) or []) == 1
                       and len(resp(s.port, "SENTINEL", "sentinels", MASTER) or []) == 1,
                       30, interval=0.2, what="each Sentinel knowing the replica and the other")
        nobody = free_port()        # a Sentinel that is not there: the next one is asked
        url = (f"redis-sentinel://127.0.0.1:{nobody},127.0.0.1:{sent[0].port},"
               f"127.0.0.1:{sent[1].port}/{MASTER}")
        alice, bob = account("alice"), account("bob")
        a = cluster_hub(st, [alice, bob], None, "hub-a", url=url, http=False,
                        ports=(base, base + 3))
        b = cluster_hub(st, [alice, bob], None, "hub-b", url=url, http=False,
                        ports=(base, base + 3))
        for h in (a, b):
            h.wait_state(lambda s: s["cluster"]["redis"] == "up", timeout=10)
            h.proc.wait_for_log(rf"Sentinel 127\.0\.0\.1:{sent[0].port} names 127\.0\.0\.1:"
                                rf"{master.port} the master of {MASTER}", timeout=10)
        echo = st.tcp(echo_handler, name="echo")
        st.agent(a, alice["token"], [Route("tcp", echo.port, port=base)])
        assert resp(master.port, "GET", f"pn:r:tcp:{base}", timeout=5).split("|")[1] == "hub-a"

        # the master dies; a Sentinel promotes the replica; the hubs follow it
        mark = [h.proc.mark() for h in (a, b)]
        master.proc.kill()
        wait_until(lambda: resp(sent[1].port, "SENTINEL", "get-master-addr-by-name", MASTER)
                   == ["127.0.0.1", str(replica.port)], 30, interval=0.2,
                   what="the Sentinels naming the replica the master")
        for h, m in zip((a, b), mark):
            h.proc.wait_for_log(rf"Redis 127\.0\.0\.1:{replica.port} connected", timeout=20,
                                start=m)
            h.wait_state(lambda s: s["cluster"]["redis"] == "up", timeout=10)
        # the route claimed before holds (replicated, or claimed again by hub-a's
        # reconcile), a new claim works on the new master and is refused on the other hub
        st.agent(b, bob["token"], [Route("tcp", echo.port, port=base + 1)])
        taken = st.agent(a, alice["token"], [Route("tcp", echo.port, port=base + 1)],
                         wait=False)
        assert taken.refused(Route("tcp", echo.port, port=base + 1)) == \
            f"tcp port {base + 1} is taken"
        deadline = time.monotonic() + 10
        while resp(replica.port, "GET", f"pn:r:tcp:{base}") is None:
            assert time.monotonic() < deadline, "hub-a's route is not in the new master"
            time.sleep(0.1)
        assert resp(replica.port, "GET", f"pn:r:tcp:{base}").split("|")[1] == "hub-a"
        assert resp(replica.port, "GET", f"pn:r:tcp:{base + 1}").split("|")[1] == "hub-b"
    finally:
        for p in procs:
            p.proc.cleanup()
