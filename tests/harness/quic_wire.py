"""QUIC v1 datagrams built and read by hand (RFC 9000, RFC 9001), for tests that talk to a
type=1 port as a client of their own would: a real client Initial (a TLS 1.3 ClientHello
with ALPN postern-tunnel/1, protected with the Initial keys of its Destination Connection
ID, so the server's ngtcp2 decrypts it and starts a handshake), and the parsing of what a
server answers without a connection: Retry, Version Negotiation, the type of a long
header. Needs the `cryptography` package (AES-GCM, AES-ECB, HKDF)."""
import os
import struct

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

V1_SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
ALPN = b"postern-tunnel/1"
INITIAL, ZERO_RTT, HANDSHAKE, RETRY = 0, 1, 2, 3


def varint(v):
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return struct.pack(">H", 0x4000 | v)
    return struct.pack(">I", 0x80000000 | v)


def _expand_label(secret, label, length):
    full = b"tls13 " + label
    info = struct.pack(">H", length) + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def initial_keys(dcid, side=b"client in"):
    """(key, iv, hp) of the Initial packets of <side> for the client's first <dcid>."""
    h = hmac.HMAC(V1_SALT, hashes.SHA256())
    h.update(dcid)
    secret = _expand_label(h.finalize(), side, 32)
    return (_expand_label(secret, b"quic key", 16), _expand_label(secret, b"quic iv", 12),
            _expand_label(secret, b"quic hp", 16))


def client_hello(scid):
    """A TLS 1.3 ClientHello as a QUIC client sends it (x25519, ALPN, transport
    parameters with initial_source_connection_id = <scid>)."""
    def ext(t, body):
        return struct.pack(">HH", t, len(body)) + body
    pub = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    share = struct.pack(">HH", 0x001d, 32) + pub
    sigs = (0x0804, 0x0403, 0x0807, 0x0805, 0x0401)
    alpn = bytes([len(ALPN)]) + ALPN
    tp = varint(0x0f) + varint(len(scid)) + scid + varint(0x04) + varint(4) + varint(1 << 20)
    exts = (ext(43, b"\x02\x03\x04") + ext(10, b"\x00\x02\x00\x1d") +
            ext(51, struct.pack(">H", len(share)) + share) +
            ext(13, struct.pack(">H", 2 * len(sigs)) + b"".join(struct.pack(">H", s) for s in sigs)) +
            ext(16, struct.pack(">H", len(alpn)) + alpn) + ext(0x39, tp))
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" +
            struct.pack(">H", len(exts)) + exts)
    return b"\x01" + len(body).to_bytes(3, "big") + body


def client_initial(dcid=None, scid=None, token=b"", size=1200):
    """A protected client Initial of <size> bytes carrying a fresh ClientHello in a
    CRYPTO frame (then PADDING). Returns (datagram, dcid, scid)."""
    dcid = dcid or os.urandom(16)
    scid = scid or os.urandom(16)
    ch = client_hello(scid)
    crypto = b"\x06" + varint(0) + varint(len(ch)) + ch
    head = (bytes([0xc3]) + struct.pack(">I", 1) + bytes([len(dcid)]) + dcid + bytes([len(scid)]) +
            scid + varint(len(token)) + token)
    plen = size - len(head) - 2 - 4 - 16
    assert plen >= len(crypto), "the ClientHello does not fit"
    payload = crypto + bytes(plen - len(crypto))
    header = head + struct.pack(">H", 0x4000 | (4 + plen + 16)) + struct.pack(">I", 0)
    key, iv, hp = initial_keys(dcid)
    ct = AESGCM(key).encrypt(iv, payload, header)      # packet number 0: the nonce is the iv
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = enc.update(ct[:16]) + enc.finalize()
    pn_off = len(header) - 4
    first = bytes([header[0] ^ (mask[0] & 0x0f)])
    pn = bytes(a ^ b for a, b in zip(header[pn_off:], mask[1:5]))
    return first + header[1:pn_off] + pn + ct, dcid, scid


def long_type(d):
    """The type of a v1 long-header datagram (INITIAL .. RETRY), "vn" for Version
    Negotiation, None for a short header or garbage."""
    if len(d) < 7 or not d[0] & 0x80:
        return None
    if d[1:5] == b"\0\0\0\0":
        return "vn"
    return (d[0] >> 4) & 3


def _cids(d):
    i = 5
    dl = d[i]
    dcid = d[i + 1:i + 1 + dl]
    i += 1 + dl
    sl = d[i]
    scid = d[i + 1:i + 1 + sl]
    return dcid, scid, i + 1 + sl


def parse_retry(d):
    """(dcid, scid, token) of a Retry packet (its 16-byte integrity tag left aside)."""
    assert long_type(d) == RETRY, d[:8].hex()
    dcid, scid, i = _cids(d)
    return dcid, scid, d[i:-16]


def initial_token(d):
    """The token of a client Initial (b"" when it has none)."""
    assert long_type(d) == INITIAL, d[:8].hex()
    _, _, i = _cids(d)
    n, k = d[i], 1
    if n >> 6:                  # a longer varint
        k = 1 << (n >> 6)
        n = int.from_bytes(bytes([n & 0x3f]) + d[i + 1:i + k], "big")
    return d[i + k:i + k + n]


def parse_version_negotiation(d):
    """(dcid, scid, [versions]) of a Version Negotiation packet."""
    assert long_type(d) == "vn", d[:8].hex()
    dcid, scid, i = _cids(d)
    rest = d[i:]
    assert len(rest) % 4 == 0 and rest, rest.hex()
    return dcid, scid, [struct.unpack(">I", rest[k:k + 4])[0] for k in range(0, len(rest), 4)]
