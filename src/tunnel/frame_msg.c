/* tunnel/frame_msg.c: payloads of the tunnel's control frames (pure): HELLO,
 * ERROR, the TCP/UDP signals and DATA_HELLO, declared in tunnel/frame.h.
 *
 * Same rules as frame.c: every decoder bounds-checks before it reads, never
 * allocates and reports failure through a static string in <why>.
 * docs/protocol.md is normative. */
#include "tunnel/frame.h"
#include "tunnel/frame_wire.h"

#include <string.h>

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
    { PN_HT_TRANSPORT, 1, NULL },
    { PN_HT_PATH, 0, NULL },        /* 0: 1..PN_PATH_MAX bytes */
    { PN_HT_EPOCH, 4, NULL },
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
    if (h->epoch_s > PN_EPOCH_MAX_S)
        return fail(why, "HELLO EPOCH is not 1..3600 s");
    if (h->transport > PN_XPORT_MAX)
        return fail(why, "HELLO TRANSPORT is not 0..3");
    if (h->transport != PN_XPORT_TCP && !pn_path_valid(h->path, strnlen(h->path, sizeof(h->path))))
        return fail(why, "HELLO PATH is not 1..255 printable bytes starting with '/'");
    return PN_OK;
}

int
pn_path_valid(const char *p, size_t len)
{
    if (len < 1 || len > PN_PATH_MAX || p[0] != '/')
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)p[i] <= 0x20 || (uint8_t)p[i] >= 0x7f)
            return 0;
    return 1;
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
    size_t plen = h->transport != PN_XPORT_TCP ? strnlen(h->path, sizeof(h->path)) : 0;
    size_t need = HELLO_ENC_LEN + (h->has_session ? HELLO_SESSION_LEN : 0) +
                  (h->transport != PN_XPORT_TCP ? 2 * PN_TLV_HDR + 1 + plen : 0) +
                  (h->epoch_s != 0 ? PN_TLV_HDR + 4 : 0);
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
    if (h->transport != PN_XPORT_TCP) {
        p = put_tlv(p, PN_HT_TRANSPORT, 1, h->transport);
        p[0] = PN_HT_PATH;
        put16(p + 1, (uint16_t)plen);
        memcpy(p + PN_TLV_HDR, h->path, plen);
        p += PN_TLV_HDR + plen;
    }
    if (h->epoch_s != 0)
        p = put_tlv(p, PN_HT_EPOCH, 4, h->epoch_s);
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
        if (hello_tlvs[i].len != 0 ? vlen != hello_tlvs[i].len : vlen < 1 || vlen > PN_PATH_MAX)
            return fail(why, "HELLO TLV has the wrong length for its type");
        seen |= 1u << i;
        switch (type) {
        case PN_HT_FLOW: h->flow = val[0]; break;
        case PN_HT_TLS: h->tls = val[0]; break;
        case PN_HT_MAX: h->max = get32(val); break;
        case PN_HT_PROTO: h->proto = (uint8_t)(val[0] & (PN_PROTO_TCP | PN_PROTO_UDP)); break;
        case PN_HT_INTERVAL: h->interval_ms = get32(val); break;
        case PN_HT_TRANSPORT: h->transport = val[0]; break;
        case PN_HT_EPOCH:
            h->epoch_s = get32(val);
            if (h->epoch_s == 0)
                return fail(why, "HELLO EPOCH is not 1..3600 s");
            break;
        case PN_HT_PATH:
            memcpy(h->path, val, vlen);
            h->path[vlen] = '\0';
            if (!pn_path_valid(h->path, vlen))
                return fail(why, "HELLO PATH is not 1..255 printable bytes starting with '/'");
            break;
        default:                    /* PN_HT_SESSION */
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
    if (h->transport != PN_XPORT_TCP && h->path[0] == '\0')
        memcpy(h->path, "/", 2);
    return hello_valid(h, why);
}

/* ---- ERROR ---- */

/* Return how many bytes of the NUL-terminated <reason> (NULL means empty) an ERROR
 * or ROUTE_FAIL carries: all of them up to 256; a longer reason is cut at a UTF-8
 * character boundary so the text stays valid. Reads at most reason[256]. */
size_t
pn_frame_text_len(const char *text, size_t max)
{
    size_t n = 0;
    if (text != NULL)
        while (n <= max && text[n] != '\0')
            n++;
    if (n > max) {
        n = max;
        /* text[n] is the first byte dropped; if it continues a character, drop
         * that character's leading bytes too. A character has at most 3 bytes
         * before its last, so invalid text loses no more than that. */
        while (n > max - 3 && ((uint8_t)text[n] & 0xC0) == 0x80)
            n--;
    }
    return n;
}

size_t
pn_frame_reason_len(const char *reason)
{
    return pn_frame_text_len(reason, PN_ERROR_REASON_MAX);
}

/* Encode an ERROR payload: <code> then at most 256 bytes of <reason> (NULL means
 * empty), cut as pn_frame_reason_len() says. Return the payload size, or 0 when <cap> is
 * too small. */
size_t
pn_error_encode(uint16_t code, const char *reason, uint8_t *out, size_t cap)
{
    size_t n = pn_frame_reason_len(reason);
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
void
pn_frame_log_safe(const uint8_t *s, size_t n, char *out)
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
 * pn_frame_log_safe(). Return PN_OK, or PN_ERR with *<why> when <len> is not 2..258. */
int
pn_error_decode(const uint8_t *p, size_t len, uint16_t *code,
                char reason[PN_ERROR_REASON_MAX + 1], const char **why)
{
    if (len < 2)
        return fail(why, "ERROR payload lacks its code");
    if (len - 2 > PN_ERROR_REASON_MAX)
        return fail(why, "ERROR reason is over 256 bytes");
    *code = get16(p);
    pn_frame_log_safe(p + 2, len - 2, reason);
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

