"""NodePass's environment variable names (docs/operations.md "NodePass's environment
variables") take effect as aliases of ours: NP_REPORT_INTERVAL sets the CHECK_POINT
interval of an instance and of the master; the POSTERN_* name wins when both are set; a
malformed alias is refused under its own name (exit 2)."""
import subprocess
import time

from conftest import POSTERN_BIN
from master_util import start_master


def _checkpoints_in(p, seconds):
    start = len([l for l in p.lines() if "CHECK_POINT" in l])
    time.sleep(seconds)
    return len([l for l in p.lines() if "CHECK_POINT" in l]) - start


def test_np_report_interval_sets_the_report_interval(postern, echo_backend):
    p = postern.client([echo_backend.port], "noudp=1&log=event",
                       env={"POSTERN_REPORT_INTERVAL": "", "NP_REPORT_INTERVAL": "200ms"})
    assert _checkpoints_in(p, 1.5) >= 4, p.output()


def test_postern_name_wins_over_the_alias(postern, echo_backend):
    p = postern.client([echo_backend.port], "noudp=1&log=event",
                       env={"POSTERN_REPORT_INTERVAL": "10s", "NP_REPORT_INTERVAL": "200ms"})
    assert _checkpoints_in(p, 1.5) == 0, p.output()


def test_malformed_alias_is_refused_by_name():
    r = subprocess.run([POSTERN_BIN, "client://127.0.0.1:1/127.0.0.1:2"], timeout=10,
                       env={"NP_TCP_DIAL_TIMEOUT": "soon"}, capture_output=True, text=True)
    assert r.returncode == 2 and "NP_TCP_DIAL_TIMEOUT" in r.stderr, (r.returncode, r.stderr)


def test_master_reads_np_report_interval(postern, tmp_path):
    r = subprocess.run([POSTERN_BIN, f"master://127.0.0.1:1?db={tmp_path}/m.db"], timeout=10,
                       env={"NP_REPORT_INTERVAL": "1ms"}, capture_output=True, text=True)
    assert r.returncode == 2 and "NP_REPORT_INTERVAL" in r.stderr, (r.returncode, r.stderr)
    assert start_master(postern, tmp_path, env={"POSTERN_REPORT_INTERVAL": "",
                                                "NP_REPORT_INTERVAL": "300ms"}).p.alive()
