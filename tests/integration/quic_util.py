"""Helpers of the QUIC (type=1) tests: a UDP relay between a client and a server that can
lose datagrams, change its source port (a NAT's rebinding) or its server, and log what it
passes."""
import random
import select
import socket
import threading
import time


class UdpRelay:
    """A UDP relay on 127.0.0.1:<port> to 127.0.0.1:<upstream> that drops each datagram
    with probability <loss> (either way), and whose upstream socket (the source the server
    sees) is replaced by one of a new port when rebind() is called, as a NAT that forgets a
    mapping does (rebind(upstream): towards another server too, as if the first had
    restarted there). With <log>, each datagram passed is kept in .log as (time, "c2s" or
    "s2c", bytes)."""

    def __init__(self, port, upstream, loss=0.0, log=False):
        self.loss = loss
        self.log = [] if log else None
        self.dropped = 0
        self.rnd = random.Random(1015)
        self.a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.a.bind(("127.0.0.1", port))
        self.upstream = upstream
        self.b = self._upstream()
        self.client = None
        self.want_rebind = False
        self.ports = [self.b.getsockname()[1]]
        self.after = 0              # datagrams from the server since the last rebind
        self.count = 0              # datagrams either way
        self.mangle = None          # set: each client datagram becomes mangle(datagram)
        self.bytes = 0              # their bytes
        self.stop = False
        self.th = threading.Thread(target=self._run, daemon=True, name="udp-relay")
        self.th.start()

    def _upstream(self):
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        b.connect(("127.0.0.1", self.upstream))
        return b

    def rebind(self, upstream=None):
        if upstream is not None:
            self.upstream = upstream
        self.want_rebind = True

    def _run(self):
        while not self.stop:
            if self.want_rebind:
                old, self.b = self.b, self._upstream()
                old.close()
                self.ports.append(self.b.getsockname()[1])
                self.after = 0
                self.want_rebind = False
            r, _, _ = select.select([self.a, self.b], [], [], 0.1)
            for s in r:
                # Not blocking: select() also wakes for a pending ICMP error (a server
                # killed), and a send on that socket just before may have taken the
                # error; a blocking read would then wait for ever, the relay with it.
                try:
                    d, addr = s.recvfrom(65536, socket.MSG_DONTWAIT)
                except OSError:
                    continue
                if self.loss and self.rnd.random() < self.loss:
                    self.dropped += 1
                    continue
                self.bytes += len(d)
                if s is self.a:
                    if self.mangle is not None:
                        d = self.mangle(d)
                    self.client = addr
                    self.count += 1
                    self._keep("c2s", d)
                    self._send(self.b, d, None)
                elif self.client is not None:
                    self.after += 1
                    self.count += 1
                    self._keep("s2c", d)
                    self._send(self.a, d, self.client)

    @staticmethod
    def _send(s, d, addr):
        # a datagram sent while the far side is down (a server being restarted) comes back
        # as ECONNREFUSED on the next send; it is lost, as on a real network, and the relay
        # goes on (it used to end its thread, and nothing passed after the restart)
        try:
            if addr is None:
                s.send(d)
            else:
                s.sendto(d, addr)
        except OSError:
            pass

    def _keep(self, way, d):
        if self.log is not None:
            self.log.append((time.monotonic(), way, d))

    def close(self):
        self.stop = True
        self.th.join(5)
        self.a.close()
        self.b.close()
