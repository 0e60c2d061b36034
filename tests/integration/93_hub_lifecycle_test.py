"""Hub and agent lifecycle (docs/hub.md §2, §3): health probes take a route offline and
back; a killed agent started again gets its tcp port back; after a hub restart an agent asks
for the port it was given; an agent's routes file reloaded on SIGHUP (a removed route is
gone, a new one works, an unchanged one keeps its transfer); a wrong token is refused, final
(the agent exits 1) and nothing is published; the accounts file reloaded on SIGHUP (a changed token
disconnects, a bad file keeps the old accounts, new limits apply); a bad accounts file at
start is exit 2 naming its place. A hub per test."""
import hashlib
import json
import re
import signal
import socket
import struct
import threading
import time

import pytest

from conftest import ask_id, echo_handler, free_port, id_handler, wait_until
from hub_util import (AUTH_FAIL_RE, HUB_ENV, Route, account, assert_page, backend_of,
                      echo_once, http_request, hubstack, paced_source_handler,  # noqa: F401
                      hub_psk_hex, hub_psk_identity, parse_tlvs, port_block,
                      s_client_hub, state_account, state_route, wait_status)
from limits_util import closed_promptly
from tunnel_util import count_lines
from udp_util import tcp_refused


def _not_200(r):
    return not (hasattr(r, "status") and r.status == 200)


# --------------------------------------------------------------------------------------
# health probes
# --------------------------------------------------------------------------------------

def test_http_probe_takes_the_route_offline_and_back(hubstack):
    acct = account("probed")
    hub = hubstack.hub([acct])
    web = hubstack.http_echo("P")
    hubstack.agent(hub, acct["token"], [Route("http", web.port, host="p.hub.test",
                                              probe="http:/health", probe_interval="200ms")])
    wait_status(hub.http_port, "p.hub.test", lambda r: backend_of(r) == "P", timeout=3,
                what="the probed route online")
    web.wait(lambda b: b.health_checks >= 3, timeout=3, what="probes every 200ms")

    web.healthy = False
    t0 = time.monotonic()
    r = wait_status(hub.http_port, "p.hub.test", _not_200, timeout=3, keepalive=True,
                    check_close=True, what="502 after /health fails")
    took = time.monotonic() - t0
    assert_page(r, 502, 'the service for "p.hub.test" is not connected')
    assert took <= 2.5, f"the route went offline {took:.2f}s after /health failed"
    s = hub.wait_state(lambda s: state_route(s, "p.hub.test")["online"] == 0, timeout=3,
                       what="HUB_STATE with p.hub.test offline")
    assert state_route(s, "p.hub.test")["members"] == 1
    before = web.count("/x")
    for _ in range(3):
        assert http_request(hub.http_port, "p.hub.test", "/x").status == 502
    assert web.count("/x") == before, "requests reached an offline route's backend"

    web.healthy = True
    t0 = time.monotonic()
    wait_status(hub.http_port, "p.hub.test", lambda r: backend_of(r) == "P", timeout=3,
                what="the route online again after /health recovers")
    assert time.monotonic() - t0 <= 2.5


def test_probe_moves_a_groups_traffic_to_the_healthy_member(hubstack):
    acct = account("grouped")
    hub = hubstack.hub([acct])
    w1, w2 = hubstack.http_echo("G1"), hubstack.http_echo("G2")
    for w in (w1, w2):
        hubstack.agent(hub, acct["token"], [Route("http", w.port, host="pg.hub.test",
                                                  group_key="pgk", probe="http:/health",
                                                  probe_interval="200ms")], label=w.name)
    hub.wait_state(lambda s: state_route(s, "pg.hub.test")["online"] == 2, timeout=5,
                   what="HUB_STATE with both members online")
    seen = {backend_of(http_request(hub.http_port, "pg.hub.test", "/")) for _ in range(6)}
    assert seen == {"G1", "G2"}, seen

    w1.healthy = False
    hub.wait_state(lambda s: state_route(s, "pg.hub.test")["online"] == 1, timeout=3,
                   what="HUB_STATE with one member online")
    got = [backend_of(http_request(hub.http_port, "pg.hub.test", f"/one/{i}")) for i in range(10)]
    assert got == ["G2"] * 10, f"with G1's probe failing, requests went to {got}"

    w1.healthy = True
    hub.wait_state(lambda s: state_route(s, "pg.hub.test")["online"] == 2, timeout=3,
                   what="HUB_STATE with both members online again")
    got = {backend_of(http_request(hub.http_port, "pg.hub.test", f"/two/{i}")) for i in range(6)}
    assert got == {"G1", "G2"}, got


def test_tcp_probe_offline_closes_connections_and_recovers(hubstack):
    base = port_block(4)
    acct = account("tcpprobe")
    hub = hubstack.hub([acct], http=False, ports=(base, base + 3))
    echo = hubstack.tcp(echo_handler, name="echo")
    local = echo.port
    p = base + 1
    hubstack.agent(hub, acct["token"], [Route("tcp", local, port=p, probe="tcp",
                                              probe_interval="200ms")])
    assert echo_once(p) is True
    echo.stop()
    hub.wait_state(lambda s: state_route(s, str(p), "tcp")["online"] == 0, timeout=3,
                   what="HUB_STATE with the tcp route offline after its service stopped")
    with socket.create_connection(("127.0.0.1", p), timeout=5) as c:
        how, data, _ = closed_promptly(c, within=3, send=b"anyone?")
    assert how in ("eof", "reset") and data == b"", (how, data)
    back = hubstack.tcp_on(echo_handler, local, name="echo-again")
    assert back.port == local
    hub.wait_state(lambda s: state_route(s, str(p), "tcp")["online"] == 1, timeout=3,
                   what="HUB_STATE with the tcp route online again")
    wait_until(lambda: echo_once(p) is True, timeout=3, what="echo after the service is back")


def test_probe_of_a_service_down_from_the_start_marks_it_offline(hubstack):
    acct = account("deadstart")
    hub = hubstack.hub([acct])
    dead = free_port()
    hubstack.agent(hub, acct["token"], [Route("http", dead, host="d.hub.test",
                                              probe="http:/health", probe_interval="200ms")])
    hub.wait_state(lambda s: state_route(s, "d.hub.test")["online"] == 0, timeout=3,
                   what="HUB_STATE with d.hub.test offline")
    r = http_request(hub.http_port, "d.hub.test", "/", keepalive=True, check_close=True)
    assert_page(r, 502, 'the service for "d.hub.test" is not connected')


# --------------------------------------------------------------------------------------
# restarts
# --------------------------------------------------------------------------------------

def test_killed_agent_started_again_gets_its_tcp_port_back(hubstack):
    base = port_block(10)
    acct = account("again")
    hub = hubstack.hub([acct], ports=(base, base + 9))
    echo = hubstack.tcp(echo_handler, name="echo")
    web = hubstack.http_echo("W")
    p = base + 4
    routes = [Route("tcp", echo.port, port=p), Route("http", web.port, host="again.hub.test")]
    a = hubstack.agent(hub, acct["token"], routes)
    assert a.port_of(routes[0]) == p
    assert echo_once(p) is True
    a.kill()
    mark = 0
    a.restart(wait=False)
    assert a.port_of(routes[0], timeout=10, start=mark) == p, "the port was not given back"
    a.registered(routes[1], timeout=5)
    wait_until(lambda: echo_once(p) is True, timeout=5, what=f"echo through port {p}")
    assert backend_of(http_request(hub.http_port, "again.hub.test", "/")) == "W"
    s = hub.wait_state(lambda s: len(s["clients"]) == 1, timeout=5, what="one client")
    assert state_account(s, "again")["routes"] == 2, s


def test_after_a_hub_restart_the_agent_gets_its_assigned_port_back(hubstack):
    """Agent B takes the hub's first choice, agent A the next one; B leaves; the hub is
    restarted: A reconnects and asks for the port it had, not the hub's first choice."""
    base = port_block(20)
    acct = account("sticky")
    hub = hubstack.hub([acct], http=False, ports=(base, base + 19))
    ib, ia = hubstack.tcp(id_handler("B"), name="idB"), hubstack.tcp(id_handler("A"), name="idA")
    b = hubstack.agent(hub, acct["token"], [Route("tcp", ib.port, name="first")], label="B")
    x1 = b.port_of("first")
    a = hubstack.agent(hub, acct["token"], [Route("tcp", ia.port, name="second")], label="A")
    x2 = a.port_of("second")
    assert x1 != x2 and ask_id(x2) == "A"
    b.kill()
    hub.wait_state(lambda s: len(s["clients"]) == 1, timeout=5, what="B gone")
    mark = a.proc.mark()
    hub.restart()
    got = a.port_of("second", timeout=15, start=mark)
    assert got == x2, f"after the hub restart the agent got port {got}, not its port {x2} " \
                      f"(the hub's first choice was {x1})"
    wait_until(lambda: ask_id(x2) == "A", timeout=5, what=f"port {x2} served again")
    assert a.proc.alive()


@pytest.mark.asan_skip
def test_frozen_agent_reconnects_and_asks_for_its_assigned_port(hubstack):
    """SIGSTOP keeps the agent's sockets open: the hub ends the silent session after 3
    report intervals and frees its port; thawed, the agent reconnects and asks for the
    port it was given (not the hub's first choice, which B had)."""
    base = port_block(20)
    acct = account("frozen")
    hub = hubstack.hub([acct], http=False, ports=(base, base + 19))
    ib, ia = hubstack.tcp(id_handler("B"), name="idB"), hubstack.tcp(id_handler("A"), name="idA")
    b = hubstack.agent(hub, acct["token"], [Route("tcp", ib.port, name="first")], label="B")
    x1 = b.port_of("first")
    a = hubstack.agent(hub, acct["token"], [Route("tcp", ia.port, name="second")], label="A")
    x2 = a.port_of("second")
    b.kill()
    mark = a.proc.mark()
    a.proc.proc.send_signal(signal.SIGSTOP)
    try:
        hub.wait_state(lambda s: len(s["clients"]) == 0, timeout=5,
                       what="the frozen agent's session ended by the hub")
        assert tcp_refused(x2) or ask_id(x2) is None
    finally:
        a.proc.proc.send_signal(signal.SIGCONT)
    got = a.port_of("second", timeout=10, start=mark)
    assert got == x2, f"after reconnecting the agent got port {got}, not its port {x2} " \
                      f"(the hub's first choice was {x1})"
    wait_until(lambda: ask_id(x2) == "A", timeout=5, what=f"port {x2} served again")


# --------------------------------------------------------------------------------------
# the agent's routes file
# --------------------------------------------------------------------------------------

def test_routes_file_reload_keeps_unchanged_routes_and_their_transfers(hubstack):
    base = port_block(10)
    acct = account("reloader")
    hub = hubstack.hub([acct], ports=(base, base + 9))
    total = 48 * 64 * 1024          # 3 MiB paced over about 2.5 s
    src = hubstack.tcp(paced_source_handler(total, gap=0.05), name="paced")
    echo = hubstack.tcp(echo_handler, name="echo")
    wb, wc, wu = hubstack.http_echo("B"), hubstack.http_echo("C"), hubstack.http_echo("U")
    ra = Route("tcp", src.port, port=base + 1, name="transfer")
    rb = Route("http", wb.port, host="b.hub.test")
    rd = Route("tcp", echo.port, port=base + 2)
    rc = Route("http", wc.port, host="c.hub.test")
    ru = Route("http", wu.port, host="u.hub.test")          # a URL route: never touched
    a = hubstack.agent(hub, acct["token"], [ru], config_routes=[ra, rb, rd])
    assert backend_of(http_request(hub.http_port, "b.hub.test", "/")) == "B"
    assert echo_once(base + 2) is True

    result = {}

    def download():
        h = hashlib.sha256()
        n = 0
        try:
            with socket.create_connection(("127.0.0.1", base + 1), timeout=10) as s:
                s.settimeout(10)
                while True:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                    n += len(chunk)
                    result.setdefault("first", time.monotonic())
        except OSError as e:
            result["error"] = f"{type(e).__name__}: {e}"
        result["n"], result["sha"], result["end"] = n, h.hexdigest(), time.monotonic()

    t = threading.Thread(target=download, daemon=True)
    t.start()
    wait_until(lambda: "first" in result, timeout=5, what="the transfer on route A started")
    time.sleep(0.3)

    mark = a.proc.mark()
    a.write_config([ra, rc])
    t_reload = time.monotonic()
    a.reload()
    a.registered(rc, timeout=5, start=mark)
    wait_status(hub.http_port, "b.hub.test", lambda r: hasattr(r, "status") and r.status == 404,
                timeout=5, what="404 for the removed route b")
    wait_until(lambda: tcp_refused(base + 2), timeout=5,
               what=f"the removed tcp route's port {base + 2} closed")
    assert backend_of(http_request(hub.http_port, "c.hub.test", "/")) == "C"
    assert backend_of(http_request(hub.http_port, "u.hub.test", "/")) == "U"

    t.join(timeout=20)
    assert not t.is_alive(), "the transfer on route A did not finish"
    sent = src.wait_record(lambda r: r[0] == "sent", timeout=5)
    assert "error" not in result, result
    assert result["end"] > t_reload, "the transfer ended before the reload (not a test)"
    assert (result["n"], result["sha"]) == (sent[1], sent[2]), \
        f"route A's transfer across the reload: got {result['n']} bytes, sent {sent[1]}"
    after = a.proc.lines()[mark:]
    again = [ln for ln in after if re.search(r"route (transfer|http:u\.hub\.test) registered", ln)]
    assert not again, f"unchanged routes were registered again: {again}"


def test_wrong_token_is_refused_final_and_publishes_nothing(hubstack):
    base = port_block(4)
    acct = account("right")
    hub = hubstack.hub([acct], ports=(base, base + 3))
    echo = hubstack.tcp(echo_handler, name="echo")
    web = hubstack.http_echo("W")
    wrong = "wrong-token-" + "5" * 20
    routes = [Route("tcp", echo.port, port=base + 1), Route("http", web.port, host="w.hub.test")]
    a = hubstack.agent(hub, wrong, routes, wait=False, label="wrong")
    # A wrong token is final: the agent says so and exits 1 (no retry can succeed).
    rc = a.proc.wait_exit(8)
    assert rc == 1, f"agent exit {rc} (None: still retrying):\n{a.proc.output()}"
    assert "wrong token" in a.proc.output(), a.proc.output()
    assert not any("registered" in ln for ln in a.proc.lines()), a.proc.output()
    assert tcp_refused(base + 1)
    assert http_request(hub.http_port, "w.hub.test", "/").status == 404
    s = hub.state()
    assert s["clients"] == [] and s["routes"] == [], s
    for out in (hub.proc.output(), a.proc.output()):
        assert wrong not in out and acct["token"] not in out, "a token was logged"
    a.kill()
    # the right token works from the same address
    good = hubstack.agent(hub, acct["token"], routes, label="right")
    assert good.port_of(routes[0]) == base + 1
    assert echo_once(base + 1) is True


def test_refused_route_is_retried_at_reconnection(hubstack):
    base = port_block(6)
    alice, bob = account("alice"), account("bob")
    hub = hubstack.hub([alice, bob], http=False, ports=(base, base + 5))
    i1, i2 = hubstack.tcp(id_handler("owner"), name="i1"), hubstack.tcp(id_handler("late"), name="i2")
    p = base + 2
    owner = hubstack.agent(hub, alice["token"], [Route("tcp", i1.port, port=p)], label="owner")
    late = hubstack.agent(hub, bob["token"], [Route("tcp", i2.port, port=p)], wait=False,
                          label="late")
    late.refused(f"tcp:{p}")
    owner.kill()
    mark = late.proc.mark()
    hub.restart()                      # every agent reconnects
    assert late.port_of(f"tcp:{p}", timeout=10, start=mark) == p
    wait_until(lambda: ask_id(p) == "late", timeout=5, what=f"port {p} served by bob")


def test_control_handshake_uses_the_hub_psk_and_identity(hubstack):
    """docs/hub.md §5: the PSK and its identity derive from the token; the hub answers a
    good handshake with HELLO (FLOW 0, SESSION tag), and refuses a PSK of another token
    under this identity, or an identity it does not know."""
    acct, other = account("keyed"), account("other")
    hub = hubstack.hub([acct], http=False)
    relay = hubstack.preamble_relay(hub.ctl)
    tok = acct["token"]
    rc, out, err = s_client_hub(relay.port, hub_psk_hex(tok), hub_psk_identity(tok), hold=1.0)
    assert len(out) >= 12 and out[:2] == b"\x01\x01", \
        f"no HELLO after a handshake with the token's PSK and identity: rc {rc} " \
        f"{out[:40]!r} {err[-400:]}"
    ver, ftype, flags, rsvd, stream, length = struct.unpack(">BBBBII", out[:12])
    assert (flags, rsvd, stream) == (0, 0, 0) and length == 37 + 7, out[:12].hex()
    tlv = parse_tlvs(out[12:12 + length])
    assert tlv.get(0x09) == struct.pack(">I", 30), f"EPOCH must be 30 s: {tlv}"
    assert tlv.get(0x01) == b"\x00", f"FLOW must be 0 (reverse): {tlv}"
    assert len(tlv.get(0x06, b"")) == 8, f"no 8-byte SESSION TLV: {tlv}"
    assert struct.unpack(">I", tlv[0x05])[0] == 500, "INTERVAL is not the report interval"

    for psk, ident, what in ((hub_psk_hex(other["token"]), hub_psk_identity(tok),
                              "another token's PSK under this identity"),
                             (hub_psk_hex(other["token"]), hub_psk_identity(other["token"]),
                              "an unknown identity")):
        rc, out, err = s_client_hub(relay.port, psk, ident, hold=0.5)
        assert rc not in (0, None) and not out.startswith(b"\x01\x01"), \
            f"{what}: the handshake went through (rc {rc}, {out[:20]!r})"
    assert tok not in hub.proc.output() and hub_psk_hex(tok) not in hub.proc.output()


# --------------------------------------------------------------------------------------
# the accounts file
# --------------------------------------------------------------------------------------

def test_accounts_reload_token_change_bad_file_and_new_limits(hubstack):
    alice, bob = account("alice"), account("bob")
    hub = hubstack.hub([alice, bob])
    wa, wb, wc = hubstack.http_echo("A"), hubstack.http_echo("B"), hubstack.http_echo("C")
    aa = hubstack.agent(hub, alice["token"], [Route("http", wa.port, host="al.hub.test")],
                        label="alice")
    ab = hubstack.agent(hub, bob["token"], [Route("http", wb.port, host="bo.hub.test")],
                        label="bob")
    assert backend_of(http_request(hub.http_port, "bo.hub.test", "/")) == "B"

    # bob's token changes: his agent is disconnected and cannot come back
    bob2 = dict(bob, token="bob-new-token-" + "7" * 20)
    mark_a, mark_b, mark_h = aa.proc.mark(), ab.proc.mark(), hub.proc.mark()
    hub.write_accounts([alice, bob2])
    hub.reload()
    ab.proc.wait_for_log(AUTH_FAIL_RE, timeout=6, start=mark_b)
    wait_status(hub.http_port, "bo.hub.test", _not_200, timeout=5,
                what="bob's route no longer served")
    assert backend_of(http_request(hub.http_port, "al.hub.test", "/")) == "A"
    assert count_lines(aa.proc, r"registered", start=mark_a) == 0, \
        "alice's agent was disconnected by a reload that did not change her account"

    # a bad file: reported with its place, the old accounts stay
    mark_h = hub.proc.mark()
    hub.write_accounts(raw=json.dumps({"accounts": [dict(alice, token="short")]}))
    hub.reload()
    hub.proc.wait_for_log(r"accounts\[0\]\.token", timeout=5, start=mark_h)
    time.sleep(0.3)
    assert backend_of(http_request(hub.http_port, "al.hub.test", "/")) == "A"
    assert aa.proc.alive() and count_lines(aa.proc, r"registered", start=mark_a) == 0

    # new limits and a new account apply after a good reload
    carol = account("carol")
    hub.write_accounts([dict(alice, rps=1), bob2, carol])
    hub.reload()
    ac = hubstack.agent(hub, carol["token"], [Route("http", wc.port, host="ca.hub.test")],
                        label="carol", timeout=10)
    assert ac.proc.alive()
    assert backend_of(http_request(hub.http_port, "ca.hub.test", "/")) == "C"
    statuses = [http_request(hub.http_port, "al.hub.test", f"/b/{i}").status for i in range(6)]
    assert 429 in statuses and 200 in statuses, \
        f"alice's new rps=1 after the reload: burst of 6 got {statuses}"

    # carol's account removed: her agent is disconnected, her route no longer served
    mark_c = ac.proc.mark()
    hub.write_accounts([dict(alice, rps=1), bob2])
    hub.reload()
    ac.proc.wait_for_log(AUTH_FAIL_RE, timeout=6, start=mark_c)
    wait_status(hub.http_port, "ca.hub.test", _not_200, timeout=5,
                what="carol's route no longer served")
    assert wc.count() == 1


def test_lowered_max_routes_keeps_registered_routes(hubstack):
    base = port_block(6)
    acct = account("lowered")
    hub = hubstack.hub([acct], http=False, ports=(base, base + 5))
    echo = hubstack.tcp(echo_handler, name="echo")
    a = hubstack.agent(hub, acct["token"], [Route("tcp", echo.port, port=base + 1),
                                            Route("tcp", echo.port, port=base + 2)])
    mark_h, mark_a = hub.proc.mark(), a.proc.mark()
    hub.write_accounts([dict(acct, max_routes=1)])
    hub.reload()
    s = hub.wait_state(timeout=5, start=mark_h)
    time.sleep(0.5)
    for p in (base + 1, base + 2):
        assert echo_once(p) is True, f"route on {p} dropped by a lowered max_routes"
    assert state_account(hub.state(), "lowered")["routes"] == 2, s
    assert count_lines(a.proc, r"registered|refused", start=mark_a) == 0
    late = hubstack.agent(hub, acct["token"], [Route("tcp", echo.port, port=base + 3)],
                          wait=False, label="late")
    late.refused(f"tcp:{base + 3}")


BAD_ACCOUNTS = [
    ([{"name": "a", "token": "secret-token-aaaaaaaaaa"}, {"name": "b", "token": "short"}],
     [r"accounts\[1\]\.token"]),
    ([{"name": "a", "token": "secret-token-bbbbbbbbbb", "colour": "red"}],
     [r"accounts\[0\]", r"colour"]),
    ([{"name": "a", "token": "secret-token-cccccccccc"},
      {"name": "a", "token": "secret-token-dddddddddd"}], [r"accounts\[1\]", r"name"]),
    ([{"name": "a b", "token": "secret-token-eeeeeeeeee"}], [r"accounts\[0\]\.name"]),
    ([{"token": "secret-token-ffffffffff"}], [r"accounts\[0\]", r"name"]),
]


def test_bad_accounts_file_at_start_exits_2_naming_the_place(hubstack):
    for i, (accounts, places) in enumerate(BAD_ACCOUNTS):
        hub = hubstack.hub(accounts, start=False)
        hub.write_accounts()
        p = hubstack.factory.run([hub.url()], HUB_ENV)
        try:
            rc = p.proc.wait(5)
        except Exception:  # noqa: BLE001 - reported below
            rc = None
        p._join_readers()
        out = p.output()
        assert rc == 2, f"case {i}: a bad accounts file: exit {rc}, expected 2\n{out}"
        for place in places:
            assert re.search(place, out), f"case {i}: the error does not name {place!r}:\n{out}"
        for a in accounts:
            if len(a.get("token", "")) >= 16:
                assert a["token"] not in out, f"case {i}: a token was printed:\n{out}"
    # not JSON at all, and no accounts= at all
    hub = hubstack.hub([], start=False)
    hub.write_accounts(raw="{not json")
    p = hubstack.factory.run([hub.url()], HUB_ENV)
    assert p.proc.wait(5) == 2, p.output()
    p = hubstack.factory.run([f"hub://127.0.0.1:{hub.ctl}?http=127.0.0.1:{hub.http_port}"],
                             HUB_ENV)
    assert p.proc.wait(5) == 2, p.output()
