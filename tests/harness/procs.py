"""Child processes for the integration suite (tests/integration) and the valgrind sessions
(tests/valgrind): the real binary and the helpers around it (haproxy, dnsmasq, curl,
openssl s_client, python3 -m http.server).

- stop_process()     a signal to one PID, a bounded wait, SIGKILL when it did not exit
- LoggedProcess      a child whose output is read line by line by threads (optionally
                     copied into a log file), so that a caller can wait for a log line
                     with a deadline, then stop it by PID with a deadline
- run_with_stdin()   run a program with bytes on its stdin held open for a while (the
                     openssl s_client runs), bounded in time
- dump_outputs()     every process's command line, exit code and output, for a failure

- require_tool() / skip()  a missing program or module skips the test (under pytest)

Nothing here signals anything but the PIDs it started.
"""
import os
import re
import shutil
import signal
import subprocess
import threading
import time


class Unavailable(Exception):
    """A program or module a backend needs is not installed (outside pytest)."""


def skip(reason):
    """Skip the calling test (under pytest), else raise Unavailable."""
    try:
        import pytest
    except ImportError:
        raise Unavailable(reason) from None
    pytest.skip(reason)


def require_ipv6_loopback():
    """Skip the calling test when ::1 cannot be bound; fail instead when
    POSTERN_REQUIRE_TOOLS=1 (a CI machine has it: a skip would hide the IPv6 tests)."""
    import socket
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        reason = "no IPv6 loopback (::1) on this host"
        if os.environ.get("POSTERN_REQUIRE_TOOLS") == "1":
            import pytest
            pytest.fail(reason, pytrace=False)
        skip(reason)


def require_tool(name):
    """The path of the external program <name>; the calling test is skipped when it is
    not installed, or fails when POSTERN_REQUIRE_TOOLS=1 (scripts/test.sh sets it: there
    scripts/deps.sh has installed every program, and a skip would hide a missing one)."""
    path = shutil.which(name)
    if path is None:
        reason = f"required program '{name}' is not installed"
        if os.environ.get("POSTERN_REQUIRE_TOOLS") == "1":
            import pytest
            pytest.fail(reason + " (scripts/deps.sh should install it)", pytrace=False)
        skip(reason)
    return path


def stop_process(proc, sig=signal.SIGTERM, timeout=5.0, kill_wait=5.0):
    """Send <sig> to the Popen <proc> (its PID only) unless it already exited, and wait at
    most <timeout> s for it. Return (exit code, seconds taken); the exit code is None when
    it did not exit in time (it is then SIGKILLed and reaped)."""
    if proc.poll() is not None:
        return proc.returncode, 0.0
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout)
        return rc, time.monotonic() - t0
    except subprocess.TimeoutExpired:
        elapsed = time.monotonic() - t0
        proc.kill()
        try:
            proc.wait(kill_wait)
        except subprocess.TimeoutExpired:
            pass
        return None, elapsed


class LoggedProcess:
    """One child process with its output collected line by line.

    <argv> is the whole command line; <env> entries are added to this process's
    environment. stdout and stderr are read separately ("stdout", "stderr" streams) or,
    with <merge>, both into "stdout". With <log_path>, every line is also appended to
    that file (kept for a post-mortem)."""

    def __init__(self, argv, env=None, merge=False, log_path=None, name=None):
        self.argv = list(argv)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.merge = merge
        self.log_path = log_path
        self.name = name or os.path.basename(str(self.argv[0]))
        self.proc = None
        self._lines = {"stdout": [], "stderr": []}
        self._eof = {"stdout": False, "stderr": bool(merge)}   # merged: no stderr pipe
        self._cond = threading.Condition()
        self._readers = []
        self._log = None

    def start(self):
        if self.log_path is not None:
            self._log = open(self.log_path, "a", encoding="utf-8", errors="replace")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT if self.merge else subprocess.PIPE,
                                     env=self.env)
        pipes = [("stdout", self.proc.stdout)]
        if not self.merge:
            pipes.append(("stderr", self.proc.stderr))
        for name, pipe in pipes:
            t = threading.Thread(target=self._reader, args=(name, pipe), daemon=True,
                                 name=f"{self.name}-{self.proc.pid}-{name}")
            t.start()
            self._readers.append(t)
        return self

    def _reader(self, name, pipe):
        try:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._cond:
                    self._lines[name].append(line)
                    if self._log is not None:
                        self._log.write(line + "\n")
                        self._log.flush()
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self._eof[name] = True
                self._cond.notify_all()

    # ---- output ------------------------------------------------------------------

    def lines(self, stream="stdout"):
        with self._cond:
            return list(self._lines[stream])

    def mark(self, stream="stdout"):
        """Index of the next line to arrive on <stream>; pass it as start= below."""
        with self._cond:
            return len(self._lines[stream])

    def output(self):
        return "\n".join(self.lines("stdout") + self.lines("stderr"))

    def wait_for_log(self, pattern, timeout=5.0, start=0, stream="stdout"):
        """Wait up to <timeout> s for a <stream> line at index >= <start> matching
        <pattern> (re.search); return the match object."""
        return self.wait_for_log_index(pattern, timeout, start, stream)[1]

    def wait_for_log_index(self, pattern, timeout=5.0, start=0, stream="stdout"):
        """Like wait_for_log, but return (line index, match)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                lines = self._lines[stream]
                while i < len(lines):
                    m = rx.search(lines[i])
                    if m:
                        return i, m
                    i += 1
                if self._eof[stream]:
                    raise AssertionError(f"{self.name}: {stream} closed (exit "
                                         f"{self.proc.poll()}) without a line matching "
                                         f"{pattern!r}; last lines:\n" + "\n".join(lines[-15:]))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.name}: no {stream} line matching {pattern!r} "
                                         f"within {timeout}s; last lines:\n"
                                         + "\n".join(lines[-15:]))
                self._cond.wait(remaining)

    def count_lines(self, pattern, start=0, stream="stdout"):
        rx = re.compile(pattern)
        return sum(1 for line in self.lines(stream)[start:] if rx.search(line))

    # ---- lifecycle ---------------------------------------------------------------

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        """Wait up to <timeout> s for it to exit by itself; return its exit code, or None
        when it is still running. Once it exited, its output is read to the end (the
        reader threads joined), so output() holds its last lines."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._join_readers()
        return rc

    def send_signal(self, sig):
        """Send <sig> to its PID (a SIGHUP reload...) without waiting."""
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Send <sig> and wait up to <timeout> s. Return (exit code, seconds taken); the
        exit code is None when it did not exit in time (it is then SIGKILLed)."""
        rc, elapsed = stop_process(self.proc, sig, timeout)
        self._join_readers()
        return rc, elapsed

    def kill(self):
        """SIGKILL (unless it already exited) and reap it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)
        self._join_readers()

    def _join_readers(self):
        for t in self._readers:
            t.join(timeout=5)

    def cleanup(self):
        """Stop it (SIGTERM, 3 s, then SIGKILL) if it still runs; close the pipes."""
        if self.proc is None:
            return
        stop_process(self.proc, signal.SIGTERM, timeout=3.0)
        self._join_readers()
        for pipe in (self.proc.stdout, self.proc.stderr):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass
        if self._log is not None:
            with self._cond:
                self._log.close()
                self._log = None

    def describe(self):
        """A heading and the whole output, for a failure report."""
        rc = self.proc.returncode if self.proc else None
        pid = self.proc.pid if self.proc else None
        return (f"---- {' '.join(map(str, self.argv))} (pid {pid}, exit {rc}) ----\n"
                f"{self.output()}")


def dump_outputs(procs):
    """Every process's command line, PID, exit code and output (for a failed test)."""
    return "\n".join(p.describe() for p in procs)


def run_with_stdin(argv, stdin_data=b"", hold=0.0, timeout=10.0):
    """Run <argv>; write <stdin_data> once it runs, keep stdin open for <hold> s (or until
    it exits), then close it and read its output for the rest of <timeout> s. Return
    (exit code or None when it was still running at <timeout> and got killed, stdout
    bytes, stderr bytes, seconds)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err, rc = b"", b"", None
    try:
        if stdin_data:
            try:
                p.stdin.write(stdin_data)
                p.stdin.flush()
            except BrokenPipeError:
                pass
        if hold:
            try:
                p.wait(hold)
            except subprocess.TimeoutExpired:
                pass
        try:
            out, err = p.communicate(timeout=max(0.1, timeout - (time.monotonic() - t0)))
            rc = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=5)
            rc = None
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    return rc, out, err, time.monotonic() - t0
