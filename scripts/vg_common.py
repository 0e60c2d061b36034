"""What scripts/valgrind.sh and scripts/valgrind-master.sh share: the valgrind command
line (an error or a definite/possible leak makes it exit 9), free loopback ports, and a
bounded wait for a port to accept."""
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
