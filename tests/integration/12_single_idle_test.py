"""read=<duration>: an idle relay is closed, a busy one is not."""
import threading
import time

from conftest import connect, recv_exact


def test_read_timeout_closes_idle_but_not_busy_connections(postern, echo_backend):
    p = postern.client([echo_backend.port], "read=1s")
    out = {}

    def idle():
        try:
            idle_once()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            out["idle"] = f"{type(e).__name__}: {e}"

    def idle_once():
        with connect(p.port, timeout=8) as s:
            s.sendall(b"x")
            assert recv_exact(s, 1) == b"x"  # the relay is up
            t0 = time.monotonic()
            try:
                data = s.recv(1)
            except TimeoutError:
                out["idle"] = "still open after 8 s"
                return
            except OSError as e:
                out["idle"] = f"{type(e).__name__}: {e} (expected a clean EOF)"
                return
            out["idle"] = (data, time.monotonic() - t0)

    def busy():
        with connect(p.port, timeout=3) as s:
            deadline = time.monotonic() + 3.0   # three idle timeouts long
            i = 0
            while time.monotonic() < deadline:
                msg = f"tick {i:04d}".encode()
                try:
                    s.sendall(msg)
                    got = recv_exact(s, len(msg))
                except (OSError, AssertionError) as e:
                    out["busy"] = f"closed after {i} ticks: {type(e).__name__}: {e}"
                    return
                if got != msg:
                    out["busy"] = f"tick {i}: got {got!r}"
                    return
                i += 1
                time.sleep(0.3)
            out["busy"] = "ok"

    threads = [threading.Thread(target=f, daemon=True) for f in (idle, busy)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    assert not any(t.is_alive() for t in threads)

    assert out.get("busy") == "ok", out.get("busy")
    result = out.get("idle")
    assert isinstance(result, tuple), result
    data, elapsed = result
    assert data == b"", f"idle connection received {data!r} instead of EOF"
    # Closed by the timeout: not right away, and within a few seconds.
    assert 0.5 <= elapsed <= 5.0, f"idle connection closed after {elapsed:.2f}s with read=1s"
