"""A raw SOCKS5 client (RFC 1928/1929), for the shapes curl never sends: the proxy
entrance's tests (tests/integration/proxy_util.py) and its valgrind session."""
import socket
import struct

from .net import LOOPBACK


def socks_addr(host, port):
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host) + struct.pack(">H", port)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack(">H", port)
    except OSError:
        h = host.encode()
        return b"\x03" + bytes([len(h)]) + h + struct.pack(">H", port)


def recv_n(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError(f"closed after {len(b)} of {n} bytes")
        b += c
    return b


def socks_reply(s):
    """Read a SOCKS5 reply: (REP, (host, port))."""
    head = recv_n(s, 4)
    atyp = head[3]
    if atyp == 1:
        host = socket.inet_ntop(socket.AF_INET, recv_n(s, 4))
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, recv_n(s, 16))
    else:
        host = recv_n(s, recv_n(s, 1)[0]).decode()
    port = struct.unpack(">H", recv_n(s, 2))[0]
    return head[1], (host, port)


def socks_open(port, user, pw, host, dport, cmd=1, timeout=5.0):
    """Greet, authenticate and send a request. Returns (socket, auth status, REP,
    bound address); REP is None when the authentication failed."""
    s = socket.create_connection((LOOPBACK, port), timeout=timeout)
    s.sendall(b"\x05\x01\x02")
    assert recv_n(s, 2) == b"\x05\x02"
    u, p = user.encode(), pw.encode()
    s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
    ver, status = recv_n(s, 2)
    assert ver == 1
    if status != 0:
        return s, status, None, None
    s.sendall(b"\x05" + bytes([cmd]) + b"\x00" + socks_addr(host, dport))
    rep, bnd = socks_reply(s)
    return s, status, rep, bnd


def closed_within(s, seconds):
    """True when the peer closes <s> (EOF or reset) within <seconds>, reading what comes."""
    s.settimeout(seconds)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
