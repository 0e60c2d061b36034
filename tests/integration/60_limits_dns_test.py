"""dns=<duration>: target host names are re-resolved in the background every interval;
when a name moves, new connections follow. POSTERN_DNS_SERVER points postern at a
local dnsmasq whose hosts file the test rewrites (SIGHUP makes dnsmasq re-read it)."""
import re
import time

from conftest import ask_id, id_handler
from limits_util import OTHER_IP, hosts_dnsmasq, same_port_backends  # noqa: F401 - fixture

NAME = "svc.postern.test"


def test_new_connections_follow_a_moved_name(postern, backends, hosts_dnsmasq):
    bs = same_port_backends(backends, {ip: id_handler(f"id-{ip}")
                                       for ip in ("127.0.0.1", OTHER_IP)})
    port = bs["127.0.0.1"].port
    d = hosts_dnsmasq(NAME, "127.0.0.1")
    mark = d.mark()
    p = postern.client([f"{NAME}:{port}"], "dns=1s",
                       env={"POSTERN_DNS_SERVER": f"127.0.0.1:{d.port}"})
    for _ in range(3):
        assert ask_id(p.port) == "id-127.0.0.1", p.output()
    d.wait_line(rf"(?i)query\[A+\] {re.escape(NAME)} from 127\.0\.0\.1", timeout=5, start=mark)

    d.set_address(OTHER_IP)
    t0 = time.monotonic()
    answers = []
    while True:
        a = ask_id(p.port, timeout=3)
        answers.append(a)
        assert a in ("id-127.0.0.1", f"id-{OTHER_IP}"), \
            f"a connection failed while the name moved (answers {answers}):\n{p.output()}"
        if a == f"id-{OTHER_IP}":
            break
        assert time.monotonic() - t0 < 6, \
            f"still reaching 127.0.0.1 {time.monotonic() - t0:.1f}s after the name moved " \
            f"(dns=1s); dnsmasq log:\n{d.output()}"
        time.sleep(0.1)
    for _ in range(5):
        assert ask_id(p.port) == f"id-{OTHER_IP}", "connections went back to the old address"
    assert p.alive()


def test_a_name_that_stops_resolving_keeps_its_last_address(postern, backends, hosts_dnsmasq):
    b = backends(id_handler("id-127.0.0.1"), name="backend")
    d = hosts_dnsmasq(NAME, "127.0.0.1")
    p = postern.client([f"{NAME}:{b.port}"], "dns=1s",
                       env={"POSTERN_DNS_SERVER": f"127.0.0.1:{d.port}"})
    assert ask_id(p.port) == "id-127.0.0.1"
    mark = d.mark()
    d.remove()
    # let postern ask at least twice after the name went away
    d.wait_line(rf"(?i)query\[A+\] {re.escape(NAME)} from 127\.0\.0\.1", timeout=5, start=mark)
    time.sleep(2.5)
    for _ in range(3):
        assert ask_id(p.port) == "id-127.0.0.1", \
            f"the name stopped resolving and connections broke:\n{p.output()}"
    assert p.alive()
