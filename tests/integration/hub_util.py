"""Helpers for the hub tests (9*_hub_*_test.py), on top of conftest.py and udp_util.py.
The contract under test is docs/hub.md.

- Hub                the `postern hub://...` process with its accounts file in a temp dir:
                     start (control, http, https ports waited for), SIGHUP reload, restart
                     on the same ports, HUB_STATE lines parsed as JSON (state / wait_state)
- Agent / Route      `postern agent://<token>@hub?<type>=<local>,<opt>=..&config=<file>`:
                     waits for the "agent: route <name> registered as <x>" and
                     "... refused: <reason>" lines, rewrites its routes file and reloads
- account()          an accounts-file entry with a fresh token
- port_block()       (tests/harness/net.py) <n> consecutive free ports for the hub's ports=
- backends           HttpEcho, WsEcho, TlsEcho, UdpEcho, paced_source_handler ...
                     (tests/harness/backends.py, re-exported here), conftest Backend handlers
- clients            http_request / HttpConn (raw sockets, a strict response reader),
                     assert_page (the hub's error pages), curl_host, s_client, ws_exchange,
                     tls_in_pieces (a ClientHello cut into TCP segments)
- keys (§5)          hub_psk_hex / hub_psk_identity, s_client_hub (openssl s_client with that
                     PSK through a control-preamble relay), parse_tlvs
- HubStack           owns every process and backend of a test (or a module) and stops them
                     all, processes by PID; `hubstack` is its function-scoped fixture

Every wait has a deadline.
"""
import asyncio
import hashlib
import hmac
import html
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (LOOPBACK, Backend, PosternFactory, _failed, curl, free_port, recv_all,
                      require_tool, wait_port)
from harness.backends import (HttpEcho, TlsEcho, UdpEcho, WsEcho,  # noqa: F401 - re-exported
                              close_at_once_handler, header_values, paced_source_handler,
                              pattern_bytes)
from harness.certs import make_cert  # noqa: F401 - re-exported
from harness.net import connect_from, port_block  # noqa: F401 - re-exported
from harness.procs import dump_outputs, run_with_stdin
from udp_util import UdpClient  # noqa: F401 - re-exported for the tests

# Fast state lines, pings and reconnects for every hub test.
HUB_ENV = {"POSTERN_REPORT_INTERVAL": "500ms", "POSTERN_BACKOFF_MAX": "1s"}
REPORT_INTERVAL = 0.5
DOMAIN = "hub.test"
USER_IP = "127.0.0.2"           # a distinct loopback source address for "the user"

HUB_STATE_RE = r"HUB_STATE\|(\{.*\})\s*$"
AUTH_FAIL_RE = r"(?i)authenticat"
# "registered as app.hub.test" (docs/hub.md §2); tcp/udp: "registered on the hub's port N";
# "refused: <reason>" (docs/hub.md §2), the binary writes "refused (<CODE>): <reason>"
ROUTE_LINE = (r"agent: route {name} (?:(?P<ok>registered) (?:as )?(?P<as>.*?)\s*$"
              r"|(?P<no>refused)(?: \((?P<code>[A-Z]+)\))?: ?(?P<reason>.*))")


# --------------------------------------------------------------------------------------
# ports and accounts
# --------------------------------------------------------------------------------------

def auth_spec(user, password, salt=None):
    """An http route's auth= value (docs/hub.md §2): <user>:sha256$<salt hex>$<hex of
    SHA-256(salt || password)>."""
    salt = salt if salt is not None else os.urandom(16)
    return f"{user}:sha256${salt.hex()}${hashlib.sha256(salt + password.encode()).hexdigest()}"


class TlsHub:
    """A hub that terminates TLS (https=, certs= with one certificate for <name>, from a
    test CA of its own), in a HubStack of <directory>: .st, .ca, .acct (the first of
    <accounts>) and .hub; <params> more hub parameters ("type=3"); the test adds its
    backends and agents, and calls cleanup()."""

    def __init__(self, directory, base, name, accounts, http=False, params=""):
        from harness.certs import CertFactory
        d = Path(directory)
        self.st = HubStack(d)
        try:
            self.ca = CertFactory(d / "ca")
            certs = d / "certs"
            install_cert(self.ca, certs, base, 1, name)
            self.acct = accounts[0]
            self.hub = self.st.hub(accounts, http=http, https=True,
                                   params=f"certs={certs}" + (f"&{params}" if params else ""))
        except BaseException:
            self.st.cleanup()
            raise

    def cleanup(self):
        self.st.cleanup()


def install_cert(ca, certs_dir, base, serial, name):
    """A leaf of the test CA <ca> (harness.certs.CertFactory) for <name> (a DNS name, "*."
    allowed) written as <certs_dir>/<base>.crt and .key for a hub's certs= folder: beside,
    then renamed over (key first), as docs/hub.md §1.1 says to replace a pair. Return the
    certificate's path in the CA's folder."""
    crt, key = ca.leaf(f"{base}-{serial}", serial, cn=name, san=f"DNS:{name}")
    d = Path(certs_dir)
    d.mkdir(parents=True, exist_ok=True)
    for src, dst in ((key, d / f"{base}.key"), (crt, d / f"{base}.crt")):
        tmp = d / f".{dst.name}.new"
        tmp.write_bytes(Path(src).read_bytes())
        os.replace(tmp, dst)
    return crt


def account(name, token=None, **limits):
    """An accounts-file entry: name, a fresh 32-character token, and <limits>
    (max_routes, max_conns, rps, mbps, ports, hosts)."""
    a = {"name": name, "token": token or (name + "-" + os.urandom(12).hex())[:64]}
    a.update(limits)
    return a


# --------------------------------------------------------------------------------------
# the hub
# --------------------------------------------------------------------------------------

class Hub:
    """postern hub://127.0.0.1:<ctl>?accounts=<dir>/accounts.json&http=..&https=..&ports=..

    <ports> is (lo, hi) or None; <http>/<https> turn those listeners on (fresh ports);
    <params> are extra URL parameters ("timeout=1s")."""

    def __init__(self, factory, directory, accounts, http=True, https=False, ports=None,
                 domain=DOMAIN, params="", env=None):
        self.factory = factory
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.accounts_path = self.dir / "accounts.json"
        self.accounts = list(accounts)
        self.want_http, self.want_https = http, https
        self.ports = ports
        self.domain = domain
        self.params = params
        self.env = dict(HUB_ENV, **(env or {}))
        # type=1 keeps its stateless reset key there (docs/hub.md §1): the test's, not $HOME's
        self.env.setdefault("XDG_STATE_HOME", str(self.dir / "state"))
        self.proc = None
        self.procs = []
        self._pick_ports()

    def _pick_ports(self):
        self.ctl = free_port()
        self.http_port = free_port() if self.want_http else None
        self.https_port = free_port() if self.want_https else None

    def token(self, name):
        for a in self.accounts:
            if a["name"] == name:
                return a["token"]
        raise KeyError(name)

    def write_accounts(self, accounts=None, raw=None):
        if accounts is not None:
            self.accounts = list(accounts)
        text = raw if raw is not None else json.dumps({"accounts": self.accounts}, indent=1)
        tmp = self.accounts_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.accounts_path)

    def url(self):
        q = [f"accounts={self.accounts_path}"]
        if self.http_port:
            q.append(f"http=127.0.0.1:{self.http_port}")
        if self.https_port:
            q.append(f"https=127.0.0.1:{self.https_port}")
        if self.ports:
            q.append(f"ports={self.ports[0]}-{self.ports[1]}")
        if self.domain:
            q.append(f"domain={self.domain}")
        if self.params:
            q.append(self.params)
        return f"hub://127.0.0.1:{self.ctl}?" + "&".join(q)

    def _launch(self):
        p = self.factory.run([self.url()], self.env)
        self.procs.append(p)
        for port in (self.http_port, self.https_port, self.ctl):
            if port:
                wait_port(port, timeout=5, proc=p.proc)
        return p

    def start(self, retries=3):
        """Write the accounts file, start the hub and wait until its ports accept; pick
        fresh ports and retry when one was taken meanwhile."""
        self.write_accounts()
        last = None
        for _ in range(retries):
            n = len(self.procs)
            try:
                self.proc = self._launch()
                return self
            except AssertionError as e:
                p = self.procs[n] if len(self.procs) > n else None
                out = p.output() if p else ""
                if p is not None:
                    p.cleanup()
                    out = p.output()
                last = AssertionError(f"hub did not start: {e}\nhub output:\n{out}")
                if "address already in use" not in out.lower():
                    raise last from None
                self._pick_ports()
        raise last

    def restart(self, timeout=8.0):
        """SIGKILL the hub and start a new one with the same URL (same ports), retrying
        while a port is still busy."""
        self.kill()
        deadline = time.monotonic() + timeout
        while True:
            n = len(self.procs)
            try:
                self.proc = self._launch()
                return self.proc
            except AssertionError as e:
                p = self.procs[n] if len(self.procs) > n else None
                out = ""
                if p is not None:
                    p.cleanup()
                    out = p.output()
                if "address already in use" not in out.lower() or time.monotonic() > deadline:
                    raise AssertionError(f"hub restart failed: {e}\n{out}") from None
                time.sleep(0.2)

    def kill(self):
        self.proc.kill()

    def reload(self):
        self.proc.proc.send_signal(signal.SIGHUP)

    # ---- HUB_STATE -------------------------------------------------------------------

    def wait_state(self, pred=lambda s: True, timeout=5.0, start=None, what="HUB_STATE"):
        """Wait for a HUB_STATE line (at index >= <start>, default: lines from now on)
        whose JSON object satisfies <pred>; return that object."""
        p = self.proc
        i = p.mark() if start is None else start
        deadline = time.monotonic() + timeout
        seen = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {what} within {timeout}s; last HUB_STATE seen: "
                                     f"{json.dumps(seen)[:3000] if seen else None}")
            try:
                idx, m = p.wait_for_log_index(HUB_STATE_RE, timeout=remaining, start=i)
            except AssertionError as e:
                raise AssertionError(f"no {what} within {timeout}s; last HUB_STATE seen: "
                                     f"{json.dumps(seen)[:3000] if seen else None}\n"
                                     f"{e}") from None
            i = idx + 1
            seen = json.loads(m.group(1))
            try:
                ok = pred(seen)
            except (KeyError, TypeError, IndexError, ValueError):
                ok = False
            if ok:
                return seen

    def state(self, timeout=5.0):
        """The next HUB_STATE object."""
        return self.wait_state(timeout=timeout)


def state_account(state, name):
    for a in state.get("accounts", []):
        if a.get("name") == name:
            return a
    return None


def state_route(state, key, type_=None):
    for r in state.get("routes", []):
        if str(r.get("key")) == str(key) and (type_ is None or r.get("type") == type_):
            return r
    return None


# --------------------------------------------------------------------------------------
# agents
# --------------------------------------------------------------------------------------

class Route:
    """One route of an agent: <type> (tcp, udp, http, https), <local> (a port on
    127.0.0.1 or "host:port") and the options of docs/hub.md §2 (port, host, group,
    group_key, probe, probe_interval, name)."""

    def __init__(self, type_, local, **opts):
        assert type_ in ("tcp", "udp", "http", "https")
        self.type = type_
        self.local = f"127.0.0.1:{local}" if isinstance(local, int) else local
        self.opts = {k: v for k, v in opts.items() if v is not None}
        if "name" not in self.opts:
            key = self.opts.get("port") or self.opts.get("host")
            assert key, "give name= to a route without port= or host="
        self.name = self.opts.get("name") or f"{type_}:{self.opts.get('port') or self.opts.get('host')}"

    def url_param(self):
        return f"{self.type}={self.local}" + "".join(f",{k}={v}" for k, v in self.opts.items())

    def as_json(self):
        d = {"type": self.type, "local": self.local}
        d.update(self.opts)
        return d

    def __repr__(self):
        return f"Route({self.url_param()})"


def parse_port(text):
    """The port in a "registered as" text: "10022", ":10022", "127.0.0.1:10022",
    "port 10022"..."""
    m = re.search(r"(\d{1,5})\D*$", text)
    assert m, f"no port in {text!r}"
    return int(m.group(1))


class Agent:
    """postern agent://<token>@127.0.0.1:<hub ctl>?<url routes>[&config=<file>][&params]"""

    def __init__(self, factory, hub, token, routes=(), config_routes=None, directory=None,
                 params="", env=None, label="agent"):
        self.factory = factory
        self.hub = hub
        self.token = token
        self.routes = list(routes)
        self.config_routes = None if config_routes is None else list(config_routes)
        self.label = label
        self.config_path = None
        if self.config_routes is not None:
            d = Path(directory or hub.dir)
            self.config_path = d / f"{label}-{os.urandom(3).hex()}-routes.json"
        self.params = params
        self.env = dict(HUB_ENV, **(env or {}))
        self.proc = None
        self.procs = []

    def url(self):
        q = [r.url_param() for r in self.routes]
        if self.config_path is not None:
            q.append(f"config={self.config_path}")
        if self.params:
            q.append(self.params)
        return f"agent://{self.token}@127.0.0.1:{self.hub.ctl}?" + "&".join(q)

    def write_config(self, routes=None):
        if routes is not None:
            self.config_routes = list(routes)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"routes": [r.as_json() for r in self.config_routes]},
                                  indent=1))
        os.replace(tmp, self.config_path)

    def all_routes(self):
        return self.routes + (self.config_routes or [])

    def start(self, wait=True, timeout=10.0):
        """Start the agent; with <wait>, wait until every route is registered (fail at
        once with the reason when one is refused). Return a dict route name -> "as"."""
        if self.config_path is not None:
            self.write_config()
        self.proc = self.factory.run([self.url()], self.env)
        self.procs.append(self.proc)
        if not wait:
            return None
        return {r.name: self.registered(r, timeout=timeout) for r in self.all_routes()}

    def _outcome(self, route, timeout, start):
        name = route if isinstance(route, str) else route.name
        rx = ROUTE_LINE.format(name=re.escape(name))
        return self.proc.wait_for_log(rx, timeout=timeout, start=start)

    def registered(self, route, timeout=10.0, start=0):
        """Wait for the route's outcome line; return the "registered as" text, fail with
        the reason when it was refused."""
        m = self._outcome(route, timeout, start)
        assert m.group("ok"), f"{self.label}: route {route} was refused: {m.group(0)}"
        return m.group("as")

    def refused(self, route, timeout=10.0, start=0):
        """Wait for the route's outcome line; return the refusal reason, fail when it was
        registered instead."""
        m = self._outcome(route, timeout, start)
        assert m.group("no"), f"{self.label}: route {route} was registered, expected a " \
                              f"refusal: {m.group(0)}"
        return m.group("reason")

    def port_of(self, route, timeout=10.0, start=0):
        return parse_port(self.registered(route, timeout, start))

    def reload(self):
        self.proc.proc.send_signal(signal.SIGHUP)

    def kill(self):
        self.proc.kill()

    def restart(self, wait=True, timeout=10.0):
        """Start a new process with the same URL (the old one should be dead)."""
        return self.start(wait=wait, timeout=timeout)


# --------------------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------------------

def ws_exchange(port, host, messages, timeout=15.0, path="/ws", cafile=None):
    """Open ws://<host>:<port><path> (the TCP connection goes to 127.0.0.1:<port>, the
    Host header names <host>), or wss:// verified against <cafile> when given, send each
    of <messages> and wait for its echo; return the list of echoes."""
    import websockets
    tls = {}
    if cafile:      # the TCP connection goes to 127.0.0.1: the name is given for SNI
        tls = {"ssl": ssl.create_default_context(cafile=str(cafile)), "server_hostname": host}

    async def run():
        async with websockets.connect(f"{'wss' if tls else 'ws'}://{host}:{port}{path}",
                                      host=LOOPBACK, port=port, open_timeout=5,
                                      close_timeout=2, max_size=4 << 20, **tls) as ws:
            out = []
            for m in messages:
                await ws.send(m)
                out.append(await asyncio.wait_for(ws.recv(), 5))
            return out

    return asyncio.run(asyncio.wait_for(run(), timeout))


PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def s_client(port, servername, data=b"ping\n", timeout=10.0):
    """Run `openssl s_client -connect 127.0.0.1:<port> -servername <servername>`
    (-noservername when None) with <data> on stdin (-ign_eof: it reads until the server
    closes). Return (exit code or "timeout", stdout bytes, stderr bytes, sha256 of the
    first certificate it printed or None)."""
    require_tool("openssl")
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-ign_eof"]
    args += ["-servername", servername] if servername else ["-noservername"]
    try:
        r = subprocess.run(args, input=data, capture_output=True, timeout=timeout)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or b"", e.stderr or b""
    m = PEM_RE.search(out)
    fp = None
    if m:
        fp = hashlib.sha256(ssl.PEM_cert_to_DER_cert(m.group(0).decode())).hexdigest()
    return rc, out, err, fp


def tls_in_pieces(port, sni, cuts=(1, 5, 40), gap=0.15, timeout=10.0):
    """A TLS client whose ClientHello reaches 127.0.0.1:<port> in pieces (split at byte
    offsets <cuts>, <gap> s apart). Return (sha256 of the server's certificate, the first
    line the server sent)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    deadline = time.monotonic() + timeout
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        edges = [0] + [c for c in cuts if c < len(hello)] + [len(hello)]
        for a, b in zip(edges, edges[1:]):
            s.sendall(hello[a:b])
            time.sleep(gap)

        def pump():
            data = out.read()
            if data:
                s.sendall(data)
            s.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the peer during the TLS exchange")
            inc.write(chunk)

        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pump()
        data = out.read()
        if data:
            s.sendall(data)
        fp = hashlib.sha256(obj.getpeercert(binary_form=True)).hexdigest()
        line = b""
        while not line.endswith(b"\n"):
            try:
                line += obj.read(4096)
            except ssl.SSLWantReadError:
                pump()
        return fp, line.decode(errors="replace").strip()


# --------------------------------------------------------------------------------------
# the control channel's keys (docs/hub.md §5)
# --------------------------------------------------------------------------------------

def hub_psk_hex(token):
    """PSK = HMAC-SHA256(key = "postern/hub-psk/v1", msg = token)."""
    return hmac.new(b"postern/hub-psk/v1", token.encode(), hashlib.sha256).hexdigest()


def hub_psk_identity(token):
    """"postern/hub/1/" + 32 lowercase hex digits of the first 16 bytes of
    HMAC-SHA256(key = "postern/hub-id/v1", msg = token)."""
    d = hmac.new(b"postern/hub-id/v1", token.encode(), hashlib.sha256).digest()
    return "postern/hub/1/" + d[:16].hex()


def s_client_hub(port, psk_hex, identity, hold=1.0, timeout=10.0):
    """openssl s_client -tls1_3 with an external PSK (<psk_hex>, <identity>) against
    127.0.0.1:<port> (a relay that sends the control preamble first); stdin is held open
    <hold> s. Return (exit code or None when killed at <timeout>, stdout bytes, stderr)."""
    require_tool("openssl")
    argv = ["openssl", "s_client", "-connect", f"{LOOPBACK}:{port}", "-tls1_3",
            "-ciphersuites", "TLS_AES_128_GCM_SHA256", "-psk", psk_hex,
            "-psk_identity", identity, "-quiet", "-nocommands"]
    rc, out, err, _ = run_with_stdin(argv, b"", hold, hold + timeout)
    return rc, out, err.decode(errors="replace")


def parse_tlvs(payload):
    """{type: value bytes} of a TLV payload (docs/protocol.md §4.1)."""
    out, i = {}, 0
    while i < len(payload):
        assert i + 3 <= len(payload), f"truncated TLV header at {i}: {payload.hex()}"
        t, n = payload[i], struct.unpack(">H", payload[i + 1:i + 3])[0]
        assert i + 3 + n <= len(payload), f"TLV {t} runs past the payload: {payload.hex()}"
        assert t not in out, f"TLV {t} repeated"
        out[t] = payload[i + 3:i + 3 + n]
        i += 3 + n
    return out


# --------------------------------------------------------------------------------------
# HTTP clients
# --------------------------------------------------------------------------------------

class Resp:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value) as received
        self.body = body
        self.closed = None              # "eof" / "reset" / "open" when checked

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return (f"<HTTP {self.status} {self.reason} headers={self.headers} "
                f"body={self.body[:300]!r} closed={self.closed}>")


def read_response(f, method="GET"):
    """Read one HTTP/1.x response from the binary file object <f>."""
    line = f.readline(65537)
    if not line:
        raise ConnectionError("connection closed before a response")
    m = re.match(rb"HTTP/1\.[01] (\d{3})(?: (.*))?\r?\n$", line)
    assert m, f"bad status line {line!r}"
    status, reason = int(m.group(1)), (m.group(2) or b"").decode("latin-1")
    headers = []
    while True:
        h = f.readline(65537)
        assert h, "connection closed inside the response head"
        if h in (b"\r\n", b"\n"):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    lower = {k.lower(): v for k, v in headers}
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Resp(status, reason, headers, b"")
    if "chunked" in lower.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size = int(f.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                while f.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += f.read(size)
            f.readline(3)
        return Resp(status, reason, headers, bytes(body))
    if "content-length" in lower:
        n = int(lower["content-length"])
        body = f.read(n)
        assert len(body) == n, f"short body: {len(body)} of {n} bytes"
        return Resp(status, reason, headers, body)
    return Resp(status, reason, headers, f.read())


def _check_closed(sock, f, within):
    """After a response: did the server close the connection within <within> s?"""
    deadline = time.monotonic() + within
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "open"
        sock.settimeout(remaining)
        try:
            b = f.read1(65536) if hasattr(f, "read1") else f.read(1)
        except socket.timeout:
            return "open"
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
        except OSError:
            return "reset"
        if not b:
            return "eof"
        # extra bytes after the response: report them
        return "data:" + repr(b[:60])


def build_request(host, path="/", method="GET", headers=(), body=b"", keepalive=False):
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    if not keepalive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_request(port, host, path="/", method="GET", headers=(), body=b"", src_ip=None,
                 timeout=5.0, keepalive=False, check_close=False, raw=None):
    """One request on a fresh connection to 127.0.0.1:<port> (from <src_ip>); return a
    Resp. <raw> replaces the whole request. With <check_close>, Resp.closed tells whether
    the server then closed the connection (waits up to 2 s)."""
    s = connect_from(src_ip, port, timeout=timeout)
    try:
        s.sendall(raw if raw is not None else
                  build_request(host, path, method, headers, body, keepalive))
        f = s.makefile("rb")
        r = read_response(f, method)
        if check_close:
            r.closed = _check_closed(s, f, 2.0)
        return r
    finally:
        s.close()


def try_request(port, host, path="/", **kw):
    """http_request that returns the exception text instead of raising (for polling)."""
    try:
        return http_request(port, host, path, **kw)
    except (OSError, AssertionError, ConnectionError, ValueError) as e:
        return f"{type(e).__name__}: {e}"


def wait_status(port, host, pred, timeout, path="/", what=None, interval=0.1, **kw):
    """Poll requests until pred(resp) (resp may be an error string); return that resp."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        r = try_request(port, host, path, **kw)
        try:
            ok = pred(r)
        except (AttributeError, TypeError):
            ok = False
        if ok:
            return r
        last = r
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what or 'HTTP condition'} for Host {host} not met within "
                                 f"{timeout}s; last: {last!r}")
        time.sleep(interval)


def is_status(code):
    return lambda r: isinstance(r, Resp) and r.status == code


def backend_of(r):
    """The backend name in an HttpEcho answer, or None."""
    if isinstance(r, Resp) and r.status == 200:
        try:
            return r.json().get("backend")
        except ValueError:
            return None
    return None


class HttpConn:
    """One keep-alive user connection: request() sends one request and reads its
    response; send()/read() for pipelining."""

    def __init__(self, port, src_ip=None, timeout=5.0):
        self.sock = connect_from(src_ip, port, timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.local = self.sock.getsockname()

    def send(self, host, path="/", method="GET", headers=(), body=b""):
        self.sock.sendall(build_request(host, path, method, headers, body, keepalive=True))

    def send_chunked(self, host, path, chunks, headers=()):
        """A POST whose body is sent with Transfer-Encoding: chunked."""
        head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Transfer-Encoding: chunked"]
        head += [f"{k}: {v}" for k, v in headers]
        data = ("\r\n".join(head) + "\r\n\r\n").encode()
        for c in chunks:
            data += b"%x\r\n" % len(c) + c + b"\r\n"
        self.sock.sendall(data + b"0\r\n\r\n")

    def read(self, method="GET"):
        return read_response(self.f, method)

    def request(self, host, path="/", method="GET", headers=(), body=b""):
        self.send(host, path, method, headers, body)
        return self.read(method)

    def closed(self, within=2.0):
        return _check_closed(self.sock, self.f, within)

    def close(self):
        try:
            self.f.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def assert_page(r, status, text):
    """The hub's own page (docs/hub.md §1): <status>, a small HTML document saying <text>,
    Content-Type text/html; charset=utf-8, Cache-Control no-store, Connection: close,
    and the connection closed afterwards (when that was checked)."""
    assert isinstance(r, Resp), f"expected a {status} page, got {r!r}"
    assert r.status == status, f"expected status {status}, got {r!r}"
    ct = (r.header("Content-Type") or "").replace(" ", "").lower()
    assert ct == "text/html;charset=utf-8", f"Content-Type of the {status} page: {r!r}"
    assert "no-store" in (r.header("Cache-Control") or "").lower(), \
        f"Cache-Control of the {status} page: {r!r}"
    assert (r.header("Connection") or "").lower() == "close", \
        f"Connection header of the {status} page: {r!r}"
    body = r.text()
    assert re.search(r"(?i)<(!doctype|html|body|h1|p|title)\b", body), \
        f"the {status} page is not an HTML document: {body[:300]!r}"
    assert text in html.unescape(body), f"the {status} page does not say {text!r}: {body!r}"
    if r.closed is not None:
        assert r.closed in ("eof", "reset"), \
            f"the connection stayed open after the {status} page ({r.closed})"


def curl_host(http_port, host, path="/", extra=(), resolve=True):
    """curl http://<host>:<http_port><path>, with --resolve to 127.0.0.1 (the Host header
    is then "<host>:<port>") or, resolve=False, against 127.0.0.1 with -H 'Host: <host>'.
    Return (status, body bytes) ; status 0 when curl failed."""
    if resolve:
        args = ["--resolve", f"{host}:{http_port}:127.0.0.1",
                f"http://{host}:{http_port}{path}"]
    else:
        args = ["-H", f"Host: {host}", f"http://127.0.0.1:{http_port}{path}"]
    r = curl("-o", "-", "-w", "\n%{http_code}", *extra, *args)
    if r.returncode != 0:
        return 0, r.stderr
    body, _, code = r.stdout.rpartition(b"\n")
    return int(code), body


# --------------------------------------------------------------------------------------
# the stack of one test (or module)
# --------------------------------------------------------------------------------------

class HubStack:
    """Owns the postern processes (a PosternFactory) and the backends of a test. Every
    process is stopped by PID and every backend closed in cleanup()."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.factory = PosternFactory()
        self.hubs = []
        self.agents = []
        self._backends = []

    # processes
    def hub(self, accounts, start=True, **kw):
        h = Hub(self.factory, self.dir / f"hub{len(self.hubs)}", accounts, **kw)
        self.hubs.append(h)
        return h.start() if start else h

    def agent(self, hub, token, routes=(), start=True, wait=True, timeout=10.0, **kw):
        a = Agent(self.factory, hub, token, routes, directory=self.dir,
                  label=kw.pop("label", f"agent{len(self.agents)}"), **kw)
        self.agents.append(a)
        if start:
            a.start(wait=wait, timeout=timeout)
        return a

    # backends
    def _keep(self, b):
        self._backends.append(b)
        return b

    def http_echo(self, name):
        return self._keep(HttpEcho(name))

    def ws_echo(self):
        return self._keep(WsEcho())

    def tls_echo(self, name):
        return self._keep(TlsEcho(self.dir / "certs", name))

    def udp_echo(self, name="udp-echo"):
        return self._keep(UdpEcho(name=name))

    def tcp(self, handler, name="backend"):
        return self._keep(Backend(handler, name=name))

    def tcp_on(self, handler, port, name="backend", timeout=5.0):
        """A Backend on exactly <port> (e.g. the port of a stopped one), retrying while
        the port is busy."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._keep(Backend(handler, port=port, name=name))
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def preamble_relay(self, port):
        """A relay to 127.0.0.1:<port> that sends the control preamble PN\\x01C first."""
        from limits_util import PreambleRelay
        return self._keep(PreambleRelay(port))

    def outputs(self):
        return dump_outputs(self.factory.started)

    def cleanup(self):
        self.factory.cleanup()
        for b in self._backends:
            try:
                b.stop()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass


@pytest.fixture
def hubstack(request, tmp_path):
    """Function-scoped HubStack; prints every postern output when the test failed."""
    st = HubStack(tmp_path / "hub")
    yield st
    st.cleanup()
    if _failed(request):
        print(st.outputs())


def held_conn(port, payload=b"hold", timeout=5.0):
    """A TCP connection to 127.0.0.1:<port> through which one echo round trip worked;
    returned open."""
    s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    try:
        s.settimeout(timeout)
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            b = s.recv(len(payload) - len(got))
            assert b, f"EOF after {len(got)} bytes of the echo"
            got += b
        assert got == payload
    except BaseException:
        s.close()
        raise
    return s


def wait_echo(port, timeout=10.0, what="the route"):
    """Until one echo round trip through <port> comes back whole (a route just published
    may refuse for a moment); fail with the last outcome after <timeout> s."""
    deadline = time.monotonic() + timeout
    while True:
        r = echo_once(port, timeout=3.0)
        if r is True:
            return
        assert time.monotonic() < deadline, f"{what} never answered: {r}"
        time.sleep(0.2)


def echo_once(port, payload=None, timeout=5.0):
    """One connection, one echo round trip; return True when the echo came back whole,
    else a text saying what happened."""
    payload = payload or os.urandom(16).hex().encode()
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            got = recv_all(s, limit=len(payload) + 1024)
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    return True if got == payload else f"got {got[:60]!r}"
