#!/usr/bin/env python3
"""Write the seed corpus of the libFuzzer harnesses into tests/fuzz/corpus/<name>/
(its own seeds; other files there are kept).

Run once after changing a wire format; the files are checked in. Python stdlib only.
Byte layouts follow docs/protocol.md (section 10 test vectors are reproduced exactly and
checked against the encoders below), haproxy's proxy-protocol.txt, RFC 1928 (SOCKS5),
the SOCKS4/4a notes, RFC 9112 / RFC 9113 (HTTP/1.1, the HTTP/2 preface) and RFC 8446
(TLS ClientHello). Usage: python3 tests/fuzz/make_corpus.py [outdir]
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- tunnel protocol (docs/protocol.md) ----

FT = dict(HELLO=0x01, TCP=0x02, UDP=0x03, PING=0x04, PONG=0x05, FLUSH=0x06, VERIFY=0x07,
          ERROR=0x08, DATA_HELLO=0x0A, DATA_OK=0x0B)
CONN_ID = bytes.fromhex("00112233445566778899aabbccddeeff")
PROOF = bytes.fromhex("32e2a628761ed9905c09075228662bb3b7ad186d6f7c55329bde68f67eda9612")


def frame(ftype, payload=b"", flags=0, stream=0, version=1):
    """Frame header (version, type, flags, reserved 0, stream u32, length u32) + payload."""
    return struct.pack(">BBBBII", version, ftype, flags, 0, stream, len(payload)) + payload


def tlv(t, value):
    return struct.pack(">BH", t, len(value)) + value


def hello(flow=1, tls=1, max_=1024, proto=3, interval=5000, extra=b"", order=None):
    tlvs = {
        1: tlv(1, bytes([flow])),
        2: tlv(2, bytes([tls])),
        3: tlv(3, struct.pack(">I", max_)),
        4: tlv(4, bytes([proto])),
        5: tlv(5, struct.pack(">I", interval)) if interval is not None else b"",
    }
    return b"".join(tlvs[i] for i in (order or (1, 2, 3, 4, 5))) + extra


def hexbytes(s):
    return bytes.fromhex("".join(s.split()))


# docs/protocol.md section 10, verbatim.
VECTORS = {
    "hello": hexbytes("""01 01 00 00 00 00 00 00 00 00 00 1a 01 00 01 01 02 00 01 01
                         03 00 04 00 00 04 00 04 00 01 03 05 00 04 00 00 13 88"""),
    "tcp": hexbytes("""01 02 00 00 00 00 00 00 00 00 00 10
                       00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff"""),
    "ping": hexbytes("01 04 00 00 00 00 00 00 00 00 00 08 00 00 01 8f 2c 1d 0a 40"),
    "flush": hexbytes("01 06 00 00 00 00 00 00 00 00 00 00"),
    "data_ok": hexbytes("01 0b 00 00 00 00 00 00 00 00 00 00"),
    "error_busy": hexbytes("""01 08 00 00 00 00 00 00 00 00 00 1c 00 01 61 6e 6f 74 68 65
                              72 20 63 6c 69 65 6e 74 20 69 73 20 61 74 74 61 63 68 65 64"""),
    "data_hello": hexbytes("01 0a 00 00 00 00 00 00 00 00 00 30") + CONN_ID + PROOF,
}


def check_vectors():
    built = {
        "hello": frame(FT["HELLO"], hello()),
        "tcp": frame(FT["TCP"], CONN_ID),
        "ping": frame(FT["PING"], bytes.fromhex("0000018f2c1d0a40")),
        "flush": frame(FT["FLUSH"]),
        "data_ok": frame(FT["DATA_OK"]),
        "error_busy": frame(FT["ERROR"], struct.pack(">H", 1) + b"another client is attached"),
        "data_hello": frame(FT["DATA_HELLO"], CONN_ID + PROOF),
    }
    for name, want in VECTORS.items():
        if built[name] != want:
            sys.exit("make_corpus: encoder disagrees with docs/protocol.md vector %s" % name)


def frame_seeds():
    ping = bytes.fromhex("0000018f2c1d0a40")
    s = {"vec_" + k: v for k, v in VECTORS.items()}
    s.update({
        "udp": frame(FT["UDP"], CONN_ID),
        "tcp_tlv": frame(FT["TCP"], CONN_ID + tlv(0x20, b"future") + tlv(0x21, b"")),
        # SRC (0x01) / DST (0x02) TLVs of src/tunnel/frame.h: family 4|6, address, port u16.
        "tcp_addrs4": frame(FT["TCP"], CONN_ID +
                            tlv(0x01, b"\x04" + ip4("192.0.2.7") + b"\xd4\x31") +
                            tlv(0x02, b"\x04" + ip4("10.0.0.1") + b"\x00\x50")),
        "udp_addrs6": frame(FT["UDP"], CONN_ID +
                            tlv(0x02, b"\x06" + bytes(15) + b"\x01\x00\x35") +
                            tlv(0x01, b"\x06" + bytes.fromhex("20010db8" + "00" * 11 + "09") +
                                b"\xff\xff") + tlv(0x30, b"skip")),
        "tcp_addr_bad": frame(FT["TCP"], CONN_ID + tlv(0x01, b"\x04" + bytes(16) + b"\x00\x01")),
        "pong": frame(FT["PONG"], ping),
        "verify": frame(FT["VERIFY"], bytes(range(32))),
        "error_utf8": frame(FT["ERROR"], struct.pack(">H", 2) +
                            "caf\u00e9 \u2603 \U0001f512".encode()),
        "error_unsafe": frame(FT["ERROR"], struct.pack(">H", 6) +
                              b"a\nb\x1b[31m\xe2\x80\xae\xc0\xaf\xff"),
        "error_max": frame(FT["ERROR"], struct.pack(">H", 5) + b"x" * 256),
        "hello_min": frame(FT["HELLO"], hello(flow=0, tls=0, max_=1, proto=1, interval=None)),
        "hello_max": frame(FT["HELLO"], hello(flow=1, tls=2, max_=65536, proto=2,
                                              interval=3600000)),
        "hello_reordered": frame(FT["HELLO"], hello(order=(5, 3, 1, 4, 2),
                                                    extra=tlv(0x7f, b"later version"))),
        "hello_bad_range": frame(FT["HELLO"], hello(tls=3, max_=0, interval=99)),
        "hello_repeat": frame(FT["HELLO"], hello() + tlv(1, b"\x00")),
        "stream_session": (frame(FT["HELLO"], hello()) + frame(FT["TCP"], CONN_ID) +
                           frame(FT["PING"], ping, stream=0) + frame(FT["PONG"], ping) +
                           frame(FT["FLUSH"]) + frame(FT["VERIFY"], bytes(32)) +
                           frame(FT["ERROR"], b"\x00\x04bye")),
        "truncated": frame(FT["HELLO"], hello())[:20],
        "bad_version": frame(FT["PING"], ping, version=2),
        "bad_reserved": frame(FT["PING"], ping)[:3] + b"\x01" + frame(FT["PING"], ping)[4:],
        "unknown_type": frame(0x09, b"??", flags=0x80, stream=7),
        "over_bound": struct.pack(">BBBBII", 1, 2, 0, 0, 0, 65536 + 1025),
        "tlvs_only": tlv(1, b"\x01") + tlv(2, b"\x00\x00") + b"\x03\x00",
        # Hub frames (docs/hub.md §5): route id u32, then TLVs TYPE 1, PORT 2, HOST 3,
        # GROUP 4, GROUP_KEY 5, ONLINE 6, CODE 7, REASON 8.
        "hub_hello": frame(FT["HELLO"], hello(flow=0) + tlv(6, bytes(range(8)))),
        "hub_signal_route": frame(FT["TCP"], CONN_ID + tlv(3, struct.pack(">I", 7))),
        # TARGET (docs/protocol.md §5.2): port u16 + host, with SRC, and a repeated one.
        "signal_target": frame(FT["TCP"], CONN_ID + tlv(1, b"\x04\x7f\x00\x00\x01\x10\x00") +
                               tlv(4, b"\x01\xbb" + b"example.org")),
        "signal_target_v6": frame(FT["UDP"], CONN_ID + tlv(4, b"\x00\x35" + b"::1")),
        "signal_target_repeat": frame(FT["TCP"], CONN_ID + tlv(4, b"\x00\x50a") + tlv(4, b"\x00\x50b")),
        # RESULT (docs/protocol.md §6.5): code u8 + reason, the data channel's first frame.
        "result_ok": frame(0x11, b"\x00") + b"relayed bytes",
        "result_refused": frame(0x11, b"\x04Connection refused"),
        "result_unsafe": frame(0x11, b"\x05a\nb\xe2\x80\xae\xff", flags=0x40),
        "result_max": frame(0x11, b"\x01" + b"r" * 255),
        "result_too_long": frame(0x11, b"\x01" + b"r" * 256),
        "route_add": frame(0x0C, struct.pack(">I", 1) + tlv(1, b"\x03") + tlv(3, b"app.hub.test") +
                           tlv(5, b"k3y") + tlv(6, b"\x01")),
        "route_add_tcp": frame(0x0C, struct.pack(">I", 2) + tlv(1, b"\x01") + tlv(2, b"\x27\x10") +
                               tlv(4, b"dns")),
        "route_ok": frame(0x0D, struct.pack(">I", 2) + tlv(2, b"\x27\x10")),
        "route_fail": frame(0x0E, struct.pack(">I", 3) + tlv(7, b"\x00\x01") + tlv(8, b"port taken")),
        "route_del": frame(0x0F, struct.pack(">I", 3)),
        "route_state": frame(0x10, struct.pack(">I", 1) + tlv(6, b"\x00")),
    })
    return s


def handshake_seeds():
    dh = frame(FT["DATA_HELLO"], CONN_ID + PROOF)
    return {
        "data_hello": b"PN\x01D" + dh,
        "data_hello_then_bytes": b"PN\x01D" + dh + b"GET / HTTP/1.1\r\n",
        "control": b"PN\x01C",
        "control_then_tls": b"PN\x01C" + bytes.fromhex("16030100c8010000c40303"),
        "data_short": b"PN\x01D" + dh[:30],
        "data_wrong_type": b"PN\x01D" + frame(FT["DATA_OK"]) + bytes(48),
        "data_short_len": b"PN\x01D" + frame(FT["DATA_HELLO"], CONN_ID) + bytes(32),
        "data_long_len": b"PN\x01D" + frame(FT["DATA_HELLO"], CONN_ID + PROOF + b"!"),
        "bad_version": b"PN\x02D" + dh,
        "bad_kind": b"PN\x01X" + dh,
        "not_postern": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    }


# ---- PROXY protocol (haproxy proxy-protocol.txt) ----

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(cmd=1, fam=1, proto=1, addrs=b"", tlvs=b""):
    body = addrs + tlvs
    return V2_SIG + bytes([0x20 | cmd, fam << 4 | proto]) + struct.pack(">H", len(body)) + body


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def proxy_seeds():
    a4 = ip4("192.168.0.1") + ip4("10.0.0.2") + struct.pack(">HH", 56324, 443)
    a6 = (bytes.fromhex("20010db8000000000000000000000001") +
          bytes.fromhex("00000000000000000000ffff0a000002") + struct.pack(">HH", 53, 5353))
    return {
        "v1_tcp4": b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n",
        "v1_tcp6": b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.2 65535 0\r\n",
        "v1_unknown": b"PROXY UNKNOWN\r\n",
        "v1_unknown_addrs": b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
        "v1_longest": ("PROXY TCP6 " + ":".join(["ffff"] * 8) + " " + ":".join(["ffff"] * 8) +
                       " 65535 65535\r\n").encode(),
        "v1_bad_port": b"PROXY TCP4 1.2.3.4 5.6.7.8 080 65536\r\n",
        "v1_partial": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2",
        "v2_tcp4": v2(fam=1, proto=1, addrs=a4),
        "v2_udp4": v2(fam=1, proto=2, addrs=a4) + b"datagram",
        "v2_tcp6": v2(fam=2, proto=1, addrs=a6),
        "v2_udp6": v2(fam=2, proto=2, addrs=a6),
        "v2_local": v2(cmd=0, fam=0, proto=0),
        "v2_unspec": v2(cmd=1, fam=0, proto=0),
        "v2_unix": v2(fam=3, proto=1,
                      addrs=b"/tmp/a".ljust(108, b"\0") + b"/tmp/b".ljust(108, b"\0")),
        "v2_tcp4_tlvs": v2(fam=1, proto=1, addrs=a4,
                           tlvs=tlv(0x01, b"h2") + tlv(0x02, b"example.com")),
        "v2_short_addrs": v2(fam=2, proto=1, addrs=a4),
        "v2_bad_version": V2_SIG + b"\x11\x11\x00\x0c" + a4,
        # Shaped for the encoder half of fuzz_proxy.c: sel, cap, 16+16 IP bytes, ports.
        "enc_v1_v4": bytes([0x01, 108]) + ip4("127.0.0.1") + bytes(12) + ip4("10.1.2.3") +
                     bytes(12) + b"\x1f\x90\x00\x50",
        "enc_v2_mixed_udp": bytes([0x02 | 0x04 | 0x10, 28]) + ip4("8.8.8.8") + bytes(12) +
                            bytes.fromhex("fe800000000000000000000000000001") + b"\x00\x35\xff\xff",
        # The longest v1 line is 104 bytes: an exact fit, then one byte short.
        "enc_v1_v6_tight": bytes([0x01 | 0x08 | 0x10, 104]) + b"\xff" * 32 + b"\xff\xff\xff\xff",
        "enc_v1_v6_short": bytes([0x01 | 0x08 | 0x10, 103]) + b"\xff" * 32 + b"\xff\xff\xff\xff",
    }


# ---- first bytes: SOCKS, HTTP, TLS ----

def client_hello_prefix():
    """The first bytes of a TLS 1.3 ClientHello: record + handshake headers, random, suites."""
    body = (b"\x03\x03" + bytes(range(32)) + b"\x20" + bytes(range(32, 64)) +
            b"\x00\x06\x13\x01\x13\x02\x13\x03" + b"\x01\x00" +
            struct.pack(">H", 18) + tlv2(0x0000, b"\x00\x0e\x00\x00\x0bexample.com"))
    hs = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def tlv2(t, v):
    return struct.pack(">HH", t, len(v)) + v


def sniff_seeds():
    return {
        "socks5_greeting": b"\x05\x01\x00",
        "socks5_two_methods": b"\x05\x02\x00\x02",
        "socks5_no_methods": b"\x05\x00",
        "socks4_connect": b"\x04\x01\x00\x50" + ip4("127.0.0.1") + b"user\x00",
        "socks4a_connect": b"\x04\x01\x01\xbb\x00\x00\x00\x01\x00example.com\x00",
        "socks4_bad_cmd": b"\x04\x03\x00\x50",
        "http_get": b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "http_post": b"POST /api HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
        "http_connect": b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
        "http_options": b"OPTIONS * HTTP/1.1\r\n",
        "http2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "tls_client_hello": client_hello_prefix(),
        "tls_bad_version": b"\x16\x02\x00",
        "ssh_banner": b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        "block_1": b"1",
        "block_123": b"123",
        "block_31": b"31",
        "block_repeat": b"22",
        "block_word": b"block=2",
    }


# ---- URLs and durations (docs/usage.md) ----

def url_seeds():
    urls = [
        "client://:8080/127.0.0.1:80?lbs=1&tls=2&crt=a&key=b",
        "server://key@:10101/:8080?max=8&mode=2",
        "client://:8080/127.0.0.1:80",
        "client://secret@tunnel.example.com:10101/127.0.0.1:22?min=16&mode=2",
        "client://k%40y@[::1]:10101/[::1]:22?mode=1&tls=1&sni=example.com&ca=ca.pem",
        "server://:10101/10.0.0.2:80,10.0.0.3:80,[2001:db8::1]:80?lbs=2&tls=1&log=debug",
        "server://:10101/:53?noudp=0&notcp=1&read=1m30s&dial=192.0.2.1",
        "server://:10101/:53?notcp=1&noudp=1",
        "client://:8080/example.com:80?rate=100&slot=1000&block=13&proxy=1&dns=30s",
        "server://k@:10101/:8080?proxy=2&block=2&slot=0&rate=0&dns=1m",
        "client://:8080/a:1?block=0&dns=999ms",
        "client://:8080/a:1?block=4&proxy=3&rate=1000001",
        "client://:8080/a:1?read=0&log=none&dial=auto",
        "client://:8080/a:1?read=1.5s&log=event&lbs=0",
        "client://:8080/a:1?tls=2&crt=&key=b",
        "client://:8080/a:1?max=8",
        "server://:10101/a:1?max=65537",
        "CLIENT://:65535/b:65535?crt=%2Fetc%2Fssl%2Fa+b.pem&key=k%20.pem",
        "client://:0/x:1",
        "client://:8080/x:1?bad%zz=1",
        "client://:8080/x:1?=1&&",
        "client://[::1/x:1",
        "ftp://:21/x:1",
        "client://host/x:1",
        "client://:8080",
        "client://:8080/,",
        "hub://:7000?accounts=a.json&cluster=redis-sentinel://u:p%2540w@10.0.0.1:26379,[::1]:26380/pm/2&id=h1",
        "hub://:7000?accounts=a.json&cluster=redis-sentinel://h:1,/m&id=h1",
        "client://[::1]:1/[::1]:25?mode=1&tls=2&sni=example.net&type=2",   # no crt= of its own
    ]
    values = ["1h30m", "250ms", "1.5s", "0", "2h45m10.5s", "10\u00b5s", "100us",
              "18446744073709551615", "18446744073709551615ms", "5", "[::1]:80", "%41%42+c"]
    s = {}
    for i, u in enumerate(urls):
        s["url_%02d" % i] = u.encode()
    for i, v in enumerate(values):
        s["value_%02d" % i] = v.encode()
    return s


def ws_head_seeds():
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    up = "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    s = {
        "req_ok": ("GET /t HTTP/1.1\r\nHost: x\r\n" + up + "Sec-WebSocket-Key: " + key +
                   "\r\nSec-WebSocket-Version: 13\r\n\r\nPN\x01C").encode(),
        "req_plain": b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n",
        "req_path": ("GET /x?y HTTP/1.1\r\nHost: x\r\n" + up + "\r\n").encode(),
        "req_version": ("GET /t HTTP/1.1\r\nHost: x\r\n" + up +
                        "Sec-WebSocket-Version: 8\r\n\r\n").encode(),
        "resp_ok": ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
                    "\r\n\r\n").encode(),
        "resp_404": b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    }
    return s


def mcp_seeds():
    """POST bodies of the master's MCP endpoint (JSON-RPC 2.0, docs/master.md "MCP")."""
    def req(method, params=None, rid=1):
        body = '{"jsonrpc": "2.0", "id": %s, "method": "%s"' % (rid, method)
        return (body + (', "params": ' + params if params is not None else "") + "}").encode()

    def call(name, args):
        return req("tools/call", '{"name": "%s", "arguments": %s}' % (name, args))
    return {
        "initialize": req("initialize", '{"protocolVersion": "2025-06-18", "capabilities": {}, '
                          '"clientInfo": {"name": "c", "version": "1"}}'),
        "initialized": b'{"jsonrpc": "2.0", "method": "notifications/initialized"}',
        "ping": req("ping", rid='"p"'),
        "list": req("tools/list", "{}"),
        "call_get": call("get_instance", '{"id": "0badc0de"}'),
        "call_update": call("update_instance", '{"id": "0badc0de", "action": "restart", '
                            '"url": "client://:1/:2", "alias": "a", "restart": false}'),
        "call_logs": call("get_instance_logs", '{"id": "0badc0de", "lines": 200}'),
        "call_bad": call("get_instance_logs", '{"id": 5, "lines": "x", "surplus": null}'),
        "call_none": call("nope", "{}"),
        "response": b'{"jsonrpc": "2.0", "id": 3, "result": {}}',
        "batch": b'[' + req("ping") + b', {"jsonrpc": "2.0", "method": "x"}]',
        "unknown": req("resources/list"),
        "unicode": req("tools/call", '{"name": "get_instance", "arguments": {"id": "\\u00e9\\ud83d\\ude00"}}'),
    }


def nodeconf_seeds():
    """PUT <prefix>/v1/node/config bodies (docs/master.md "Nodes") and PROXY_USER lines."""
    return {
        "full": b'{"version": 7, "updated_at": "2026-12-06T10:00:00Z", "updated_by": "m", '
                b'"entrances": [{"name": "socks", "url": "proxy://:1080?allow=127.0.0.0/8"}], '
                b'"tunnels": [{"name": "relay", "url": "server://k@:10101/127.0.0.1:9?mode=2&egress=1"}], '
                b'"users": [{"name": "alice", "password": "pw", "enabled": false, "rate": 10}]}',
        "empty": b'{"version": 1}',
        "bad_user": b'{"version": 2, "users": [{"name": "a", "password": "p", "rate": -1}]}',
        "dup": b'{"version": 3, "entrances": [{"name": "a", "url": "proxy://:1"}, '
               b'{"name": "a", "url": "proxy://:2"}]}',
        "empty_member": b'{"": 1}',
        "mgr_node": b'{"address": "127.0.0.1", "port": 9090, "token": "t", "prefix": "/api", '
                    b'"fingerprint": "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89", '
                    b'"entrances": [{"name": "s", "url": "proxy://:1080"}]}',
        "mgr_user": b'{"name": "alice", "password": "pw", "key": null, "quota": 1000, "rate": 1, '
                    b'"max_conns": 2, "expires": 0, "enabled": true, "action": "reset"}',
        "users_in_url": b'{"version": 3, "entrances": [{"name": "a", "url": "proxy://:1?users=f"}]}',
        "puser": b'2026-12-06 10:00:00.000 EVENT PROXY_USER|{"name":"alice","enabled":true,'
                 b'"up":1000,"down":1010,"conns":1,"open":1,"refused":0}',
    }


def h2_seeds():
    """A piece-size byte, then an HTTP/2 client's bytes (literal HPACK, no Huffman)."""
    import struct

    def frame(ftype, flags, sid, payload=b""):
        return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
            struct.pack(">I", sid) + payload

    def lit(n, v):
        return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v

    def head(path, method=b"POST", end=False):
        block = lit(b":method", method) + lit(b":scheme", b"http") + \
            lit(b":authority", b"x") + lit(b":path", path)
        return frame(0x1, 0x4 | (0x1 if end else 0), 1, block)

    pre = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(0x4, 0, 0)
    return {
        "ok": b"\x07" + pre + head(b"/t") + frame(0x0, 0, 1, b"PN\x01D") + frame(0x0, 1, 1),
        "path": b"\x3f" + pre + head(b"/x"),
        "get": b"\x00" + pre + head(b"/t", b"GET", True),
        "reset": b"\x10" + pre + head(b"/t") + frame(0x3, 0, 1, struct.pack(">I", 8)),
        "http1": b"\x05GET /t HTTP/1.1\r\nHost: x\r\n\r\n",
        "settings": b"\x3f" + pre + frame(0x4, 0, 0, struct.pack(">HI", 4, 1 << 20)) * 8,
    }


def quic_seeds():
    """Datagrams, each a 2-byte length (top bits: the source port) and its bytes: a QUIC v1
    Initial header of 1200 bytes (its payload not decryptable), truncated ones, a short
    header of an unknown id, another version, Initials bringing Retry tokens (odd lengths:
    the listener is under load, every new Initial gets a Retry) and NEW_TOKEN-shaped ones
    (bit 1 of the length: the token key derived from a fixed key)."""
    import struct

    def dgram(b, src=0):
        return struct.pack(">H", (src << 14) | len(b)) + b

    def initial(dcid=b"\x11" * 8, version=1, body=1200, token=b""):
        hdr = bytes([0xc3]) + struct.pack(">I", version) + bytes([len(dcid)]) + dcid + \
            bytes([8]) + b"\x22" * 8 + bytes([len(token)]) + token + struct.pack(">H", 0x4000 | body)
        return hdr + bytes(range(256)) * (body // 256) + bytes(body % 256)

    return {
        "initial": dgram(initial()) + dgram(initial()[:40], 1) + dgram(initial(), 2),
        "truncated": dgram(initial()[:7]) + dgram(initial()[:25], 3),
        "short": dgram(b"\x40" + b"\x33" * 16 + b"\x00" * 30),
        "version": dgram(initial(version=0x1a2a3a4a)),
        "token": dgram(initial(token=b"\xb6" + bytes(range(97)))) +
        dgram(initial(token=b"\x36" + bytes(40)), 1) + dgram(initial(), 2) + b"\x00",
        # NEW_TOKEN-shaped (0x36, 57 bytes as ngtcp2 makes them), quiet port, derived key
        "new_token": dgram(initial(token=b"\x36" + bytes(range(56)))) +
        dgram(initial(token=b"\x36"), 1) + b"\x00" * 4,
    }


def ws_frame_seeds():
    def fr(op, payload, mask, fin=True, key=b"\x11\x22\x33\x44"):
        n = len(payload)
        h = bytes([(0x80 if fin else 0) | op])
        m = 0x80 if mask else 0
        if n < 126:
            h += bytes([m | n])
        elif n <= 0xffff:
            h += bytes([m | 126]) + n.to_bytes(2, "big")
        else:
            h += bytes([m | 127]) + n.to_bytes(8, "big")
        if mask:
            h += key
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return h + payload
    data = bytes(range(256)) * 300
    return {
        # first byte: bit 0 = decoding a client's (masked) frames
        "client_data": b"\x01" + fr(2, b"PN\x01C", True) + fr(2, data[:70000], True) +
        fr(9, b"ping", True) + fr(2, data[:300], True) + fr(8, b"\x03\xe8", True),
        "server_frag": b"\x00" + fr(2, data[:1000], False, fin=False) + fr(10, b"", False) +
        fr(0, data[:200], False) + fr(2, b"", False) + fr(8, b"", False),
        "bad_text": b"\x01" + fr(1, b"hi", True),
        "bad_len": b"\x00" + b"\x82\x7e\x00\x10" + b"x" * 16,
        "bad_ctl": b"\x01" + fr(9, b"x" * 126, True),
    }


HARNESSES = {
    "quic": quic_seeds,
    "mcp": mcp_seeds,
    "nodeconf": nodeconf_seeds,
    "ws_head": ws_head_seeds,
    "ws_frame": ws_frame_seeds,
    "h2": h2_seeds,
    "frame": frame_seeds,
    "handshake": handshake_seeds,
    "proxy": proxy_seeds,
    "sniff": sniff_seeds,
    "url": url_seeds,
}


def main():
    check_vectors()
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    total = 0
    for name, seeds in HARNESSES.items():
        # Its own files are written again; the others stay (seeds added by hand or
        # found by fuzzing, docs/fuzzing.md): delete a file to drop it.
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        files = seeds()
        for fname, data in sorted(files.items()):
            with open(os.path.join(d, fname), "wb") as f:
                f.write(data)
            total += len(data)
        print("%-10s %3d seeds" % (name, len(files)))
    print("total %d bytes in %s" % (total, out))


if __name__ == "__main__":
    main()
