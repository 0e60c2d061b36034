"""What the valgrind sessions (tunnel_session.py, master_session.py, hub_session.py, run by
scripts/valgrind*.sh) share on top of tests/harness: the valgrind command line (given by
the script in POSTERN_VALGRIND), starting the binary under it with its output kept in a
log file, valgrind's lines of that output, and the way a session ends."""
import os
import shlex
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.procs import LoggedProcess  # noqa: E402

# The valgrind command line, from the calling scripts/valgrind*.sh (they own it).
if "POSTERN_VALGRIND" not in os.environ:
    raise SystemExit("tests/valgrind: POSTERN_VALGRIND (the valgrind command line) is not set: "
                     "run the session through scripts/valgrind.sh, valgrind-master.sh or "
                     "valgrind-hub.sh")
VG = shlex.split(os.environ["POSTERN_VALGRIND"])
VG_WAIT = 60.0          # valgrind starts the binary slowly: a port or a log line within this


def start_vg(binary, url, env, log_path, name):
    """<binary> <url> under valgrind with <env> added, stdout and stderr read line by line
    and copied to <log_path>; a started harness LoggedProcess."""
    return LoggedProcess(VG + [binary, url], env, merge=True, log_path=log_path,
                         name=name).start()


def vg_lines(p):
    """The valgrind lines ("==<pid>== ...") of a LoggedProcess's output."""
    return [line for line in p.lines() if line.startswith("==")]


def run(me, session):
    """Run <session>() as the script <me>: a missed wait or a failed check (an
    AssertionError from the harness) ends it with a one-line message, exit status 1."""
    try:
        session()
    except AssertionError as e:
        raise SystemExit(f"{me}: {e}") from None
