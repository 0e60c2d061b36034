"""The traffic history of the dashboard's chart (docs/master.md "History"): bytes through
an instance are in GET /instances/{id}/history (10 s buckets over 1 h, 1 min buckets over
24 h), they survive a master restart, a bad range is refused by name, and the dashboard
(headless Chromium, tests/web/page_check.mjs) charts them after the page is opened and
reloaded, over each span.

Each test starts its own master (POSTERN_REPORT_INTERVAL=200ms) on a fresh database."""
import os

import pytest

from conftest import LOOPBACK, connect, free_port, recv_exact, wait_port
from master_util import page_check, start_master, wait_instance

KIB = 1024


def forwarder(m, echo_port):
    port = free_port()
    inst = m.create(f"client://{LOOPBACK}:{port}/{LOOPBACK}:{echo_port}?mode=1", alias="fwd")
    wait_port(port, timeout=10)
    return inst, port


def push(port, n):
    data = os.urandom(n)
    with connect(port) as s:
        s.sendall(data)
        assert recv_exact(s, n) == data


def history(m, iid, rng=None):
    q = f"?range={rng}" if rng else ""
    st, v, _ = m.request("GET", f"/instances/{iid}/history{q}")
    assert st == 200, (st, v)
    assert set(v) == {"id", "range", "step", "now", "totals", "samples"}, v
    return v


def summed(v, key):
    return sum(b[key] for b in v["samples"])


def counted(m, iid, n):
    """Wait until the instance's counters show <n> bytes each way; return the instance."""
    return wait_instance(m, iid, lambda v: v["tcprx"] >= n and v["tcptx"] >= n,
                         what=f"{n} bytes counted")


def test_history_holds_the_traffic_and_survives_a_restart(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    inst, port = forwarder(m, echo_backend.port)
    iid = inst["id"]
    push(port, 300 * KIB)
    v = counted(m, iid, 300 * KIB)
    fine = history(m, iid)
    assert fine["id"] == iid and fine["range"] == 3600 and fine["step"] == 10, fine
    # Sampled on request: every byte counted so far is in a bucket.
    assert summed(fine, "tcprx") == fine["totals"]["tcprx"] >= v["tcprx"], fine
    assert summed(fine, "tcptx") == fine["totals"]["tcptx"] >= v["tcptx"], fine
    assert all(b["t"] % 10 == 0 and b["t"] <= fine["now"] for b in fine["samples"]), fine
    coarse = history(m, iid, "24h")
    assert coarse["step"] == 60 and coarse["range"] == 86400, coarse
    assert all(b["t"] % 60 == 0 for b in coarse["samples"]), coarse
    assert summed(coarse, "tcprx") == summed(fine, "tcprx"), (coarse, fine)
    short = history(m, iid, "15m")
    assert short["range"] == 900 and summed(short, "tcprx") == summed(fine, "tcprx"), short

    # Refused by name: a bad range; 404: an unknown id.
    for bad in ("soon", "10s", "25h", ""):
        st, err, _ = m.request("GET", f"/instances/{iid}/history?range={bad}")
        assert st == 400 and err["field"] == "range", (bad, st, err)
    st, err, _ = m.request("GET", "/instances/0badc0de/history")
    assert st == 404 and err["field"] == "id", (st, err)

    # A master restart on the same database keeps it; new traffic adds to it.
    code, _ = m.p.stop(timeout=15)
    assert code == 0, m.p.output()[-2000:]
    m2 = start_master(postern, tmp_path, db=m.db, expect_key=False)
    m2.key = m.key
    again = history(m2, iid)
    assert summed(again, "tcprx") == summed(fine, "tcprx"), (again, fine)
    wait_port(port, timeout=10)
    push(port, 100 * KIB)
    counted(m2, iid, 400 * KIB)
    more = history(m2, iid)
    assert summed(more, "tcprx") == more["totals"]["tcprx"] >= 400 * KIB, more

    # Deleting the instance deletes its history.
    m2.ok("DELETE", f"/instances/{iid}", status=204)
    st, _, _ = m2.request("GET", f"/instances/{iid}/history")
    assert st == 404


@pytest.mark.asan_skip
def test_dashboard_chart_shows_the_history(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    inst, port = forwarder(m, echo_backend.port)
    n = 512 * KIB
    push(port, n)
    counted(m, inst["id"], n)
    # Before the page opens: only the master's history can show it.
    out = page_check(m, "history", {"id": inst["id"], "bytes": 2 * n})
    assert "page_check: ok: history: 4 checks" in out, out
