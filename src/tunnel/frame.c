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
 * most 256 reason bytes. HELLO is checked by pn_hello_decode(). Return PN_OK, or
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
};
#define HELLO_NTLV (sizeof(hello_tlvs) / sizeof(hello_tlvs[0]))
#define HELLO_ENC_LEN (5 * PN_TLV_HDR + 1 + 1 + 4 + 1 + 4)

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
 * that order (26 bytes). Return the payload size, or 0 when <cap> is too small or a
 * field of <h> is out of range (a programmer error the caller should report). */
size_t
pn_hello_encode(const pn_hello_t *h, uint8_t *out, size_t cap)
{
    if (cap < HELLO_ENC_LEN || hello_valid(h, NULL) != PN_OK)
        return 0;
    uint8_t *p = out;
    p = put_tlv(p, PN_HT_FLOW, 1, h->flow);
    p = put_tlv(p, PN_HT_TLS, 1, h->tls);
    p = put_tlv(p, PN_HT_MAX, 4, h->max);
    p = put_tlv(p, PN_HT_PROTO, 1, h->proto);
    p = put_tlv(p, PN_HT_INTERVAL, 4, h->interval_ms);
    return (size_t)(p - out);
}

/* Decode the HELLO payload <p> of <len> bytes into <h>. TLVs may come in any
 * order; unknown types are skipped; a known type seen twice or with the wrong
 * length, a truncated TLV, a missing required TLV or an out-of-range value is an
 * error. Unknown PROTO bits are dropped. INTERVAL defaults to 5000 ms. Return PN_OK,
 * or PN_ERR with *<why>; <h> is only meaningful after PN_OK. */
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
        uint32_t v = vlen == 1 ? val[0] : get32(val);
        switch (type) {
        case PN_HT_FLOW: h->flow = (uint8_t)v; break;
        case PN_HT_TLS: h->tls = (uint8_t)v; break;
        case PN_HT_MAX: h->max = v; break;
        case PN_HT_PROTO: h->proto = (uint8_t)(v & (PN_PROTO_TCP | PN_PROTO_UDP)); break;
        default: h->interval_ms = v; break;    /* PN_HT_INTERVAL, the last of the table */
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

/* Encode an ERROR payload: <code> then at most 256 bytes of <reason> (NULL means
 * empty). A longer reason is cut at a UTF-8 character boundary so the text stays
 * valid. Return the payload size, or 0 when <cap> is too small. */
size_t
pn_error_encode(uint16_t code, const char *reason, uint8_t *out, size_t cap)
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

/* Decode the ERROR payload <p> of <len> bytes: *<code> gets the code (any value;
 * unknown codes are the caller's to log), <reason> a NUL-terminated copy of the
 * text in which every unsafe character (see unsafe_cp) and every byte of invalid
 * UTF-8 (NUL included) became one '?', so it may go to a log as is. Return PN_OK,
 * or PN_ERR with *<why> when <len> is not 2..258. */
int
pn_error_decode(const uint8_t *p, size_t len, uint16_t *code,
                char reason[PN_ERROR_REASON_MAX + 1], const char **why)
{
    if (len < 2)
        return fail(why, "ERROR payload lacks its code");
    if (len - 2 > PN_ERROR_REASON_MAX)
        return fail(why, "ERROR reason is over 256 bytes");
    *code = get16(p);
    const uint8_t *s = p + 2;
    size_t n = len - 2, i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_seq(s + i, n - i, &cp);
        if (k == 0) {
            reason[o++] = '?';
            i++;
        } else if (unsafe_cp(cp)) {
            reason[o++] = '?';
            i += k;
        } else {
            memcpy(reason + o, s + i, k);
            o += k;
            i += k;
        }
    }
    reason[o] = '\0';
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
 * fill <src> and <dst> (family 0 when absent), other TLVs are skipped but must
 * be well formed. Return PN_OK, or PN_ERR with *<why>. */
int
pn_signal_decode_addrs(const uint8_t *p, size_t len, const uint8_t **id, pn_sig_addr_t *src,
                       pn_sig_addr_t *dst, const char **why)
{
    pn_sig_addr_t tmp;
    if (len < PN_CONN_ID_LEN)
        return fail(why, "signal shorter than a connection id");
    if (src != NULL)
        src->family = 0;
    if (dst != NULL)
        dst->family = 0;
    const uint8_t *cur = p + PN_CONN_ID_LEN, *end = p + len;
    uint8_t type;
    const uint8_t *val;
    uint16_t vlen;
    int rc;
    while ((rc = pn_tlv_next(&cur, end, &type, &val, &vlen)) == PN_OK) {
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
