/* tunnel/frame.c: codec of the postern tunnel protocol, version 1 (pure).
 *
 * Every decoder here is fed bytes a peer chose, so each one bounds-checks before it
 * reads, never allocates, and reports failure through a static string in <why>
 * (never NULL on PN_ERR, safe to log). Whether a failure ends the connection, and
 * with which ERROR code, is the caller's decision. docs/protocol.md is normative.
 *
 * This file holds the codec core: the frame header, names, the preamble, TLV
 * walking and default keys. Payloads of control frames are in frame_msg.c
 * (HELLO, ERROR, signals, DATA_HELLO) and frame_route.c (the hub's route frames). */
#include "tunnel/frame.h"
#include "tunnel/frame_wire.h"

#include <string.h>

const char pn_why_version[] = "unsupported protocol version";

/* Decode the header as soon as its bytes arrive: a wrong version or reserved byte
 * is reported from the first 1 or 4 bytes, so a peer speaking something else (an
 * HTTP client on the tunnel port, a future version) is refused without waiting for
 * a whole header. Return PN_OK with <f> borrowing <in> and *<used> set to the frame
 * size, PN_AGAIN when <avail> bytes do not hold the whole frame (nothing consumed,
 * <f> untouched), or PN_ERR with *<why> (pn_why_version for a version mismatch). */
int
pn_frame_decode(const uint8_t *in, size_t avail, pn_frame_t *f, size_t *used, const char **why)
{
    if (avail >= 1 && in[0] != PN_PROTO_VERSION)
        return fail(why, pn_why_version);
    if (avail >= 4 && in[3] != 0)
        return fail(why, "reserved header byte is not zero");
    if (avail < PN_FRAME_HDR)
        return PN_AGAIN;
    uint32_t len = get32(in + 8);
    if (len > PN_FRAME_MAX_PAYLOAD)
        return fail(why, "payload length over the bound");
    if (avail - PN_FRAME_HDR < len)
        return PN_AGAIN;
    f->type = in[1];
    f->flags = in[2];
    f->stream = get32(in + 4);
    f->len = len;
    f->payload = in + PN_FRAME_HDR;
    *used = PN_FRAME_HDR + (size_t)len;
    return PN_OK;
}

/* Write a frame of <type>, <flags> and <stream> carrying <len> bytes of <payload>
 * into <out>. <payload> may already sit anywhere inside <out>, in particular at
 * <out> + PN_FRAME_HDR, so a caller can build the payload in place and then add the
 * header (the copy is a memmove). <payload> may be NULL when <len> is 0. Return the
 * frame size, or 0 when <len> exceeds PN_FRAME_MAX_PAYLOAD or <cap> is too small. */
size_t
pn_frame_encode(uint8_t *out, size_t cap, uint8_t type, uint8_t flags, uint32_t stream,
                const void *payload, size_t len)
{
    if (len > PN_FRAME_MAX_PAYLOAD || cap < PN_FRAME_HDR || cap - PN_FRAME_HDR < len)
        return 0;
    if (len > 0) {
        if (payload == NULL)
            return 0;
        memmove(out + PN_FRAME_HDR, payload, len);  /* before the header: may overlap it */
    }
    out[0] = PN_PROTO_VERSION;
    out[1] = type;
    out[2] = flags;
    out[3] = 0;
    put32(out + 4, stream);
    put32(out + 8, (uint32_t)len);
    return PN_FRAME_HDR + len;
}

/* Check the payload size of the decoded frame <f> against its type: fixed-size
 * types must match exactly, TCP/UDP need at least a conn id, ERROR a code and at
 * most 256 reason bytes, the hub's route frames at least a route id. HELLO is
 * checked by pn_hello_decode(), route TLVs by pn_frame_route_decode(). Return PN_OK, or
 * PN_ERR with *<why> for an unknown type or a wrong size. The channel a type may
 * appear on (control or data) is the caller's to enforce. */
int
pn_frame_check(const pn_frame_t *f, const char **why)
{
    switch (f->type) {
    case PN_FT_HELLO:
        return PN_OK;
    case PN_FT_TCP:
    case PN_FT_UDP:
        if (f->len < PN_CONN_ID_LEN)
            return fail(why, "signal shorter than a connection id");
        return PN_OK;
    case PN_FT_PING:
    case PN_FT_PONG:
        if (f->len != PN_PING_LEN)
            return fail(why, "PING/PONG payload is not 8 bytes");
        return PN_OK;
    case PN_FT_FLUSH:
    case PN_FT_DATA_OK:
        if (f->len != 0)
            return fail(why, "payload on a frame type that has none");
        return PN_OK;
    case PN_FT_VERIFY:
        if (f->len != PN_FINGERPRINT_LEN)
            return fail(why, "VERIFY payload is not 32 bytes");
        return PN_OK;
    case PN_FT_ERROR:
        if (f->len < 2 || f->len > 2 + PN_ERROR_REASON_MAX)
            return fail(why, "ERROR payload is not 2..258 bytes");
        return PN_OK;
    case PN_FT_DATA_HELLO:
        if (f->len != PN_DATA_HELLO_LEN)
            return fail(why, "DATA_HELLO payload is not 48 bytes");
        return PN_OK;
    case PN_FT_ROUTE_ADD:
    case PN_FT_ROUTE_OK:
    case PN_FT_ROUTE_FAIL:
    case PN_FT_ROUTE_DEL:
    case PN_FT_ROUTE_STATE:
        if (f->len < 4 || f->len > PN_FRAME_MAX_PAYLOAD)
            return fail(why, "route frame payload is not 4..66560 bytes");
        return PN_OK;
    default:
        return fail(why, "unknown frame type");
    }
}

/* Return a static name for frame <type>, "UNKNOWN" for values not defined. */
const char *
pn_frame_type_name(uint8_t type)
{
    switch (type) {
    case PN_FT_HELLO: return "HELLO";
    case PN_FT_TCP: return "TCP";
    case PN_FT_UDP: return "UDP";
    case PN_FT_PING: return "PING";
    case PN_FT_PONG: return "PONG";
    case PN_FT_FLUSH: return "FLUSH";
    case PN_FT_VERIFY: return "VERIFY";
    case PN_FT_ERROR: return "ERROR";
    case PN_FT_DATA_HELLO: return "DATA_HELLO";
    case PN_FT_DATA_OK: return "DATA_OK";
    case PN_FT_ROUTE_ADD: return "ROUTE_ADD";
    case PN_FT_ROUTE_OK: return "ROUTE_OK";
    case PN_FT_ROUTE_FAIL: return "ROUTE_FAIL";
    case PN_FT_ROUTE_DEL: return "ROUTE_DEL";
    case PN_FT_ROUTE_STATE: return "ROUTE_STATE";
    default: return "UNKNOWN";
    }
}

/* Return a static name for ERROR <code>, "UNKNOWN" for values not defined. */
const char *
pn_frame_err_name(uint16_t code)
{
    switch (code) {
    case PN_EC_BUSY: return "BUSY";
    case PN_EC_PROTOCOL: return "PROTOCOL";
    case PN_EC_VERIFY_FAILED: return "VERIFY_FAILED";
    case PN_EC_SHUTDOWN: return "SHUTDOWN";
    case PN_EC_INTERNAL: return "INTERNAL";
    case PN_EC_VERSION: return "VERSION";
    default: return "UNKNOWN";
    }
}

/* ---- preamble, TLVs, keys ---- */

/* Check the 4 clear-text bytes <in> that open every tunnel-port connection. Return
 * PN_OK with *<kind> = PN_KIND_CONTROL or PN_KIND_DATA, or PN_ERR with *<why>
 * (pn_why_version when only the version byte is wrong). */
int
pn_preamble_decode(const uint8_t in[PN_PREAMBLE_LEN], uint8_t *kind, const char **why)
{
    if (in[0] != 'P' || in[1] != 'N')
        return fail(why, "not a postern preamble");
    if (in[2] != PN_PROTO_VERSION)
        return fail(why, pn_why_version);
    if (in[3] != PN_KIND_CONTROL && in[3] != PN_KIND_DATA)
        return fail(why, "unknown connection kind in preamble");
    *kind = in[3];
    return PN_OK;
}

/* Write the preamble of a connection of <kind> (PN_KIND_CONTROL or PN_KIND_DATA)
 * into <out>. */
void
pn_preamble_encode(uint8_t out[PN_PREAMBLE_LEN], uint8_t kind)
{
    out[0] = 'P';
    out[1] = 'N';
    out[2] = PN_PROTO_VERSION;
    out[3] = kind;
}

/* Read the TLV at *<p> (type u8, length u16, value), not reading at or past <end>.
 * Return PN_OK with *<type>, *<val> (borrowed) and *<len> set and *<p> moved past
 * it; PN_AGAIN when *<p> has reached <end> (no TLV left); PN_ERR when fewer bytes
 * remain than the TLV header or its length claims (*<p> unchanged). */
int
pn_tlv_next(const uint8_t **p, const uint8_t *end, uint8_t *type, const uint8_t **val,
            uint16_t *len)
{
    const uint8_t *cur = *p;
    if (cur >= end)
        return PN_AGAIN;
    size_t left = (size_t)(end - cur);
    if (left < PN_TLV_HDR)
        return PN_ERR;
    uint16_t n = get16(cur + 1);
    if (left - PN_TLV_HDR < n)
        return PN_ERR;
    *type = cur[0];
    *val = cur + PN_TLV_HDR;
    *len = n;
    *p = cur + PN_TLV_HDR + n;
    return PN_OK;
}

/* Return the 32-bit FNV-1a hash of the <len> bytes at <data> (offset basis
 * 0x811c9dc5, prime 0x01000193). */
uint32_t
pn_fnv1a32(const void *data, size_t len)
{
    const uint8_t *b = data;
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x01000193u;
    }
    return h;
}

/* Write the default tunnel key of a URL without a user part into <out>: the
 * FNV-1a-32 of the decimal <port> string as written (NULL counts as ""), as 8
 * lowercase hex digits, big-endian, and a NUL; NodePass derives the same key. It is
 * guessable by anyone who knows the port: docs/protocol.md says to set a real key.
 * Return PN_DEFAULT_KEY_LEN. */
size_t
pn_default_key(const char *port, char out[PN_DEFAULT_KEY_LEN + 1])
{
    uint8_t be[4];
    put32(be, pn_fnv1a32(port != NULL ? port : "", port != NULL ? strlen(port) : 0));
    hex_encode(be, sizeof(be), out);
    return PN_DEFAULT_KEY_LEN;
}
