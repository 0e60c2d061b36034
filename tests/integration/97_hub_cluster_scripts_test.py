"""The registry's Lua scripts are sent once per connection (SCRIPT LOAD) and named by
their SHA-1 afterwards (EVALSHA, docs/hub.md §7): a Redis that lost them (SCRIPT FLUSH)
answers NOSCRIPT; the hub loads them again, and the claim refused meanwhile (UNAVAILABLE,
asked again by its agent) is granted."""
import re
import socket

from cluster_util import cluster_hub, redis  # noqa: F401
from conftest import echo_handler
from hub_util import Route, account, hubstack, port_block  # noqa: F401


def redis_cmd(redis, *args):
    req = f"*{len(args)}\r\n" + "".join(f"${len(str(a))}\r\n{a}\r\n" for a in args)
    with socket.create_connection(("127.0.0.1", redis.port), timeout=5) as s:
        s.sendall(req.encode())
        return s.makefile("rb").readline().decode().strip()


def test_scripts_flushed_are_loaded_again(redis, hubstack):
    st = hubstack
    base = port_block(2)
    alice = account("alice")
    a = cluster_hub(st, [alice], redis, "hub-a", http=False, ports=(base, base + 1))
    a.wait_state(lambda s: s["cluster"]["redis"] == "up", timeout=10)
    echo = st.tcp(echo_handler, name="echo")
    st.agent(a, alice["token"], [Route("tcp", echo.port, port=base)])
    assert redis_cmd(redis, "SCRIPT", "FLUSH") == "+OK"
    mark = a.proc.mark()
    late = Route("tcp", echo.port, port=base + 1)
    ag = st.agent(a, alice["token"], [late], wait=False)
    a.proc.wait_for_log(r"Redis lost the registry's scripts: loading them again", timeout=10,
                        start=mark)
    # refused once while the scripts were gone, asked again, then granted
    m = ag.proc.wait_for_log(rf"route tcp:{base + 1} registered", timeout=15)
    assert m is not None
    assert any(re.search(r"refused \(UNAVAILABLE\)", ln) for ln in ag.proc.lines()), \
        "\n".join(ag.proc.lines())
    assert redis_cmd(redis, "EXISTS", f"pn:r:tcp:{base + 1}") == ":1"
