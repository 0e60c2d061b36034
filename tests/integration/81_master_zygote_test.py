"""master:// instances forked by a zygote (docs/master.md, Supervision): each is still
its own process, a child of the master, restarted alone after kill -9; the zygote's
death touches no instance; POSTERN_ZYGOTE=0 exec's them as before."""
import os
import signal

from conftest import LOOPBACK, connect, free_port, recv_exact, wait_port, wait_until
from master_util import pid_alive, start_master, wait_instance


def children(pid):
    """{child pid: argv} of <pid>."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                out[int(d)] = [a for a in f.read().split(b"\0") if a]
        except (OSError, ValueError, IndexError):
            pass
    return out


def zygotes(m):
    return [p for p, a in children(m.pid).items() if len(a) >= 2 and a[1] == b"--zygote"]


def environ(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read()


def echo(port, data=b"ping"):
    with connect(port) as s:
        s.sendall(data)
        assert recv_exact(s, len(data)) == data


def forwarder(m, backend_port):
    """A forwarder instance, serving; return (its instance, its port, its pid)."""
    port = free_port()
    inst = m.create(f"client://{LOOPBACK}:{port}/{LOOPBACK}:{backend_port}?mode=1")
    wait_port(port, timeout=10)
    return inst, port, m.instance(inst["id"])["pid"]


def stop_master(m):
    rc, _ = m.p.stop(timeout=15)
    assert rc == 0


def tunnel(m, backend_port):
    tport, uport = free_port(), free_port()
    srv = m.create(f"server://k3y-zyg@{LOOPBACK}:{tport}/{LOOPBACK}:{uport}")
    cli = m.create(f"client://k3y-zyg@{LOOPBACK}:{tport}/{LOOPBACK}:{backend_port}?mode=2&min=2")
    return srv, cli, uport


def test_instances_come_from_the_zygote(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    port = free_port()
    fwd = m.create(f"client://{LOOPBACK}:{port}/{LOOPBACK}:{echo_backend.port}?mode=1")
    srv, cli, uport = tunnel(m, echo_backend.port)
    wait_port(port, timeout=10)
    wait_port(uport, timeout=10)
    wait_until(lambda: _try_echo(uport), 15, what="echo through the tunnel")
    echo(port)
    zs = zygotes(m)
    assert len(zs) == 1, children(m.pid)
    kids = children(m.pid)
    for inst in (fwd, srv, cli):
        pid = m.instance(inst["id"])["pid"]
        # The master's own child, in its own process group, shown with its key masked.
        assert pid in kids, (pid, kids)
        assert os.getpgid(pid) == pid
        argv = kids[pid]
        assert argv[1] == b"--url-from-env", argv
        assert b"k3y-zyg" not in b" ".join(argv), argv
        # Forked, not exec'd: its environment is the zygote's, without the URL.
        assert b"POSTERN_URL" not in environ(pid)
    assert kids[m.instance(srv["id"])["pid"]][2].startswith(b"server://***@")
    # Each instance's log is its own.
    wait_instance(m, srv["id"], lambda i: i["health"]["state"] == "connected", timeout=15)
    _, logs, _ = m.request("GET", f"/instances/{srv['id']}/logs")
    assert any("serving the tunnel client" in line for line in logs["logs"]), logs
    _, logs, _ = m.request("GET", f"/instances/{fwd['id']}/logs")
    assert not any("tunnel client" in line for line in logs["logs"]), logs
    stop_master(m)
    assert not pid_alive(zs[0])


def _try_echo(port):
    try:
        echo(port)
        return True
    except (OSError, AssertionError):
        return False


def test_kill9_restarts_one_instance_alone(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    p1, p2 = free_port(), free_port()
    a = m.create(f"client://{LOOPBACK}:{p1}/{LOOPBACK}:{echo_backend.port}?mode=1")
    b = m.create(f"client://{LOOPBACK}:{p2}/{LOOPBACK}:{echo_backend.port}?mode=1")
    srv, cli, uport = tunnel(m, echo_backend.port)
    for p in (p1, p2, uport):
        wait_port(p, timeout=10)
    wait_until(lambda: _try_echo(uport), 15, what="echo through the tunnel")
    before = {i["id"]: m.instance(i["id"])["pid"] for i in (a, b, srv, cli)}
    os.kill(before[a["id"]], signal.SIGKILL)
    v = wait_instance(m, a["id"], lambda i: i["restarts"] == 1 and i["status"] == "running"
                      and i["pid"] not in (0, before[a["id"]]), timeout=20, what="restart")
    wait_until(lambda: _try_echo(p1), 10, what="restarted forwarder serving")
    assert b"POSTERN_URL" not in environ(v["pid"])
    m.p.wait_for_log(f"instance {a['id']} killed by signal 9", timeout=5)
    # The others were not touched.
    for i in (b, srv, cli):
        cur = m.instance(i["id"])
        assert cur["pid"] == before[i["id"]] and cur["restarts"] == 0, cur
        assert cur["status"] == "running"
    echo(p2)
    # A tunnel end, killed, comes back alone too and the tunnel serves again.
    os.kill(before[srv["id"]], signal.SIGKILL)
    wait_instance(m, srv["id"], lambda i: i["restarts"] == 1 and i["status"] == "running"
                  and i["pid"] not in (0, before[srv["id"]]), timeout=20, what="restart")
    wait_until(lambda: _try_echo(uport), 20, what="tunnel serving again")
    assert m.instance(b["id"])["pid"] == before[b["id"]]
    stop_master(m)


def test_zygote_death_touches_no_instance(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    a, p1, pid = forwarder(m, echo_backend.port)
    (z,) = zygotes(m)
    os.kill(z, signal.SIGKILL)
    m.p.wait_for_log(r"the zygote \(pid \d+\) was killed by signal 9", timeout=10)
    assert m.instance(a["id"])["pid"] == pid and pid_alive(pid)
    echo(p1)
    # The next start makes a new zygote; a restart of the instance goes through it.
    m.ok("PATCH", f"/instances/{a['id']}", {"action": "restart"})
    v = wait_instance(m, a["id"], lambda i: i["status"] == "running" and i["pid"] not in (0, pid),
                      timeout=20, what="restart")
    wait_until(lambda: len(zygotes(m)) == 1 and zygotes(m)[0] != z, 10, what="a new zygote")
    assert b"POSTERN_URL" not in environ(v["pid"])
    wait_until(lambda: _try_echo(p1), 10, what="serving")
    stop_master(m)


def test_master_kill9_ends_zygote_and_instances(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path)
    _, _, pid = forwarder(m, echo_backend.port)
    (z,) = zygotes(m)
    os.kill(m.pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid) and not pid_alive(z), 15, what="PDEATHSIG")


def test_zygote_off(postern, tmp_path, echo_backend):
    m = start_master(postern, tmp_path, env={"POSTERN_ZYGOTE": "0"})
    _, p1, pid = forwarder(m, echo_backend.port)
    assert zygotes(m) == []
    # Exec'd: the URL came in its environment.
    assert b"POSTERN_URL=" in environ(pid)
    echo(p1)
    stop_master(m)
