/* tunnel/frame.c: codec of the postern tunnel protocol, version 1 (pure).
 *
 * Every decoder here is fed bytes a peer chose, so each one bounds-checks before it
 * reads, never allocates, and reports failure through a static string in <why>
 * (never NULL on PN_ERR, safe to log). Whether a failure ends the connection, and
 * with which ERROR code, is the caller's decision. docs/protocol.md is normative. */
#include "tunnel/frame.h"

#include <string.h>

const char pn_why_version[] = "unsupported protocol version";

/* Set *<why> (if the caller asked for it) and return PN_ERR. */
static int
fail(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    return PN_ERR;
}

static uint16_t
get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void
put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void
hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

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
 * checked by pn_hello_decode(), route TLVs by pn_route_decode(). Return PN_OK, or
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
pn_err_code_name(uint16_t code)
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

/* ---- HELLO ---- */

/* The known HELLO TLVs: value size, whether required, and what to say if missing. */
static const struct hello_tlv {
    uint8_t type;
    uint8_t len;
    const char *missing;
} hello_tlvs[] = {
    { PN_HT_FLOW, 1, "HELLO lacks the FLOW TLV" },
    { PN_HT_TLS, 1, "HELLO lacks the TLS TLV" },
    { PN_HT_MAX, 4, "HELLO lacks the MAX TLV" },
    { PN_HT_PROTO, 1, "HELLO lacks the PROTO TLV" },
    { PN_HT_INTERVAL, 4, NULL },
    { PN_HT_SESSION, PN_SESSION_TAG_LEN, NULL },
};
#define HELLO_NTLV (sizeof(hello_tlvs) / sizeof(hello_tlvs[0]))
#define HELLO_ENC_LEN (5 * PN_TLV_HDR + 1 + 1 + 4 + 1 + 4)
#define HELLO_SESSION_LEN (PN_TLV_HDR + PN_SESSION_TAG_LEN)

/* Check the ranges of <h>; shared by the encoder and the decoder so that a server
 * can never send a HELLO its own client would refuse. */
static int
hello_valid(const pn_hello_t *h, const char **why)
{
    if (h->flow != PN_FLOW_REVERSE && h->flow != PN_FLOW_FORWARD)
        return fail(why, "HELLO FLOW is not 0 or 1");
    if (h->tls > PN_TLS_MODE_MAX)
        return fail(why, "HELLO TLS mode is not 0, 1 or 2");
    if (h->max < 1 || h->max > PN_POOL_MAX)
        return fail(why, "HELLO MAX is not 1..65536");
    if ((h->proto & (PN_PROTO_TCP | PN_PROTO_UDP)) == 0)
        return fail(why, "HELLO PROTO names no known protocol");
    if ((h->proto & ~(PN_PROTO_TCP | PN_PROTO_UDP)) != 0)
        return fail(why, "HELLO PROTO has unknown bits");
    if (h->interval_ms < PN_INTERVAL_MIN_MS || h->interval_ms > PN_INTERVAL_MAX_MS)
        return fail(why, "HELLO INTERVAL is not 100..3600000 ms");
    return PN_OK;
}

static uint8_t *
put_tlv(uint8_t *p, uint8_t type, uint16_t len, uint32_t v)
{
    p[0] = type;
    put16(p + 1, len);
    if (len == 1)
        p[3] = (uint8_t)v;
    else
        put32(p + 3, v);
    return p + PN_TLV_HDR + len;
}

/* Encode the HELLO payload for <h> into <out>: FLOW, TLS, MAX, PROTO, INTERVAL in
 * that order (26 bytes), then SESSION when <h>->has_session is set (a hub's HELLO,
 * 37 bytes). Return the payload size, or 0 when <cap> is too small or a field of
 * <h> is out of range (a programmer error the caller should report). */
size_t
pn_hello_encode(const pn_hello_t *h, uint8_t *out, size_t cap)
{
    size_t need = HELLO_ENC_LEN + (h->has_session ? HELLO_SESSION_LEN : 0);
    if (cap < need || hello_valid(h, NULL) != PN_OK)
        return 0;
    uint8_t *p = out;
    p = put_tlv(p, PN_HT_FLOW, 1, h->flow);
    p = put_tlv(p, PN_HT_TLS, 1, h->tls);
    p = put_tlv(p, PN_HT_MAX, 4, h->max);
    p = put_tlv(p, PN_HT_PROTO, 1, h->proto);
    p = put_tlv(p, PN_HT_INTERVAL, 4, h->interval_ms);
    if (h->has_session) {
        p[0] = PN_HT_SESSION;
        put16(p + 1, PN_SESSION_TAG_LEN);
        memcpy(p + PN_TLV_HDR, h->session, PN_SESSION_TAG_LEN);
        p += HELLO_SESSION_LEN;
    }
    return (size_t)(p - out);
}

/* Decode the HELLO payload <p> of <len> bytes into <h>. TLVs may come in any
 * order; unknown types are skipped; a known type seen twice or with the wrong
 * length, a truncated TLV, a missing required TLV or an out-of-range value is an
 * error. Unknown PROTO bits are dropped. INTERVAL defaults to 5000 ms; SESSION is
 * optional (has_session 0 without it). Return PN_OK, or PN_ERR with *<why>; <h> is
 * only meaningful after PN_OK. */
int
pn_hello_decode(const uint8_t *p, size_t len, pn_hello_t *h, const char **why)
{
    const uint8_t *cur = p, *end = len > 0 ? p + len : p;
    unsigned seen = 0;
    uint8_t type;
    const uint8_t *val;
    uint16_t vlen;
    int rc;

    memset(h, 0, sizeof(*h));
    h->interval_ms = PN_INTERVAL_DEFAULT_MS;
    while ((rc = pn_tlv_next(&cur, end, &type, &val, &vlen)) == PN_OK) {
        size_t i;
        for (i = 0; i < HELLO_NTLV; i++)
            if (hello_tlvs[i].type == type)
                break;
        if (i == HELLO_NTLV)
            continue;               /* unknown: a later version's, skip it */
        if (seen & (1u << i))
            return fail(why, "HELLO repeats a TLV");
        if (vlen != hello_tlvs[i].len)
            return fail(why, "HELLO TLV has the wrong length for its type");
        seen |= 1u << i;
        switch (type) {
        case PN_HT_FLOW: h->flow = val[0]; break;
        case PN_HT_TLS: h->tls = val[0]; break;
        case PN_HT_MAX: h->max = get32(val); break;
        case PN_HT_PROTO: h->proto = (uint8_t)(val[0] & (PN_PROTO_TCP | PN_PROTO_UDP)); break;
        case PN_HT_INTERVAL: h->interval_ms = get32(val); break;
        default:                    /* PN_HT_SESSION, the last of the table */
            memcpy(h->session, val, PN_SESSION_TAG_LEN);
            h->has_session = 1;
            break;
        }
    }
    if (rc == PN_ERR)
        return fail(why, "HELLO has a truncated TLV");
    for (size_t i = 0; i < HELLO_NTLV; i++)
        if (hello_tlvs[i].missing != NULL && !(seen & (1u << i)))
            return fail(why, hello_tlvs[i].missing);
    return hello_valid(h, why);
}

/* ---- ERROR ---- */

/* Return how many bytes of the NUL-terminated <reason> (NULL means empty) an ERROR
 * or ROUTE_FAIL carries: all of them up to 256; a longer reason is cut at a UTF-8
 * character boundary so the text stays valid. Reads at most reason[256]. */
static size_t
reason_len(const char *reason)
{
    size_t n = 0;
    if (reason != NULL)
        while (n <= PN_ERROR_REASON_MAX && reason[n] != '\0')
            n++;
    if (n > PN_ERROR_REASON_MAX) {
        n = PN_ERROR_REASON_MAX;
        /* reason[n] is the first byte dropped; if it continues a character, drop
         * that character's leading bytes too. A character has at most 3 bytes
         * before its last, so invalid text loses no more than that. */
        while (n > PN_ERROR_REASON_MAX - 3 && ((uint8_t)reason[n] & 0xC0) == 0x80)
            n--;
    }
    return n;
}

/* Encode an ERROR payload: <code> then at most 256 bytes of <reason> (NULL means
 * empty), cut as reason_len() says. Return the payload size, or 0 when <cap> is
 * too small. */
size_t
pn_error_encode(uint16_t code, const char *reason, uint8_t *out, size_t cap)
{
    size_t n = reason_len(reason);
    if (cap < 2 || cap - 2 < n)
        return 0;
    put16(out, code);
    if (n > 0)
        memcpy(out + 2, reason, n);
    return 2 + n;
}

/* Return the length of the well-formed UTF-8 sequence at <s> (at most <n> bytes)
 * and its code point in *<cp>, or 0 if the bytes are not valid UTF-8 (overlong
 * forms, surrogates and values over U+10FFFF included). */
static size_t
utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    size_t need;
    uint32_t v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return need;
}

/* Characters that could forge or hide log lines: C0 controls, DEL, C1 controls,
 * the Unicode line/paragraph separators and the bidirectional overrides. */
static int
unsafe_cp(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x2028 && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* Write into <out> a NUL-terminated copy of the <n> bytes of peer text at <s> in
 * which every unsafe character (see unsafe_cp) and every byte of invalid UTF-8
 * (NUL included) became one '?', so it may go to a log as is. Each '?' stands for
 * at least one input byte: <out> needs room for <n> + 1 bytes. */
static void
log_safe(const uint8_t *s, size_t n, char *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_seq(s + i, n - i, &cp);
        if (k == 0) {
            out[o++] = '?';
            i++;
        } else if (unsafe_cp(cp)) {
            out[o++] = '?';
            i += k;
        } else {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = '\0';
}

/* Decode the ERROR payload <p> of <len> bytes: *<code> gets the code (any value;
 * unknown codes are the caller's to log), <reason> the text made log-safe by
 * log_safe(). Return PN_OK, or PN_ERR with *<why> when <len> is not 2..258. */
int
pn_error_decode(const uint8_t *p, size_t len, uint16_t *code,
                char reason[PN_ERROR_REASON_MAX + 1], const char **why)
{
    if (len < 2)
        return fail(why, "ERROR payload lacks its code");
    if (len - 2 > PN_ERROR_REASON_MAX)
        return fail(why, "ERROR reason is over 256 bytes");
    *code = get16(p);
    log_safe(p + 2, len - 2, reason);
    return PN_OK;
}

/* ---- TCP / UDP signals, DATA_HELLO ---- */

/* Encode a TCP or UDP signal payload: just the conn <id>, since no TLV is defined
 * yet. Return PN_CONN_ID_LEN, or 0 when <cap> is too small. */
size_t
pn_signal_encode(const uint8_t id[PN_CONN_ID_LEN], uint8_t *out, size_t cap)
{
    return pn_signal_encode_addrs(id, NULL, NULL, out, cap);
}

/* Append one address TLV of <type> for <a> at <out> + *<off>; 0 when it does not fit. */
static int
put_addr(uint8_t type, const pn_sig_addr_t *a, uint8_t *out, size_t cap, size_t *off)
{
    size_t iplen = a->family == 4 ? 4 : 16, vlen = 1 + iplen + 2;
    if (*off + PN_TLV_HDR + vlen > cap)
        return 0;
    uint8_t *p = out + *off;
    p[0] = type;
    put16(p + 1, (uint16_t)vlen);
    p[3] = a->family;
    memcpy(p + 4, a->ip, iplen);
    put16(p + 4 + iplen, a->port);
    *off += PN_TLV_HDR + vlen;
    return 1;
}

/* Encode a TCP/UDP signal: the conn <id>, then a SRC and a DST TLV for each of
 * <src> and <dst> that is present. Return the length, or 0 when <cap> is short. */
size_t
pn_signal_encode_addrs(const uint8_t id[PN_CONN_ID_LEN], const pn_sig_addr_t *src,
                       const pn_sig_addr_t *dst, uint8_t *out, size_t cap)
{
    return pn_signal_encode_route(id, src, dst, 0, out, cap);
}

/* Encode a TCP/UDP signal: the conn <id>, then a SRC and a DST TLV for each of
 * <src> and <dst> that is present, then a ROUTE TLV when <route> is non-zero (a
 * hub's signal). Return the length, or 0 when <cap> is short. */
size_t
pn_signal_encode_route(const uint8_t id[PN_CONN_ID_LEN], const pn_sig_addr_t *src,
                       const pn_sig_addr_t *dst, uint32_t route, uint8_t *out, size_t cap)
{
    size_t off = PN_CONN_ID_LEN;
    if (cap < PN_CONN_ID_LEN)
        return 0;
    memcpy(out, id, PN_CONN_ID_LEN);
    if (src != NULL && (src->family == 4 || src->family == 6) &&
        !put_addr(PN_ST_SRC, src, out, cap, &off))
        return 0;
    if (dst != NULL && (dst->family == 4 || dst->family == 6) &&
        !put_addr(PN_ST_DST, dst, out, cap, &off))
        return 0;
    if (route != 0) {
        if (cap - off < PN_TLV_HDR + 4)
            return 0;
        off += (size_t)(put_tlv(out + off, PN_ST_ROUTE, 4, route) - (out + off));
    }
    return off;
}

static int
get_addr(const uint8_t *val, uint16_t vlen, pn_sig_addr_t *a)
{
    if (vlen < 1 || (val[0] != 4 && val[0] != 6))
        return PN_ERR;
    size_t iplen = val[0] == 4 ? 4 : 16;
    if (vlen != 1 + iplen + 2)
        return PN_ERR;
    memset(a, 0, sizeof(*a));
    a->family = val[0];
    memcpy(a->ip, val + 1, iplen);
    a->port = get16(val + 1 + iplen);
    return PN_OK;
}

/* Decode a TCP or UDP signal payload <p> of <len> bytes: *<id> borrows the first
 * 16 bytes of <p>. The TLVs after it are all unknown to version 1 and skipped, but
 * they must be well formed. Return PN_OK, or PN_ERR with *<why>. */
int
pn_signal_decode(const uint8_t *p, size_t len, const uint8_t **id, const char **why)
{
    return pn_signal_decode_addrs(p, len, id, NULL, NULL, why);
}

/* Decode a TCP/UDP signal: *<id> borrows its first 16 bytes; SRC and DST TLVs
 * fill <src> and <dst> (family 0 when absent), other TLVs (ROUTE included) are
 * skipped but must be well formed. Return PN_OK, or PN_ERR with *<why>. */
int
pn_signal_decode_addrs(const uint8_t *p, size_t len, const uint8_t **id, pn_sig_addr_t *src,
                       pn_sig_addr_t *dst, const char **why)
{
    return pn_signal_decode_route(p, len, id, src, dst, NULL, why);
}

/* As pn_signal_decode_addrs(), and the ROUTE TLV sets *<route> (0 when absent).
 * A ROUTE that is not 4 bytes, is 0 or comes twice is an error. With <route> NULL
 * the ROUTE TLV is skipped like any unknown one, as a tunnel's signal decoder did
 * before the hub, so pn_signal_decode_addrs() keeps its behaviour. */
int
pn_signal_decode_route(const uint8_t *p, size_t len, const uint8_t **id, pn_sig_addr_t *src,
                       pn_sig_addr_t *dst, uint32_t *route, const char **why)
{
    pn_sig_addr_t tmp;
    if (len < PN_CONN_ID_LEN)
        return fail(why, "signal shorter than a connection id");
    if (src != NULL)
        src->family = 0;
    if (dst != NULL)
        dst->family = 0;
    if (route != NULL)
        *route = 0;
    const uint8_t *cur = p + PN_CONN_ID_LEN, *end = p + len;
    uint8_t type;
    const uint8_t *val;
    uint16_t vlen;
    int rc;
    while ((rc = pn_tlv_next(&cur, end, &type, &val, &vlen)) == PN_OK) {
        if (type == PN_ST_ROUTE && route != NULL) {
            if (vlen != 4 || get32(val) == 0)
                return fail(why, "signal has a malformed ROUTE TLV");
            if (*route != 0)
                return fail(why, "signal repeats the ROUTE TLV");
            *route = get32(val);
            continue;
        }
        if (type != PN_ST_SRC && type != PN_ST_DST)
            continue;               /* unknown: skip */
        if (get_addr(val, vlen, &tmp) != PN_OK)
            return fail(why, "signal has a malformed address TLV");
        pn_sig_addr_t *to = type == PN_ST_SRC ? src : dst;
        if (to != NULL)
            *to = tmp;
    }
    if (rc == PN_ERR)
        return fail(why, "signal has a truncated TLV");
    *id = p;
    return PN_OK;
}

/* Encode a DATA_HELLO payload: conn <id> followed by <proof>. Return
 * PN_DATA_HELLO_LEN, or 0 when <cap> is too small. */
size_t
pn_data_hello_encode(const uint8_t id[PN_CONN_ID_LEN], const uint8_t proof[PN_PROOF_LEN],
                     uint8_t *out, size_t cap)
{
    if (cap < PN_DATA_HELLO_LEN)
        return 0;
    memcpy(out, id, PN_CONN_ID_LEN);
    memcpy(out + PN_CONN_ID_LEN, proof, PN_PROOF_LEN);
    return PN_DATA_HELLO_LEN;
}

/* Decode a DATA_HELLO payload <p> of <len> bytes: *<id> and *<proof> borrow from
 * <p>. Checking the proof (HMAC over pn_proof_msg(), compared in constant time) is
 * the caller's job. Return PN_OK, or PN_ERR with *<why> unless <len> is 48. */
int
pn_data_hello_decode(const uint8_t *p, size_t len, const uint8_t **id, const uint8_t **proof,
                     const char **why)
{
    if (len != PN_DATA_HELLO_LEN)
        return fail(why, "DATA_HELLO payload is not 48 bytes");
    *id = p;
    *proof = p + PN_CONN_ID_LEN;
    return PN_OK;
}

/* Write the 31-byte message the DATA_HELLO proof authenticates into <out>: the
 * label "postern-data-v1" without its NUL, then conn <id>. */
void
pn_proof_msg(const uint8_t id[PN_CONN_ID_LEN], uint8_t out[PN_PROOF_MSG_LEN])
{
    memcpy(out, PN_PROOF_LABEL, PN_PROOF_LABEL_LEN);
    memcpy(out + PN_PROOF_LABEL_LEN, id, PN_CONN_ID_LEN);
}

/* Write conn <id> as 32 lowercase hex digits and a NUL into <out>. */
void
pn_conn_id_hex(const uint8_t id[PN_CONN_ID_LEN], char out[2 * PN_CONN_ID_LEN + 1])
{
    hex_encode(id, PN_CONN_ID_LEN, out);
}

/* ---- hub route frames (docs/hub.md §5) ---- */

/* Route TLV types, shared by the five route frames. */
enum {
    RT_TYPE = 1,                /* u8: 1 tcp, 2 udp, 3 http, 4 https */
    RT_PORT = 2,                /* u16 */
    RT_HOST = 3,                /* printable ASCII, 1..253 bytes */
    RT_GROUP = 4,               /* printable ASCII, 1..64 bytes */
    RT_GROUP_KEY = 5,           /* text without NUL, 1..128 bytes */
    RT_ONLINE = 6,              /* u8: 0 or 1 */
    RT_CODE = 7,                /* u16: enum pn_route_fail */
    RT_REASON = 8,              /* text without NUL, 0..256 bytes, made log-safe */
};
#define RT_BIT(t) (1u << (t))
#define ROUTE_TYPE_MAX 4

/* Value sizes of the route TLVs, indexed by type - 1. */
static const struct route_tlv {
    uint16_t min, max;
    const char *bad_len;
} route_tlvs[RT_REASON] = {
    { 1, 1, "route TYPE is not 1 byte" },
    { 2, 2, "route PORT is not 2 bytes" },
    { 1, PN_ROUTE_HOST_MAX, "route HOST is not 1..253 bytes" },
    { 1, PN_ROUTE_GROUP_MAX, "route GROUP is not 1..64 bytes" },
    { 1, PN_ROUTE_GROUP_KEY_MAX, "route GROUP_KEY is not 1..128 bytes" },
    { 1, 1, "route ONLINE is not 1 byte" },
    { 2, 2, "route CODE is not 2 bytes" },
    { 0, PN_ERROR_REASON_MAX, "route REASON is over 256 bytes" },
};

/* The members each route frame carries (RT_BIT of their TLV types), indexed by
 * frame type - PN_FT_ROUTE_ADD, and the one it cannot go without. */
static const struct route_frame {
    unsigned carries;
    unsigned required;
    const char *missing;
} route_frames[] = {
    { RT_BIT(RT_TYPE) | RT_BIT(RT_PORT) | RT_BIT(RT_HOST) | RT_BIT(RT_GROUP) |
      RT_BIT(RT_GROUP_KEY) | RT_BIT(RT_ONLINE), RT_BIT(RT_TYPE), "ROUTE_ADD lacks the TYPE TLV" },
    { RT_BIT(RT_PORT) | RT_BIT(RT_HOST), 0, NULL },
    { RT_BIT(RT_CODE) | RT_BIT(RT_REASON), RT_BIT(RT_CODE), "ROUTE_FAIL lacks the CODE TLV" },
    { 0, 0, NULL },
    { RT_BIT(RT_ONLINE), RT_BIT(RT_ONLINE), "ROUTE_STATE lacks the ONLINE TLV" },
};

/* Return the entry of route frame type <ftype>, or NULL when it is not one. */
static const struct route_frame *
route_frame(uint8_t ftype)
{
    if (ftype < PN_FT_ROUTE_ADD || ftype > PN_FT_ROUTE_STATE)
        return NULL;
    return &route_frames[ftype - PN_FT_ROUTE_ADD];
}

/* Check the <n> text bytes at <s>: no NUL and, when <printable>, nothing but
 * printable ASCII (0x20..0x7E). PN_OK or PN_ERR. */
static int
text_ok(const uint8_t *s, size_t n, int printable)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == 0 || (printable && (s[i] < 0x20 || s[i] > 0x7E)))
            return PN_ERR;
    return PN_OK;
}

/* Return the length of the NUL-terminated <s> if it is at most <max>, else
 * <max> + 1; reads at most s[max]. */
static size_t
text_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n] != '\0')
        n++;
    return n;
}

/* Append the TLV <type> with the <n> bytes at <val> (never NULL) at <out> + *<off>;
 * 0 when it does not fit in <cap>. */
static int
put_route_tlv(uint8_t type, const void *val, size_t n, uint8_t *out, size_t cap, size_t *off)
{
    if (cap - *off < PN_TLV_HDR + n)
        return 0;
    uint8_t *p = out + *off;
    p[0] = type;
    put16(p + 1, (uint16_t)n);
    memcpy(p + PN_TLV_HDR, val, n);
    *off += PN_TLV_HDR + n;
    return 1;
}

/* Append the text TLV <type> of <s> (1..<max> bytes, printable ASCII when
 * <printable>), or nothing when <s> is empty. 0 when it does not fit or <s> is
 * one the decoder would refuse (longer than <max>, or a byte not allowed). */
static int
put_route_text(uint8_t type, const char *s, size_t max, int printable, uint8_t *out,
               size_t cap, size_t *off)
{
    size_t n = text_len(s, max);
    if (n == 0)
        return 1;
    if (n > max || text_ok((const uint8_t *)s, n, printable) != PN_OK)
        return 0;
    return put_route_tlv(type, s, n, out, cap, off);
}

/* Encode the payload of route frame <ftype> from <m>: the route id, then the TLVs
 * that type carries, in TLV type order: ROUTE_ADD TYPE, PORT (when non-zero), HOST,
 * GROUP, GROUP_KEY (when non-empty), ONLINE; ROUTE_OK PORT (when non-zero), HOST
 * (when non-empty); ROUTE_FAIL CODE, REASON (when non-empty, cut as reason_len()
 * says); ROUTE_DEL nothing; ROUTE_STATE ONLINE. Return the payload size, or 0 when
 * <ftype> is not a route frame, <cap> is too small or a member of <m> is one the
 * decoder would refuse (id 0, TYPE not 1..4, ONLINE not 0/1, a text too long or
 * with bytes its TLV does not allow). */
size_t
pn_route_encode(uint8_t ftype, const pn_route_msg_t *m, uint8_t *out, size_t cap)
{
    const struct route_frame *rf = route_frame(ftype);
    size_t off = 4;
    uint8_t v[2];

    if (rf == NULL || m->id == 0 || cap < 4)
        return 0;
    put32(out, m->id);
    if (rf->carries & RT_BIT(RT_TYPE)) {
        if (m->type < 1 || m->type > ROUTE_TYPE_MAX ||
            !put_route_tlv(RT_TYPE, &m->type, 1, out, cap, &off))
            return 0;
    }
    if ((rf->carries & RT_BIT(RT_PORT)) && m->port != 0) {
        put16(v, m->port);
        if (!put_route_tlv(RT_PORT, v, 2, out, cap, &off))
            return 0;
    }
    if ((rf->carries & RT_BIT(RT_HOST)) &&
        !put_route_text(RT_HOST, m->host, PN_ROUTE_HOST_MAX, 1, out, cap, &off))
        return 0;
    if ((rf->carries & RT_BIT(RT_GROUP)) &&
        !put_route_text(RT_GROUP, m->group, PN_ROUTE_GROUP_MAX, 1, out, cap, &off))
        return 0;
    if ((rf->carries & RT_BIT(RT_GROUP_KEY)) &&
        !put_route_text(RT_GROUP_KEY, m->group_key, PN_ROUTE_GROUP_KEY_MAX, 0, out, cap, &off))
        return 0;
    if (rf->carries & RT_BIT(RT_ONLINE)) {
        if (m->online > 1 || !put_route_tlv(RT_ONLINE, &m->online, 1, out, cap, &off))
            return 0;
    }
    if (rf->carries & RT_BIT(RT_CODE)) {     /* ROUTE_FAIL: CODE, then REASON */
        put16(v, m->code);
        if (!put_route_tlv(RT_CODE, v, 2, out, cap, &off))
            return 0;
        size_t n = reason_len(m->reason);
        if (n > 0 && !put_route_tlv(RT_REASON, m->reason, n, out, cap, &off))
            return 0;
    }
    return off;
}

/* Decode the payload <p> of <len> bytes of route frame <ftype> into <m>: the route
 * id (non-zero), then TLVs in any order. Every known TLV (types 1..8) is checked
 * in every route frame, whether or not that frame carries it: a wrong size, a
 * repeat, a value out of range (TYPE not 1..4, ONLINE not 0/1) or text with a NUL
 * (HOST and GROUP: anything but printable ASCII) is an error. Only the members the
 * frame type carries are set (see pn_route_encode()); the others stay zero / empty,
 * ONLINE 1. REASON is made log-safe like an ERROR reason. Unknown TLVs are skipped.
 * Return PN_OK, or PN_ERR with *<why>; <m> is only meaningful after PN_OK. */
int
pn_route_decode(uint8_t ftype, const uint8_t *p, size_t len, pn_route_msg_t *m,
                const char **why)
{
    const struct route_frame *rf = route_frame(ftype);
    unsigned seen = 0;
    uint8_t type;
    const uint8_t *val;
    uint16_t vlen;
    int rc;

    memset(m, 0, sizeof(*m));
    m->online = 1;
    if (rf == NULL)
        return fail(why, "not a route frame type");
    if (len < 4)
        return fail(why, "route frame lacks its route id");
    m->id = get32(p);
    if (m->id == 0)
        return fail(why, "route id is 0");
    const uint8_t *cur = p + 4, *end = p + len;
    while ((rc = pn_tlv_next(&cur, end, &type, &val, &vlen)) == PN_OK) {
        if (type < RT_TYPE || type > RT_REASON)
            continue;               /* unknown: a later version's, skip it */
        if (seen & RT_BIT(type))
            return fail(why, "route frame repeats a TLV");
        seen |= RT_BIT(type);
        const struct route_tlv *t = &route_tlvs[type - 1];
        if (vlen < t->min || vlen > t->max)
            return fail(why, t->bad_len);
        int keep = (rf->carries & RT_BIT(type)) != 0;
        switch (type) {
        case RT_TYPE:
            if (val[0] < 1 || val[0] > ROUTE_TYPE_MAX)
                return fail(why, "route TYPE is not 1..4");
            if (keep)
                m->type = val[0];
            break;
        case RT_PORT:
            if (keep)
                m->port = get16(val);
            break;
        case RT_HOST:
        case RT_GROUP:
            if (text_ok(val, vlen, 1) != PN_OK)
                return fail(why, type == RT_HOST ? "route HOST is not printable ASCII"
                                                 : "route GROUP is not printable ASCII");
            if (keep) {
                char *to = type == RT_HOST ? m->host : m->group;
                memcpy(to, val, vlen);
                to[vlen] = '\0';
            }
            break;
        case RT_GROUP_KEY:
            if (text_ok(val, vlen, 0) != PN_OK)
                return fail(why, "route GROUP_KEY holds a NUL");
            if (keep) {
                memcpy(m->group_key, val, vlen);
                m->group_key[vlen] = '\0';
            }
            break;
        case RT_ONLINE:
            if (val[0] > 1)
                return fail(why, "route ONLINE is not 0 or 1");
            if (keep)
                m->online = val[0];
            break;
        case RT_CODE:
            if (keep)
                m->code = get16(val);
            break;
        default:                    /* RT_REASON, the last known type */
            if (text_ok(val, vlen, 0) != PN_OK)
                return fail(why, "route REASON holds a NUL");
            if (keep)
                log_safe(val, vlen, m->reason);
            break;
        }
    }
    if (rc == PN_ERR)
        return fail(why, "route frame has a truncated TLV");
    if ((seen & rf->required) != rf->required)
        return fail(why, rf->missing);
    return PN_OK;
}

/* Return a static name for ROUTE_FAIL <code>, "UNKNOWN" for values not defined. */
const char *
pn_route_fail_name(uint16_t code)
{
    switch (code) {
    case PN_RF_TAKEN: return "TAKEN";
    case PN_RF_DENIED: return "DENIED";
    case PN_RF_LIMIT: return "LIMIT";
    case PN_RF_INVALID: return "INVALID";
    case PN_RF_EXISTS: return "EXISTS";
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
