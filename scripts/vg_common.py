"""What scripts/valgrind.sh, scripts/valgrind-master.sh and scripts/valgrind-hub.sh share:
the valgrind command line (an error or a definite/possible leak makes it exit 9), free
loopback ports, and a bounded wait for a port to accept; below, for valgrind-hub.sh: a
free port range, bounded waits for log lines, stopping by PID, valgrind's lines of a log."""
import socket
import time

LOOP = "127.0.0.1"
VG = ["valgrind", "--quiet", "--error-exitcode=9", "--leak-check=full",
      "--errors-for-leak-kinds=definite,possible", "--show-leak-kinds=definite,possible"]


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOOP, 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((LOOP, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"valgrind session: port {port} did not open")


# ---- used by scripts/valgrind-hub.sh (the two scripts above do not call these) ----

def free_port_range(n):
    """<n> consecutive loopback ports that are free for both TCP and UDP now, below the
    kernel's ephemeral range (so that no connection's local port takes one meanwhile)."""
    import random
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        eph = 32768
    top = eph - n if eph - n > 11000 else 60000 - n
    for _ in range(200):
        lo = random.randint(10000, top)
        held = []
        try:
            for port in range(lo, lo + n):
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    s = socket.socket(socket.AF_INET, kind)
                    held.append(s)
                    s.bind((LOOP, port))
            return lo, lo + n - 1
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise SystemExit(f"valgrind session: no {n} consecutive free ports")


def wait_log(path, pattern, timeout, start=0):
    """The first match of regex <pattern> in file <path> past offset <start>, waiting at
    most <timeout> seconds for it; SystemExit naming the pattern otherwise."""
    import re
    end = time.time() + timeout
    while True:
        with open(path, errors="replace") as f:
            f.seek(start)
            m = re.search(pattern, f.read())
        if m:
            return m
        if time.time() >= end:
            raise SystemExit(f"valgrind session: {path}: no line matching {pattern!r} "
                             f"within {timeout} s")
        time.sleep(0.1)


def log_size(path):
    """The current length of a log file (an offset for wait_log)."""
    import os
    return os.path.getsize(path)


def stop(p, sig, timeout):
    """Send <sig> to the process <p> (its PID only) and wait at most <timeout> seconds for
    its exit code; "hung" (and a SIGKILL) when it does not exit in time."""
    import subprocess
    p.send_signal(sig)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(10)
        return "hung"


def vg_lines(path):
    """The valgrind lines ("==<pid>== ...") of a log file."""
    with open(path, errors="replace") as f:
        return [l.rstrip("\n") for l in f if l.startswith("==")]
