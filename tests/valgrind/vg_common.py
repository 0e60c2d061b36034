"""What the valgrind sessions (tunnel_session.py, master_session.py, hub_session.py, run by
scripts/valgrind*.sh) share on top of tests/harness: the valgrind command line (given by
the script in POSTERN_VALGRIND), starting the binary under it with its output kept in a
log file, valgrind's lines of that output, and the way a session ends."""
import os
import shlex
import shutil
import signal
import sys
import time

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


class StepFailed(SystemExit):
    """A step's check failed (a SystemExit: uncaught, it ends the session the same way)."""


class Steps:
    """A session's steps, named <me> in its messages: step() prints one with the seconds
    since the start, fail() ends the session with a one-line message (StepFailed). The
    whole session is bounded: after <bound> s, SIGALRM raises SystemExit wherever it
    hangs, so that the session's finally still runs."""

    def __init__(self, me, bound=180):
        self.me, self.t0 = me, time.time()

        def on_alarm(*_):
            raise SystemExit(f"{me}: the session took over {bound} s")
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(bound)

    def step(self, msg):
        print(f"[{time.time() - self.t0:5.1f}s] {msg}", flush=True)

    def fail(self, msg):
        raise StepFailed(f"{self.me}: {msg}")


def end_session(me, procs, closers, ok, tmp, quiet=("CHECK_POINT|",), also=()):
    """A session's finally, after a failed step too: SIGTERM to each of <procs> still
    running, the newest first (SIGKILL only if one hangs, so that valgrind's report so far
    is not lost), then <closers> (the backends) called; valgrind's lines printed for
    <procs> and <also> (ends that failed to start, stopped already). <tmp> is removed when
    <ok>; else it is kept, with each end's last lines (those containing a <quiet> string
    left out) and the exit codes printed."""
    ends = []
    for p in reversed(procs):
        ends.append((p.name, p.stop(signal.SIGTERM, 30)[0]))
        p.cleanup()
    for p in also:
        p.cleanup()
    for close in closers:
        try:
            close()
        except OSError:
            pass
    for p in list(procs) + list(also):
        errs = vg_lines(p)
        if errs:
            print(f"--- {p.name}: valgrind ---")
            print("\n".join(errs[:150]))
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    # What the ends logged last says why a step failed; the whole logs are kept.
    for p in reversed(procs):
        tail = [line for line in p.lines() if not any(q in line for q in quiet)][-30:]
        print(f"--- {p.name} log, last lines ---\n" + "\n".join(tail))
    print(f"{me}: after the failed step, exit codes {ends} (None = hung; 9 = valgrind found "
          f"errors or leaks); logs kept in {tmp}")
