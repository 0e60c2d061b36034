/* tunnel/frame.h: the postern tunnel protocol, version 1, as a pure codec.
 *
 * Bytes in, results out: nothing here touches a socket, OpenSSL or the heap, so
 * the runtime (control channel, data pool) and the fuzzers share one parser.
 * docs/protocol.md is the normative description of every byte handled here;
 * keep the two in step. All integers on the wire are big-endian.
 *
 * Layout of a frame: a 12-byte header (version, type, flags, reserved, stream id,
 * payload length) followed by at most PN_FRAME_MAX_PAYLOAD payload bytes.
 * Decoders borrow from the caller's input and never copy payloads. */
#ifndef PN_TUNNEL_FRAME_H
#define PN_TUNNEL_FRAME_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

#define PN_PROTO_VERSION     1
#define PN_FRAME_HDR         12
#define PN_FRAME_MAX_PAYLOAD (65536 + 1024)
#define PN_FRAME_MAX         (PN_FRAME_HDR + PN_FRAME_MAX_PAYLOAD)
#define PN_CONN_ID_LEN       16                 /* random id of one pooled data connection */
#define PN_SESSION_TAG_LEN   8                  /* hub: session tag, first bytes of a data conn id */
#define PN_PROOF_LEN         32                 /* HMAC-SHA256 output in DATA_HELLO */
#define PN_FINGERPRINT_LEN   32                 /* SHA-256 of a DER certificate, in VERIFY */
#define PN_PING_LEN          8                  /* opaque PING/PONG payload */
#define PN_DATA_HELLO_LEN    (PN_CONN_ID_LEN + PN_PROOF_LEN)
#define PN_ERROR_REASON_MAX  256                /* bytes of UTF-8 text after the code */
#define PN_PREAMBLE_LEN      4
#define PN_TLV_HDR           3                  /* type u8 + length u16 */

/* Connection preamble: 'P' 'N' <version> <kind>, sent in clear before any TLS. */
#define PN_KIND_CONTROL      'C'
#define PN_KIND_DATA         'D'

/* Names and labels fed to OpenSSL by the runtime (docs/protocol.md §2.2, §3.2, §6.2). */
#define PN_PSK_IDENTITY      "postern/1"            /* TLS 1.3 external PSK identity */
#define PN_PSK_HMAC_KEY      "postern/psk/v1"       /* psk = HMAC-SHA256(this, tunnel key) */
#define PN_EXPORTER_LABEL    "EXPORTER-postern-data" /* RFC 8446 §7.5, no context */
#define PN_DATA_SECRET_LEN   32                     /* exporter output length */
#define PN_PROOF_LABEL       "postern-data-v1"      /* 15 bytes, no NUL */
#define PN_PROOF_LABEL_LEN   15
#define PN_PROOF_MSG_LEN     (PN_PROOF_LABEL_LEN + PN_CONN_ID_LEN)
#define PN_DEFAULT_KEY_LEN   8                      /* hex digits of the default key */

/* Frame types. Receivers treat any other value as a protocol error for now. */
enum pn_frame_type {
    PN_FT_HELLO = 0x01,         /* server -> client, control: session parameters (TLVs) */
    PN_FT_TCP = 0x02,           /* either way, control: take data connection <id> for TCP */
    PN_FT_UDP = 0x03,           /* either way, control: take data connection <id> for UDP */
    PN_FT_PING = 0x04,          /* either way, control: 8 opaque bytes */
    PN_FT_PONG = 0x05,          /* either way, control: the PING's 8 bytes echoed */
    PN_FT_FLUSH = 0x06,         /* either way, control: close every idle pooled connection */
    PN_FT_VERIFY = 0x07,        /* either way, control: SHA-256 certificate fingerprint */
    PN_FT_ERROR = 0x08,         /* either way, control: code + reason, then close */
    PN_FT_DATA_HELLO = 0x0A,    /* client -> server, data: conn id + proof */
    PN_FT_DATA_OK = 0x0B,       /* server -> client, data: connection registered */
    PN_FT_RESULT = 0x11,        /* far end -> sender of a TARGET exchange, data: the dial's
                                 * outcome before any relayed byte (tunnel/frame_target.c) */
    /* Hub sessions only (docs/hub.md §5): route id (u32) + TLVs. */
    PN_FT_ROUTE_ADD = 0x0C,     /* agent -> hub: register a route */
    PN_FT_ROUTE_OK = 0x0D,      /* hub -> agent: registered (PORT / HOST given) */
    PN_FT_ROUTE_FAIL = 0x0E,    /* hub -> agent: refused (CODE, REASON) */
    PN_FT_ROUTE_DEL = 0x0F,     /* agent -> hub: withdraw a route */
    PN_FT_ROUTE_STATE = 0x10,   /* agent -> hub: the route's service went online / offline */
};

/* ERROR codes (u16 on the wire). Receivers log unknown codes and close all the same. */
enum pn_frame_err {
    PN_EC_BUSY = 1,             /* a client is already attached to this server */
    PN_EC_PROTOCOL = 2,         /* malformed or unexpected frame */
    PN_EC_VERIFY_FAILED = 3,    /* data-channel certificate fingerprint mismatch */
    PN_EC_SHUTDOWN = 4,         /* the peer is stopping */
    PN_EC_INTERNAL = 5,         /* the peer failed on its own (resources, bug) */
    PN_EC_VERSION = 6,          /* frame version not supported */
};

/* HELLO TLV types. */
enum pn_hello_tlv {
    PN_HT_FLOW = 0x01,          /* u8: PN_FLOW_* */
    PN_HT_TLS = 0x02,           /* u8: data-channel TLS mode 0, 1 or 2 */
    PN_HT_MAX = 0x03,           /* u32: server's pool ceiling, 1..65536 */
    PN_HT_PROTO = 0x04,         /* u8: PN_PROTO_* bit mask, non-zero */
    PN_HT_INTERVAL = 0x05,      /* u32: ping/report interval in ms, 100..3600000 */
    PN_HT_SESSION = 0x06,       /* 8 bytes: hub session tag, first 8 bytes of every data conn id */
    PN_HT_TRANSPORT = 0x07,     /* u8: how data and control connections travel, PN_XPORT_* */
    PN_HT_PATH = 0x08,          /* text, 1..255 bytes from '/': a WebSocket transport's path */
    PN_HT_EPOCH = 0x09,         /* u32: seconds of a data proof's epoch, 1..3600 (§6.2) */
};

#define PN_FLOW_REVERSE      0  /* "-": server listens on the target, client dials */
#define PN_FLOW_FORWARD      1  /* "+": client listens, server dials the target */
#define PN_PROTO_TCP         0x01
#define PN_PROTO_UDP         0x02
#define PN_TLS_MODE_MAX      2
#define PN_XPORT_TCP         0  /* type=0: a pool of TCP connections */
#define PN_XPORT_QUIC        1  /* type=1: QUIC (not built) */
#define PN_XPORT_WS          2  /* type=2: each connection a WebSocket (RFC 6455) */
#define PN_XPORT_H2          3  /* type=3: HTTP/2 streams (not built) */
#define PN_XPORT_MAX         3
#define PN_PATH_MAX          255
#define PN_POOL_MAX          65536
#define PN_INTERVAL_MIN_MS   100
#define PN_INTERVAL_MAX_MS   3600000
#define PN_EPOCH_MAX_S       3600               /* HELLO EPOCH's ceiling */
#define PN_INTERVAL_DEFAULT_MS 5000

/* Reasons returned through <why>; callers may compare by pointer, for example to
 * answer a version mismatch with ERROR(VERSION) instead of ERROR(PROTOCOL). */
extern const char pn_why_version[];     /* "unsupported protocol version" */

typedef struct pn_frame {
    uint8_t type;               /* enum pn_frame_type, or unknown */
    uint8_t flags;              /* none defined; ignore unknown bits */
    uint32_t stream;            /* 0 for every pool-transport signal */
    uint32_t len;               /* payload bytes, <= PN_FRAME_MAX_PAYLOAD */
    const uint8_t *payload;     /* borrowed from the decoder's input */
} pn_frame_t;

typedef struct pn_hello {
    uint8_t flow;               /* PN_FLOW_REVERSE or PN_FLOW_FORWARD */
    uint8_t tls;                /* data-channel TLS mode, 0..2 */
    uint8_t proto;              /* PN_PROTO_* mask; decode keeps only known bits */
    uint32_t max;               /* server's pool ceiling, 1..PN_POOL_MAX */
    uint32_t interval_ms;       /* ping interval, PN_INTERVAL_MIN_MS..PN_INTERVAL_MAX_MS */
    uint8_t has_session;        /* a hub's HELLO: SESSION present */
    uint8_t session[PN_SESSION_TAG_LEN]; /* the hub's session tag */
    uint8_t transport;          /* PN_XPORT_*, 0 when absent */
    char path[PN_PATH_MAX + 1]; /* transport != 0: its path, NUL-terminated ("/" when absent) */
    uint32_t epoch_s;           /* EPOCH: data proofs name their epoch of this many s; 0 absent */
} pn_hello_t;

/* A hub route message (docs/hub.md §5): ROUTE_ADD, ROUTE_OK, ROUTE_FAIL,
 * ROUTE_DEL, ROUTE_STATE. Which members a frame type carries is in the table
 * there; the others are zero / empty. */
#define PN_ROUTE_HOST_MAX 253
#define PN_ROUTE_GROUP_MAX 64
#define PN_ROUTE_GROUP_KEY_MAX 128
#define PN_ROUTE_PATH_MAX 256       /* http: the path prefix */
#define PN_ROUTE_AUTH_MAX 400       /* http: "<user>:sha256$<salt>$<hash>" */
#define PN_ROUTE_ALLOW_MAX 1024     /* http: "<ip>[/<bits>];..." */
enum pn_frame_route_fail {
    PN_RF_TAKEN = 1,            /* name or port in use, or another group key */
    PN_RF_DENIED = 2,           /* not allowed for the account, or outside the hub's range */
    PN_RF_LIMIT = 3,            /* the account's max_routes */
    PN_RF_INVALID = 4,          /* bad name, missing host, no listener for the type */
    PN_RF_EXISTS = 5,           /* the route id is already used in this session */
    PN_RF_UNAVAILABLE = 6,      /* the hub cannot decide now (its cluster registry is
                                 * unreachable): the agent asks again a little later */
};
typedef struct pn_frame_route {
    uint32_t id;                /* non-zero */
    uint8_t type;               /* ADD: 1 tcp, 2 udp, 3 http, 4 https */
    uint16_t port;              /* ADD: asked (0 = assign); OK: given (tcp/udp) */
    char host[PN_ROUTE_HOST_MAX + 1];           /* ADD: asked; OK: full name; "" when absent */
    char group[PN_ROUTE_GROUP_MAX + 1];         /* ADD: "" when absent */
    char group_key[PN_ROUTE_GROUP_KEY_MAX + 1]; /* ADD: "" when absent */
    uint8_t online;             /* ADD (default 1), STATE */
    char path[PN_ROUTE_PATH_MAX + 1];           /* ADD, http: path prefix; "" = "/" */
    char host_header[PN_ROUTE_HOST_MAX + 1];    /* ADD, http: Host sent to the service; "" = as is */
    char auth[PN_ROUTE_AUTH_MAX + 1];           /* ADD, http: basic auth user and hash; "" = none */
    char allow[PN_ROUTE_ALLOW_MAX + 1];         /* ADD, http: client networks; "" = any */
    uint8_t redirect;           /* ADD, http: 1 = http= answers 308 to https:// */
    uint8_t h2c;                /* ADD, http: 1 = the service speaks HTTP/2 (h2c) */
    uint16_t code;              /* FAIL: enum pn_frame_route_fail */
    char reason[PN_ERROR_REASON_MAX + 1];       /* FAIL: log-safe text */
} pn_frame_route_t;

/** Encode the payload of a route frame of <ftype> from <m> into <out>; return
 *  its size, 0 when <cap> is short or <m> lacks what <ftype> needs. */
size_t pn_frame_route_encode(uint8_t ftype, const pn_frame_route_t *m, uint8_t *out, size_t cap);
/** Decode and validate the payload of a route frame of <ftype> into <m>
 *  (zeroed first; online defaults to 1). PN_OK or PN_ERR + <why>. */
int pn_frame_route_decode(uint8_t ftype, const uint8_t *p, size_t len, pn_frame_route_t *m,
                    const char **why);
/** Name of a ROUTE_FAIL code ("TAKEN", ...), or "UNKNOWN". */
const char *pn_frame_route_fail_name(uint16_t code);

/** Decode one frame from <in>: PN_OK with <f>, *<used>; PN_AGAIN if incomplete; PN_ERR + <why>. */
int pn_frame_decode(const uint8_t *in, size_t avail, pn_frame_t *f, size_t *used,
                    const char **why);
/** Write header + payload to <out>; return bytes written, 0 if <cap> is short or <len> too big. */
size_t pn_frame_encode(uint8_t *out, size_t cap, uint8_t type, uint8_t flags, uint32_t stream,
                       const void *payload, size_t len);
/** Check that <f> has a known type and a payload size that type allows; PN_OK or PN_ERR + <why>. */
int pn_frame_check(const pn_frame_t *f, const char **why);
/** Return the name of frame <type> ("HELLO", ...), or "UNKNOWN". */
const char *pn_frame_type_name(uint8_t type);
/** Return the name of ERROR <code> ("BUSY", ...), or "UNKNOWN". */
const char *pn_frame_err_name(uint16_t code);

/** Encode the HELLO payload of <h> into <out>; return its size, 0 if <cap> short or <h> invalid. */
size_t pn_hello_encode(const pn_hello_t *h, uint8_t *out, size_t cap);
/** Decode and validate a HELLO payload into <h>; PN_OK or PN_ERR + <why>. */
int pn_hello_decode(const uint8_t *p, size_t len, pn_hello_t *h, const char **why);
/** 1 when <p> (<len> bytes) is a transport path: 1..255 bytes, the first '/',
 *  every byte printable ASCII other than space; else 0. */
int pn_path_valid(const char *p, size_t len);

/** Encode an ERROR payload (<reason> cut to 256 bytes on a UTF-8 boundary); 0 if <cap> is short. */
size_t pn_error_encode(uint16_t code, const char *reason, uint8_t *out, size_t cap);
/** Decode an ERROR payload; <reason> gets a NUL-terminated, log-safe copy. PN_OK or PN_ERR. */
int pn_error_decode(const uint8_t *p, size_t len, uint16_t *code,
                    char reason[PN_ERROR_REASON_MAX + 1], const char **why);

/** Encode a TCP/UDP signal payload (the conn id, no TLVs); 0 if <cap> is short. */
size_t pn_signal_encode(const uint8_t id[PN_CONN_ID_LEN], uint8_t *out, size_t cap);
/** Decode a TCP/UDP signal payload: *<id> borrows the conn id; trailing TLVs must parse. */
int pn_signal_decode(const uint8_t *p, size_t len, const uint8_t **id, const char **why);

/* TLVs of a TCP/UDP signal: where the user's exchange comes from, so the far
 * end can tell its target (PROXY protocol). Value: family (4 or 6), the
 * address (4 or 16 bytes), the port (u16). */
#define PN_ST_SRC 0x01          /* the user's address */
#define PN_ST_DST 0x02          /* the address the user connected to */
#define PN_ST_ROUTE 0x03        /* hub: u32 route id the exchange is for */
#define PN_ST_TARGET 0x04       /* egress: u16 port + host name or address to dial */
#define PN_TARGET_HOST_MAX 253  /* the longest host a TARGET carries */

typedef struct pn_sig_addr {
    uint8_t family;             /* 0 = absent, 4 or 6 */
    uint8_t ip[16];             /* first 4 bytes for IPv4 */
    uint16_t port;
} pn_sig_addr_t;

/** Encode a TCP/UDP signal: <id>, then SRC and DST TLVs for the addresses that are
 *  present (family != 0; either may be NULL); 0 if <cap> is short. */
size_t pn_signal_encode_addrs(const uint8_t id[PN_CONN_ID_LEN], const pn_sig_addr_t *src,
                              const pn_sig_addr_t *dst, uint8_t *out, size_t cap);
/** Decode a TCP/UDP signal with its SRC/DST TLVs into <src>/<dst> (family 0 when
 *  absent; either may be NULL); a malformed known TLV is an error. */
int pn_signal_decode_addrs(const uint8_t *p, size_t len, const uint8_t **id, pn_sig_addr_t *src,
                           pn_sig_addr_t *dst, const char **why);

/** As pn_signal_encode_addrs, plus a ROUTE TLV with <route> when it is non-zero (hub). */
size_t pn_signal_encode_route(const uint8_t id[PN_CONN_ID_LEN], const pn_sig_addr_t *src,
                              const pn_sig_addr_t *dst, uint32_t route, uint8_t *out, size_t cap);
/** As pn_signal_decode_addrs, plus *<route> from the ROUTE TLV (0 when absent;
 *  a ROUTE TLV that is not 4 bytes, or is 0, is an error). */
int pn_signal_decode_route(const uint8_t *p, size_t len, const uint8_t **id, pn_sig_addr_t *src,
                           pn_sig_addr_t *dst, uint32_t *route, const char **why);

/** Append a TARGET TLV (<port>, then <host>: 1..253 printable bytes, no
 *  spaces) to the signal of <off> bytes in <out>; the new length, or 0 when
 *  <cap> is short or <host>/<port> is not valid. (tunnel/frame_target.c) */
size_t pn_signal_append_target(uint8_t *out, size_t cap, size_t off, const char *host, uint16_t port);
/** Find the TARGET TLV of a TCP/UDP signal: <host> (NUL-terminated) and
 *  *<port>, or an empty <host> when absent. A malformed or repeated TARGET,
 *  or a truncated TLV, is PN_ERR + <why>. */
int pn_signal_decode_target(const uint8_t *p, size_t len, char host[PN_TARGET_HOST_MAX + 1],
                            uint16_t *port, const char **why);

/* RESULT (docs/protocol.md §6.5): the far end's answer to a TARGET exchange,
 * the first frame on its data connection: a code, then a log-safe reason. */
#define PN_RESULT_REASON_MAX 255
#define PN_RESULT_MAX (PN_FRAME_HDR + 1 + PN_RESULT_REASON_MAX)
enum pn_result_code {
    PN_RC_OK = 0,               /* dialed: relayed bytes follow */
    PN_RC_NOT_ALLOWED = 1,      /* no egress=1, an internal address not in allow=, UDP */
    PN_RC_NET_UNREACH = 2,      /* network unreachable, or the dial failed otherwise */
    PN_RC_HOST_UNREACH = 3,     /* the name did not resolve, host unreachable */
    PN_RC_REFUSED = 4,          /* connection refused */
    PN_RC_TIMEOUT = 5,          /* the dial deadline passed */
};

/** Write a whole RESULT frame (<code>, <reason> cut to 255 bytes on a UTF-8
 *  boundary; NULL is empty) into <out>; its size, 0 when <cap> is short. */
size_t pn_result_encode(uint8_t code, const char *reason, uint8_t *out, size_t cap);
/** Read a RESULT frame from the <avail> bytes at <in>: PN_OK with *<code>
 *  (any value: unknown codes are failures) and a log-safe <reason>; PN_AGAIN
 *  with *<need> the bytes the frame needs so far (the header's 12, then the
 *  whole frame: a reader asks for no byte past it); PN_ERR + <why> for another
 *  frame type, a bad header or a payload not 1..256 bytes, as soon as the
 *  header shows it. */
int pn_result_decode(const uint8_t *in, size_t avail, uint8_t *code,
                     char reason[PN_RESULT_REASON_MAX + 1], size_t *need, const char **why);

/** Encode a DATA_HELLO payload (<id> then <proof>); 0 if <cap> is short. */
size_t pn_data_hello_encode(const uint8_t id[PN_CONN_ID_LEN], const uint8_t proof[PN_PROOF_LEN],
                            uint8_t *out, size_t cap);
/** Decode a DATA_HELLO payload into borrowed <id> and <proof>; PN_OK or PN_ERR + <why>. */
int pn_data_hello_decode(const uint8_t *p, size_t len, const uint8_t **id,
                         const uint8_t **proof, const char **why);
/** Build the HMAC message "postern-data-v1" || <id> of the DATA_HELLO proof into <out>. */
void pn_proof_msg(const uint8_t id[PN_CONN_ID_LEN], uint8_t out[PN_PROOF_MSG_LEN]);
/** Write <id> as 32 lowercase hex digits + NUL into <out> (for logs). */
void pn_conn_id_hex(const uint8_t id[PN_CONN_ID_LEN], char out[2 * PN_CONN_ID_LEN + 1]);

/** Check the 4-byte preamble <in>; PN_OK with *<kind> = 'C' or 'D', else PN_ERR + <why>. */
int pn_preamble_decode(const uint8_t in[PN_PREAMBLE_LEN], uint8_t *kind, const char **why);
/** Write the preamble for connection <kind> ('C' or 'D') into <out>. */
void pn_preamble_encode(uint8_t out[PN_PREAMBLE_LEN], uint8_t kind);

/** Step *<p> over one TLV before <end>: PN_OK with it, PN_AGAIN at the end, PN_ERR if truncated. */
int pn_tlv_next(const uint8_t **p, const uint8_t *end, uint8_t *type, const uint8_t **val,
                uint16_t *len);

/** Return the FNV-1a-32 hash of <len> bytes at <data>. */
uint32_t pn_fnv1a32(const void *data, size_t len);
/** Write the default tunnel key for <port> (8 lowercase hex digits + NUL); return 8. */
size_t pn_default_key(const char *port, char out[PN_DEFAULT_KEY_LEN + 1]);

#endif
