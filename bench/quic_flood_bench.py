#!/usr/bin/env python3
"""A flood of real QUIC Initials against a type=1 server: what it costs the server.

The same 5000 client Initials (each a new connection: a fresh ClientHello with ALPN
postern-tunnel/1 under the Initial keys of a new DCID, tests/harness/quic_wire.py) are sent
as fast as one Python thread can, round robin from 64 sockets on 64 source addresses
(127.0.0.2 to 127.0.0.65, so the cap of 64 handshakes per source does not stop them), to a
fresh `server://...?type=1&tls=1`. Printed: the send rate, the CPU seconds the server spent
(utime + stime from /proc, from the first datagram to 2 s after the last), its peak RSS
(VmHWM) and the server's answers by long-header type (0 Initial: a handshake started; 3
Retry). Nothing answers the server back: every handshake it starts stays open until its
deadline.

Usage: bench/quic_flood_bench.py <postern binary> [<postern binary> ...]
"""
import os
import select
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from harness.quic_wire import client_initial, long_type  # noqa: E402

N = 5000
SOCKS = 64


def free_pair():
    """A port free for TCP and UDP, with the next one free too (the user port)."""
    while True:
        a = socket.socket()
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        a.close()
        try:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                for q in (port, port + 1):
                    b = socket.socket(socket.AF_INET, kind)
                    b.bind(("127.0.0.1", q))
                    b.close()
            return port
        except OSError:
            continue


def drain(socks, replies):
    for s in select.select(socks, [], [], 0)[0]:
        try:
            while True:
                k = long_type(s.recv(65536))
                replies[k] = replies.get(k, 0) + 1
        except BlockingIOError:
            pass


def run(binary, pkts):
    port = free_pair()
    p = subprocess.Popen([binary, f"server://bench@127.0.0.1:{port}/127.0.0.1:{port + 1}"
                          "?type=1&tls=1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socks = []
    try:
        time.sleep(1.0)
        assert p.poll() is None, "the server did not start"

        def cpu():
            f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        for i in range(SOCKS):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((f"127.0.0.{2 + i}", 0))
            u.setblocking(False)
            socks.append(u)
        replies = {}
        c0, t0 = cpu(), time.monotonic()
        for i, d in enumerate(pkts):
            socks[i % SOCKS].sendto(d, ("127.0.0.1", port))
            if i % SOCKS == SOCKS - 1:
                time.sleep(0.002)
                drain(socks, replies)
        took = time.monotonic() - t0
        time.sleep(2.0)
        drain(socks, replies)
        c1 = cpu()
        rss = [ln for ln in open(f"/proc/{p.pid}/status") if ln.startswith("VmHWM")][0].split()[1]
        print(f"{binary}: {len(pkts)} Initials in {took:.1f} s ({len(pkts) / took:.0f}/s); "
              f"server CPU {c1 - c0:.2f} s; peak RSS {rss} kB; answers by type "
              f"{dict(sorted(replies.items(), key=str))}", flush=True)
    finally:
        for s in socks:
            s.close()
        p.terminate()
        p.wait(10)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    pkts = [client_initial()[0] for _ in range(N)]
    for b in sys.argv[1:]:
        run(b, pkts)


if __name__ == "__main__":
    main()
