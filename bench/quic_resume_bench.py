#!/usr/bin/env python3
"""A type=1 client's reconnection: how long its new QUIC handshake takes, full or resumed,
with and without the server asking for Retry (docs/internals/quic.md "Reconnection").

A server `server://...?type=1&tls=1` and a client reach each other through a TCP relay
(control) and a UDP relay (QUIC) on one port; the UDP relay delays every datagram by
--delay ms each way (an RTT of twice that). Each round cuts the control connection: the
client's session ends with its QUIC connection, it connects again and dials a new QUIC
connection. Printed per case, over --rounds reconnections (the first connection aside): the
handshake time the client logs (from making the connection to handshake_completed; median,
min, max), how the handshakes went, and the Retry packets the relay saw. Cases:

  full          client POSTERN_QUIC_NO_RESUME=1: keeps no ticket, no token
  resumed       the client's defaults: the ticket of the connection before, 0-RTT offered
                (accepted; no stream data in it)
  full+Retry    server POSTERN_QUIC_RETRY=1, client POSTERN_QUIC_NO_RESUME=1
  resumed+token server POSTERN_QUIC_RETRY=1, the client's defaults (its NEW_TOKEN)

Usage: bench/quic_resume_bench.py [--postern build/postern] [--rounds 15] [--delay 10]
"""
import argparse
import heapq
import os
import re
import select
import socket
import statistics
import subprocess
import threading
import time

HS = re.compile(r"DEBUG quic: (full handshake|session resumed)(.*) \(([0-9.]+) ms\)$")


def free_port(kind=socket.SOCK_STREAM):
    while True:
        a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        a.close()
        try:
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            b.bind(("127.0.0.1", port))
            b.close()
            return port
        except OSError:
            continue


class Relays:
    """TCP and UDP on 127.0.0.1:<port> to <upstream>; UDP delayed <delay> s each way."""

    def __init__(self, port, upstream, delay):
        self.up, self.delay, self.stop = upstream, delay, False
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", port))
        self.tcp.listen(16)
        self.conns = []
        self.a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.a.bind(("127.0.0.1", port))
        self.b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.b.connect(("127.0.0.1", upstream))
        self.client = None
        self.retries = 0
        for f in (self._accept, self._udp):
            threading.Thread(target=f, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.tcp.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.up))
            self.conns += [c, u]
            for x, y in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(x, y), daemon=True).start()

    @staticmethod
    def _pipe(x, y):
        try:
            while True:
                d = x.recv(65536)
                if not d:
                    break
                y.sendall(d)
        except OSError:
            pass
        for s in (x, y):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns = []

    def _udp(self):
        q = []
        n = 0
        while not self.stop:
            wait = max(0.0, q[0][0] - time.monotonic()) if q else 0.05
            try:
                ready = select.select([self.a, self.b], [], [], wait)[0]
            except (OSError, ValueError):
                return                          # closed
            for s in ready:
                try:                            # not blocking: see tests/integration/quic_util.py
                    d, addr = s.recvfrom(65536, socket.MSG_DONTWAIT)
                except OSError:
                    continue                    # ICMP: the server is gone, or nothing left
                if s is self.a:
                    self.client = addr
                elif d[0] & 0xf0 == 0xf0:       # long header, type 3: Retry
                    self.retries += 1
                n += 1
                heapq.heappush(q, (time.monotonic() + self.delay, n, s is self.a, d))
            while q and q[0][0] <= time.monotonic():
                _, _, up, d = heapq.heappop(q)
                try:                            # ECONNREFUSED: a server being restarted
                    if up:
                        self.b.send(d)
                    elif self.client is not None:
                        self.a.sendto(d, self.client)
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.cut()
        for s in (self.tcp, self.a, self.b):
            s.close()


class Proc:
    def __init__(self, argv, env):
        self.lines = []
        self.p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait(self, rx, n, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = [m for m in (rx.search(x) for x in list(self.lines)) if m]
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise SystemExit(f"timed out waiting for {rx.pattern} x{n}:\n" + "\n".join(self.lines[-20:]))

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def case(binary, rounds, delay, retry, resume):
    tport, uport, rport = free_port(), free_port(), free_port()
    env = dict(os.environ, POSTERN_BACKOFF_MAX="1s")
    senv = dict(env, **({"POSTERN_QUIC_RETRY": "1"} if retry else {}))
    cenv = dict(env, **({} if resume else {"POSTERN_QUIC_NO_RESUME": "1"}))
    s = Proc([binary, f"server://bench-resume@127.0.0.1:{tport}/127.0.0.1:{uport}"
              "?type=1&tls=1&log=debug"], senv)
    time.sleep(0.5)
    r = Relays(rport, tport, delay / 1000.0)
    c = Proc([binary, f"client://bench-resume@127.0.0.1:{rport}/127.0.0.1:9?mode=2&log=debug"],
             cenv)
    try:
        c.wait(HS, 1, 20)
        time.sleep(0.5)                 # the tickets and the token arrive after the handshake
        retries0 = r.retries
        for i in range(rounds):
            r.cut()
            c.wait(HS, i + 2, 20)
            time.sleep(0.3)
        got = c.wait(HS, rounds + 1, 1)[1:]
        ms = [float(m.group(3)) for m in got]
        kinds = {}
        for m in got:
            k = m.group(1) + m.group(2)
            kinds[k] = kinds.get(k, 0) + 1
        return ms, kinds, r.retries - retries0
    finally:
        c.stop()
        s.stop()
        r.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--postern", default="build/postern")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--delay", type=float, default=10.0, help="ms each way on the UDP relay")
    a = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cpus, UDP delay {a.delay} ms each way")
    for name, retry, resume in (("full", 0, 0), ("resumed", 0, 1), ("full+Retry", 1, 0),
                                ("resumed+token", 1, 1)):
        ms, kinds, retries = case(a.postern, a.rounds, a.delay, retry, resume)
        print(f"{name:14s} handshake ms median {statistics.median(ms):7.2f}  min {min(ms):7.2f}  "
              f"max {max(ms):7.2f}  Retry packets {retries:3d}  {kinds}")
    print(f"load {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
