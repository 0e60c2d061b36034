"""A real DNS server (dnsmasq) behind postern, asked through it by 8 clients at once:
400 queries from 8 fixed client addresses (python, one socket per thread) and 48 dig
runs (a new client address each). Every answer must be the record's own address.

single:  client://127.0.0.1:P/127.0.0.1:<dnsmasq>          dig -> P -> dnsmasq
reverse: server://T/127.0.0.1:P + client://T/<dnsmasq>      dig -> server's P -> dnsmasq
forward: server://T/<dnsmasq>?mode=2 + client://T/127.0.0.1:P
"""
import pytest

from conftest import require_tool
from udp_util import MODES, dnsmasq, run_dns_load, start_service, wait_dns  # noqa: F401


@pytest.mark.parametrize("mode", MODES)
def test_dnsmasq_answers_every_query_through_postern(mode, postern, dnsmasq):
    require_tool("dig")
    s = start_service(mode, postern, dnsmasq.port, tcp=True, udp=True, probe=wait_dns)
    answered, failures = run_dns_load(s.port, threads=8, queries=400, digs_per_thread=6)
    assert not failures, (f"{len(failures)} of 8 client threads failed, "
                          f"{answered} answers were right: {failures}")
    assert answered == 400 + 8 * 6
    s.assert_alive()
