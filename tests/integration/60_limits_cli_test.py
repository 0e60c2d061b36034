"""Limits parameters on the command line: malformed values of rate=, slot=, block=,
proxy= and dns= end the program with exit 2 and one stderr line naming the field, on a
single-end client:// and on a tunnel server:// alike; good values are accepted."""
import subprocess

import pytest

from conftest import POSTERN_BIN, free_port

BAD = [("rate", "abc"), ("slot", "-1"), ("block", "4"), ("block", "11"), ("proxy", "3"),
       ("dns", "xyz")]
SCHEMES = ["client", "server"]


def url(scheme, query):
    return f"{scheme}://127.0.0.1:{free_port()}/127.0.0.1:{free_port()}?{query}"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("field,value", BAD, ids=[f"{f}={v}" for f, v in BAD])
def test_bad_value_exits_2_naming_the_field(scheme, field, value):
    u = url(scheme, f"{field}={value}")
    r = subprocess.run([POSTERN_BIN, u], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2, f"{u}: exit {r.returncode}, stderr={r.stderr!r}"
    lines = r.stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("postern: "), \
        f"{u}: expected one 'postern: ...' line, got {r.stderr!r}"
    assert field in lines[0].lower(), f"{u}: {lines[0]!r} does not name {field!r}"


@pytest.mark.parametrize("query", ["rate=0", "rate=2", "slot=0", "slot=2", "block=13",
                                   "block=321", "proxy=0", "proxy=1", "proxy=2", "dns=1s",
                                   "dns=5m"])
def test_good_value_is_accepted(postern, query):
    """The program starts and serves (a value the parser rejects would exit 2)."""
    p = postern.client([free_port()], query)
    assert p.alive(), p.output()
