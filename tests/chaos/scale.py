"""Sizes of the chaos suite and its report. Short form (the default, run by
scripts/test.sh): a few hundred attackers for a few seconds, the whole suite in about
90 s. Long form (CHAOS_LONG=1, bench/chaos.sh): 2000 attackers from 16 source
addresses, 20 s per attack, processes at `ulimit -n 1024`. With CHAOS_REPORT=<file>
every test appends one JSON line of figures to that file."""
import json
import os
import socket
import time

LONG = os.environ.get("CHAOS_LONG") == "1"
ATTACKERS = 2000 if LONG else 300
SOURCES = 16 if LONG else 4              # attacking addresses 127.0.1.1 .. 127.0.1.N
ATTACK_S = 20.0 if LONG else 3.0
NOFILE = 1024 if LONG else 256           # the attacked process's descriptor limit
TRANSFER = (64 if LONG else 16) * 1024 * 1024
GOOD_SRC = "127.0.0.2"


def sources():
    return [f"127.0.1.{i + 1}" for i in range(SOURCES)]


def report(name, **figures):
    """Print the figures and append them to $CHAOS_REPORT (one JSON object a line)."""
    rec = {"test": name, "long": LONG, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                            time.gmtime()),
           "loadavg_1min": round(os.getloadavg()[0], 2)}
    rec.update(figures)
    print("CHAOS " + json.dumps(rec, sort_keys=True))
    path = os.environ.get("CHAOS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")


def log_bytes(proc):
    """Bytes of output a harness LoggedProcess has written so far (both streams)."""
    return sum(len(line) + 1 for s in ("stdout", "stderr") for line in proc.lines(s))


def echo_ok(port, src=GOOD_SRC, timeout=3.0):
    """One echo round trip through 127.0.0.1:<port> from <src> (the good client)."""
    payload = os.urandom(16)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=(src, 0) if src else None) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            b = s.recv(64)
            if not b:
                return False
            got += b
        return got == payload
