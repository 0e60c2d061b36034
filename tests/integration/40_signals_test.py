"""SIGTERM / SIGINT: stop accepting, close everything, exit 0 within 5 s, also with
idle and busy connections open."""
import signal
import socket
import threading

import pytest

from conftest import connect, recv_exact


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_with_open_connections_exits_0_within_5s(sig, postern, echo_backend):
    p = postern.client([echo_backend.port])

    idle = connect(p.port)
    idle.sendall(b"ping")
    assert recv_exact(idle, 4) == b"ping"

    busy_rounds = threading.Event()
    stop_busy = threading.Event()
    busy_state = {"rounds": 0, "end": None}

    def busy():
        chunk = b"b" * 16384
        try:
            with connect(p.port, timeout=10) as s:
                while not stop_busy.is_set():
                    s.sendall(chunk)
                    recv_exact(s, len(chunk))
                    busy_state["rounds"] += 1
                    if busy_state["rounds"] >= 5:
                        busy_rounds.set()
        except (OSError, AssertionError) as e:
            busy_state["end"] = e

    t = threading.Thread(target=busy, daemon=True)
    t.start()
    try:
        assert busy_rounds.wait(10), f"busy connection did not get going: {busy_state}"

        rc, elapsed = p.stop(sig, timeout=5.0)
        assert rc is not None, f"postern still running 5 s after {sig.name} (killed)"
        assert rc == 0, f"exit code {rc} after {sig.name}"
        assert elapsed < 5.0

        # Everything is closed: the idle client sees EOF or a reset, the listener is gone.
        idle.settimeout(5)
        try:
            assert idle.recv(1) == b""
        except ConnectionResetError:
            pass
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", p.port), timeout=2).close()
        t.join(timeout=10)
        assert not t.is_alive(), "busy client still running after postern exited"
        assert busy_state["end"] is not None
    finally:
        stop_busy.set()
        idle.close()
        t.join(timeout=10)
