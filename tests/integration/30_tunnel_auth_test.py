"""Tunnel authentication: a wrong key is refused on both sides, a recorded control
connection cannot be replayed, a data connection with a forged proof is closed, the
key never shows up in any output."""
import os
import signal
import time

import pytest

from conftest import connect, id_handler
from tunnel_util import (ATTACHED_RE, AUTH_RE, CONNECTED_RE, PREAMBLE_CONTROL, PREAMBLE_DATA,
                         count_lines, data_hello, expect_no_data, kill9, read_until_closed,
                         relays, tunnel, wait_curl)  # noqa: F401 - fixtures


def new_key(tag):
    return f"{tag}{os.urandom(8).hex()}"


def test_wrong_key_is_refused_by_both_sides(tunnel, backends):
    key_a, key_b = new_key("keyA"), new_key("keyB")
    greeting = b"backend-greeting-" + os.urandom(4).hex().encode()
    b = backends(id_handler(greeting.decode()), name="greeter")
    t = tunnel("reverse", b.port, server_key=key_a, client_key=key_b,
               env={"POSTERN_POOL_WAIT": "2s"})
    server = t.start_server()
    client = t.start_client()
    server.wait_for_log(AUTH_RE, timeout=10)
    client.wait_for_log(AUTH_RE, timeout=10)

    # a user of the server's target port gets nothing from the client's backend
    how = expect_no_data(t.user_port, timeout=5)
    assert b.accepted == 0, f"the backend got {b.accepted} connection(s) ({how})"

    assert count_lines(server, ATTACHED_RE) == 0, server.output()
    assert count_lines(client, CONNECTED_RE) == 0, client.output()
    for p in (server, client):
        p.stop(signal.SIGTERM)
        out = p.output()
        assert key_a not in out and key_b not in out, f"a key appears in the output:\n{out}"


def test_replayed_control_connection_is_not_attached(tunnel, relays, http_server):
    port, path, content = http_server
    key = new_key("replay")
    t = tunnel("reverse", port, key=key)
    server = t.start_server()
    relay = relays(t.tunnel_port, name="recorder")
    t.client_dial_port = relay.port
    client = t.start_client()
    t.wait_ready()
    wait_curl(t.user_port, path, content, timeout=10)

    ctl = relay.wait(lambda cs: [c for c in cs if c.kind == b"C"], timeout=5,
                     what="a control connection")[0]
    recorded = bytes(ctl.c2s)
    assert recorded.startswith(PREAMBLE_CONTROL) and len(recorded) > 100, recorded[:40]
    assert count_lines(server, ATTACHED_RE) == 1

    def replay():
        with connect(t.tunnel_port) as s:
            s.sendall(recorded)
            data, how = read_until_closed(s, timeout=8)
        assert how != "open", \
            f"the server kept a replayed control connection open ({len(data)} bytes sent back)"

    # 1. while the real client is attached: refused, and the session keeps working
    replay()
    wait_curl(t.user_port, path, content, timeout=10, what="curl after the replay")
    assert count_lines(server, ATTACHED_RE) == 1, server.output()
    assert client.alive()

    # 2. with the real client gone (killed: its connections are closed at once), a
    #    replay still does not attach ...
    kill9(client)
    # the relay passes the client's EOF on: from then on the server sees the session end
    relay.wait(lambda cs: ctl.closed, timeout=5,
               what="the killed client's control connection to close")
    for _ in range(4):
        time.sleep(0.25)  # spread the replays over a second after the session ended
        replay()
    assert count_lines(server, ATTACHED_RE) == 1, server.output()

    # ... while a genuine client can attach right after, so the server was free
    t.client_dial_port = None
    mark_s = server.mark()
    fresh = t.start_client()
    t.wait_ready(client=fresh, server_start=mark_s)
    wait_curl(t.user_port, path, content, timeout=10, what="curl with the fresh client")
    assert count_lines(server, ATTACHED_RE) == 2, server.output()


def test_forged_data_proof_is_closed_and_logged(tunnel, http_server):
    port, path, content = http_server
    t = tunnel("reverse", port, key=new_key("forge")).start()
    wait_curl(t.user_port, path, content, timeout=10)
    mark = t.server.mark()
    with connect(t.tunnel_port) as s:
        s.sendall(PREAMBLE_DATA + data_hello(os.urandom(16), os.urandom(32)))
        data, how = read_until_closed(s, timeout=5)
    assert data == b"", f"the server answered a forged DATA_HELLO with {data[:40]!r}"
    assert how != "open", "the server kept a data connection with a forged proof open"
    t.server.wait_for_log(r"(?i)bad proof", timeout=5, start=mark)
    wait_curl(t.user_port, path, content, timeout=10, what="curl after the forged proof")
    assert count_lines(t.server, ATTACHED_RE) == 1


@pytest.mark.parametrize("first", ["server", "client"], ids=["server-first", "client-first"])
def test_key_never_in_debug_output_and_sigterm_exits_0(first, tunnel, http_server):
    port, path, content = http_server
    key = new_key("Sekr3t")
    t = tunnel("reverse", port, key=key, server_params="log=debug",
               client_params="log=debug").start()
    wait_curl(t.user_port, path, content, timeout=10)
    # an idle user connection stays open across the shutdown
    idle = connect(t.user_port)
    try:
        order = [t.server, t.client] if first == "server" else [t.client, t.server]
        for p in order:
            rc, elapsed = p.stop(signal.SIGTERM, timeout=5.0)
            who = "server" if p is t.server else "client"
            assert rc is not None, f"{who} still running 5 s after SIGTERM (killed)"
            assert rc == 0, f"{who} exited with {rc} after SIGTERM"
            assert elapsed < 5.0
    finally:
        idle.close()
    for p in (t.server, t.client):
        out = p.output()
        assert len(p.lines()) > 3, f"expected debug output, got:\n{out}"
        assert key not in out, "the key appears in the output:\n" + "\n".join(
            line for line in out.splitlines() if key in line)
