"""Command line: --help, --version, no argument, every bad URL/parameter, address in use."""
import re
import socket
import subprocess

import pytest

from conftest import LOOPBACK, POSTERN_BIN, free_port

PARAMS = ["tls", "crt", "key", "lbs", "mode", "dial", "read", "log", "min", "max"]


def run_cli(*args, timeout=10):
    """Run postern to completion; a hang (e.g. a bad URL accepted and served) fails."""
    try:
        return subprocess.run([POSTERN_BIN] + list(args), capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, text=True)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"postern {' '.join(args)} still running after {timeout}s "
                    f"(stdout={e.stdout!r}, stderr={e.stderr!r})")


def test_help_lists_every_parameter_and_url_form():
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    missing = [p for p in PARAMS if not re.search(rf"\b{p}\b", out)]
    assert not missing, f"--help does not mention {missing}:\n{out}"
    assert "server://" in out and "client://" in out, out


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"postern \S+", r.stdout.strip()), repr(r.stdout)


def test_no_argument_prints_usage_on_stderr_and_exits_2():
    r = run_cli()
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip(), "usage expected on stderr"
    assert re.search(r"usage", r.stderr, re.I) or "client://" in r.stderr, r.stderr


# (id, url template, word the single stderr line must contain). {P} is a free listen
# port, {Q} a free target port, {GARBAGE} a file of garbage, {KEY} a valid EC key.
BAD_URLS = [
    ("scheme", "foo://:1/:2", ["scheme"]),
    ("missing-port", "client://127.0.0.1/127.0.0.1:80", ["port"]),
    ("listen-port-range", "client://127.0.0.1:70000/127.0.0.1:{Q}", ["port"]),
    ("target-port-range", "client://127.0.0.1:{P}/127.0.0.1:70000", ["port"]),
    ("read", "client://127.0.0.1:{P}/127.0.0.1:{Q}?read=abc", ["read"]),
    ("lbs", "client://127.0.0.1:{P}/127.0.0.1:{Q}?lbs=9", ["lbs"]),
    ("tls", "client://127.0.0.1:{P}/127.0.0.1:{Q}?tls=7", ["tls"]),
    ("mode", "client://127.0.0.1:{P}/127.0.0.1:{Q}?mode=5", ["mode"]),
    ("tls2-no-crt", "client://127.0.0.1:{P}/127.0.0.1:{Q}?tls=2", ["crt"]),
    ("tls2-missing-files",
     "client://127.0.0.1:{P}/127.0.0.1:{Q}?tls=2&crt=/nonexistent&key=/nonexistent", ["crt"]),
    ("tls2-garbage-crt",
     "client://127.0.0.1:{P}/127.0.0.1:{Q}?tls=2&crt={GARBAGE}&key={KEY}", ["crt"]),
    ("target-is-listen", "client://127.0.0.1:{P}/127.0.0.1:{P}", ["target", "loop"]),
    ("unknown-param", "client://127.0.0.1:{P}/127.0.0.1:{Q}?foo=1", ["foo"]),
    ("repeated-param", "server://127.0.0.1:{P}/127.0.0.1:{Q}?mode=1&mode=2",
     ["mode", "more than once"]),
    ("repeated-param-escaped", "client://127.0.0.1:{P}/127.0.0.1:{Q}?log=info&%6Cog=debug",
     ["log", "more than once"]),
    ("repeated-hub-http", "hub://127.0.0.1:{P}?accounts=/nonexistent&http=:{Q}&http=:{P}",
     ["http", "more than once"]),
    ("repeated-master-param", "master://127.0.0.1:{P}?log=info&log=debug",
     ["log", "more than once"]),
]


@pytest.mark.parametrize("template,words", [c[1:] for c in BAD_URLS],
                         ids=[c[0] for c in BAD_URLS])
def test_bad_url_exits_2_with_one_line_naming_the_field(template, words, request, tmp_path):
    subst = {"P": free_port(), "Q": free_port()}
    if "{GARBAGE}" in template:
        certs = request.getfixturevalue("certs")
        garbage = tmp_path / "garbage.pem"
        garbage.write_text("this is not a certificate\n")
        subst["GARBAGE"] = garbage
        subst["KEY"] = certs.ec_key("valid")
    url = template.format(**subst)
    r = run_cli(url)
    assert r.returncode == 2, f"{url}: exit {r.returncode}, stderr={r.stderr!r}"
    lines = r.stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0], f"{url}: expected one stderr line, got {r.stderr!r}"
    assert lines[0].startswith("postern: "), lines[0]
    for w in words:
        assert w in lines[0].lower(), f"{url}: {lines[0]!r} does not name {w!r}"


def test_address_in_use_exits_1():
    holder = socket.socket()
    try:
        holder.bind((LOOPBACK, 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        r = run_cli(f"client://127.0.0.1:{port}/127.0.0.1:{free_port()}?mode=1")
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "address already in use" in r.stderr.lower(), r.stderr
    finally:
        holder.close()


def test_url_from_env_runs_the_url_in_postern_url(tmp_path):
    """--url-from-env [label]: the URL comes from $POSTERN_URL (the key stays off the
    command line); unset, or with extra arguments, it is a usage error."""
    import os
    import signal
    import time
    port = free_port()
    env = dict(os.environ, POSTERN_URL=f"client://{LOOPBACK}:{port}/{LOOPBACK}:9?mode=1")
    p = subprocess.Popen([POSTERN_BIN, "--url-from-env", "a label for ps"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection((LOOPBACK, port), timeout=1).close()
                break
            except OSError:
                assert p.poll() is None and time.monotonic() < deadline, p.communicate(timeout=5)
                time.sleep(0.05)
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=5)
    assert p.returncode == 0, err
    r = subprocess.run([POSTERN_BIN, "--url-from-env"], capture_output=True, text=True,
                       timeout=10, env={k: v for k, v in os.environ.items() if k != "POSTERN_URL"})
    assert r.returncode == 2 and "POSTERN_URL is not set" in r.stderr, (r.returncode, r.stderr)
    r = run_cli("--url-from-env", "a", "b")
    assert r.returncode == 2, (r.returncode, r.stderr)


def test_agent_routes_may_repeat():
    """tcp=, udp=, http=, https= are lists on agent:// (docs/hub.md): given twice, the
    agent runs (it dials a hub that is not there) rather than exit 2."""
    hub, a, b = free_port(), free_port(), free_port()
    url = (f"agent://0123456789abcdef0123@127.0.0.1:{hub}?tcp=127.0.0.1:{a}"
           f"&tcp=127.0.0.1:{b}&http=127.0.0.1:{a},host=a.test&http=127.0.0.1:{b},host=b.test")
    p = subprocess.Popen([POSTERN_BIN, url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        rc = p.wait(1.5)
    except subprocess.TimeoutExpired:
        rc = None
    finally:
        p.kill()
        err = p.communicate(timeout=5)[1].decode(errors="replace")
    assert rc is None, f"agent with repeated route parameters exited {rc}: {err}"
