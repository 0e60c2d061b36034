"""Load balancing over several targets: lbs=0 round robin, lbs=1 lowest latency,
lbs=2 primary/backup with fallback. Each backend answers its own id and closes."""
import time

from conftest import ask_id, id_handler


def ids(port, n):
    return [ask_id(port) for _ in range(n)]


def test_lbs0_round_robin_spreads_and_fails_over(postern, backends):
    a = backends(id_handler("A"), name="A")
    b = backends(id_handler("B"), name="B")
    p = postern.client([a.port, b.port], "lbs=0")

    got = ids(p.port, 20)
    assert None not in got, f"failed connections: {got}"
    assert set(got) == {"A", "B"}, f"round robin used only {set(got)}: {got}"

    a.stop()
    got = ids(p.port, 10)
    assert got == ["B"] * 10, f"after A died: {got}"


def test_lbs2_primary_backup_with_fallback(postern, backends):
    a = backends(id_handler("A"), name="A")
    b = backends(id_handler("B"), name="B")
    p = postern.client([a.port, b.port], "lbs=2",
                       env={"POSTERN_FALLBACK_INTERVAL": "1s"})

    got = ids(p.port, 10)
    assert got == ["A"] * 10, f"primary up, yet: {got}"

    a.stop()
    got = ids(p.port, 10)
    assert got == ["B"] * 10, f"after the primary died: {got}"

    backends(id_handler("A"), port=a.port, name="A-again")
    seen = []
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        seen.append(ask_id(p.port))
        if seen[-1] == "A":
            break
        time.sleep(0.1)
    assert None not in seen, f"connections failed while waiting for fallback: {seen}"
    assert seen[-1] == "A", f"no return to the primary within 5 s (fallback=1s): {seen[-10:]}"
    got = ids(p.port, 5)
    assert got == ["A"] * 5, f"after the fallback: {got}"


def test_lbs1_lowest_latency_pins_one_and_fails_over(postern, backends):
    a = backends(id_handler("A"), name="A")
    b = backends(id_handler("B"), name="B")
    p = postern.client([a.port, b.port], "lbs=1",
                       env={"POSTERN_REPORT_INTERVAL": "1s"})
    # Probes run every report interval; start right after one so that the ten
    # connections below (a few ms) do not straddle a re-probe.
    p.wait_for_log(r"CHECK_POINT", timeout=5)
    got = ids(p.port, 10)
    assert None not in got, f"failed connections: {got}"
    assert len(set(got)) == 1, f"lbs=1 did not pin one target: {got}"

    pinned = got[0]
    other = "B" if pinned == "A" else "A"
    (a if pinned == "A" else b).stop()
    got = ids(p.port, 10)
    assert got == [other] * 10, f"after pinned {pinned} died: {got}"

    # And after the next probe, still only the live one.
    p.wait_for_log(r"CHECK_POINT", timeout=5, start=p.mark())
    got = ids(p.port, 5)
    assert got == [other] * 5, f"after a re-probe with {pinned} dead: {got}"
