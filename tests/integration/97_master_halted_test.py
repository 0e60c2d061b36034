"""An instance the master did not restart because it exited 2 (a bad URL or file: "not
restarted") keeps that state across a master restart (instances.halted in the SQLite
database) instead of being started again; starting it by request clears the mark."""
import time

from conftest import free_port
from master_util import start_master, wait_instance


def test_not_restarted_instance_stays_so_across_a_master_restart(postern, tmp_path):
    m = start_master(postern, tmp_path)
    # Valid as a URL; the hub exits 2 at start as its accounts file does not exist.
    url = f"hub://127.0.0.1:{free_port()}?accounts={tmp_path}/missing.json"
    iid = m.create(url)["id"]
    wait_instance(m, iid, lambda i: i["status"] == "error" and "code 2" in i["error"],
                  what="exit 2")
    m.p.wait_for_log(rf"instance {iid}: exit code 2 .*not restarted", timeout=5)
    rc, _ = m.p.stop()
    assert rc == 0

    m2 = start_master(postern, tmp_path, db=m.db, expect_key=False)
    m2.key = m.key
    m2.p.wait_for_log(r"instances loaded", timeout=5)
    time.sleep(1.0)
    v = m2.instance(iid)
    assert v["status"] == "error" and "not restarted" in v["error"], v
    assert v["restarts"] == 0, v
    assert v["pid"] == 0, v
    assert not any(f"instance {iid}: exit code 2" in line
                   for line in m2.p.lines("stdout") + m2.p.lines("stderr")), \
        "the halted instance was started again by the new master"

    # A start by request runs it again (and it exits 2 again).
    m2.ok("PATCH", f"/instances/{iid}", {"action": "start"})
    m2.p.wait_for_log(rf"instance {iid}: exit code 2 .*not restarted", timeout=5)
