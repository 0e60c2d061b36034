/* tests/fuzz/fuzz_frame.c: the tunnel frame codec (src/tunnel/frame.h) on a
 * byte stream a peer chose, as the control channel reads it.
 *
 * The input is decoded frame after frame until the codec asks for more bytes or
 * refuses; every frame goes through pn_frame_check and the payload decoder of
 * its type. Invariants checked besides memory safety:
 *   - a decoded frame lies inside the input and re-encodes to the same bytes;
 *   - PN_AGAIN only when the bytes really are short of a whole frame;
 *   - pn_frame_check and the payload decoders agree on what is well formed;
 *   - TCP/UDP: the SRC/DST address TLVs and the hub's ROUTE TLV re-encode and
 *     decode unchanged; the ROUTE-aware decoder is stricter than the tunnel's,
 *     never looser, and agrees with it on the addresses;
 *   - HELLO: decode, encode, decode gives the same struct (SESSION included);
 *   - ROUTE_*: the payload is decoded as each of the five route types; whatever
 *     is accepted re-encodes (exact-size buffer, one byte less refused) and
 *     decodes to the same message, and that encoding is a fixed point; the
 *     strings are NUL-terminated within their bounds, HOST/GROUP printable
 *     ASCII, REASON log-safe (a fixed point of the sanitiser);
 *   - ERROR: the sanitised reason is a fixed point (encode + decode leaves it
 *     unchanged), which holds only when it is valid, log-safe UTF-8;
 *   - pn_tlv_next never steps outside [p, end);
 *   - RESULT (the data-channel answer to a TARGET, read from the input's start
 *     as the entrance reads it, never asking past the frame): PN_AGAIN only
 *     while short of what <need> says, need grows and stays within
 *     PN_RESULT_MAX; an accepted frame agrees with pn_frame_decode, its reason
 *     is log-safe (a fixed point of encode + decode) and the re-encoding is
 *     the input's bytes when the reason was already log-safe. */
#include "fuzz.h"
#include "tunnel/frame.h"

static uint32_t
be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Walk the TLVs of the <n> bytes at <p> to their end or the first truncated one. */
static void
walk_tlvs(const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    const uint8_t *cur = p, *end = p + n;
    for (;;) {
        const uint8_t *prev = cur, *val = NULL;
        uint8_t type;
        uint16_t len;
        int rc = pn_tlv_next(&cur, end, &type, &val, &len);
        if (rc == PN_AGAIN) {
            FUZZ_ASSERT(cur == end);
            return;
        }
        if (rc == PN_ERR) {
            FUZZ_ASSERT(cur == prev);
            FUZZ_ASSERT((size_t)(end - prev) < PN_TLV_HDR ||
                        (size_t)(end - prev) - PN_TLV_HDR < ((size_t)prev[1] << 8 | prev[2]));
            return;
        }
        FUZZ_ASSERT(rc == PN_OK);
        FUZZ_ASSERT(type == prev[0] && val == prev + PN_TLV_HDR);
        FUZZ_ASSERT(cur == val + len && cur > prev && cur <= end);
    }
}

static void
check_hello(const pn_frame_t *f)
{
    pn_hello_t h, h2;
    const char *why = NULL;

    walk_tlvs(f->payload, f->len);
    if (pn_hello_decode(f->payload, f->len, &h, &why) != PN_OK) {
        FUZZ_ASSERT(why != NULL);
        return;
    }
    /* Round trip: whatever the decoder accepts, the encoder must write and the
     * decoder must read back to the same values. Exact-size heap buffers let
     * ASan see a write past <cap>. */
    uint8_t *big = malloc(512);
    size_t n = pn_hello_encode(&h, big, 512);
    FUZZ_ASSERT(n > 0 && n <= 512);
    uint8_t *exact = malloc(n);
    FUZZ_ASSERT(pn_hello_encode(&h, exact, n) == n);
    FUZZ_ASSERT(memcmp(exact, big, n) == 0);
    FUZZ_ASSERT(pn_hello_encode(&h, exact, n - 1) == 0);
    why = NULL;
    FUZZ_ASSERT(pn_hello_decode(exact, n, &h2, &why) == PN_OK);
    FUZZ_ASSERT(h.flow == h2.flow && h.tls == h2.tls && h.proto == h2.proto &&
                h.max == h2.max && h.interval_ms == h2.interval_ms);
    FUZZ_ASSERT(h.has_session == h2.has_session && (h.has_session == 0 || h.has_session == 1));
    size_t tail = h.transport != 0 ? 2 * PN_TLV_HDR + 1 + strlen(h.path) : 0;
    tail += h.epoch_s != 0 ? PN_TLV_HDR + 4 : 0;
    FUZZ_ASSERT(n == (h.has_session ? 37u : 26u) + tail);
    FUZZ_ASSERT(h.transport == h2.transport && strcmp(h.path, h2.path) == 0);
    FUZZ_ASSERT(h.epoch_s == h2.epoch_s);
    FUZZ_ASSERT(memcmp(h.session, h2.session, PN_SESSION_TAG_LEN) == 0);
    free(exact);
    free(big);
}

static void
check_error(const pn_frame_t *f, int checked)
{
    char reason[PN_ERROR_REASON_MAX + 1], again[PN_ERROR_REASON_MAX + 1];
    uint16_t code = 0, code2 = 0;
    const char *why = NULL;

    int rc = pn_error_decode(f->payload, f->len, &code, reason, &why);
    FUZZ_ASSERT((rc == PN_OK) == (checked == PN_OK));
    if (rc != PN_OK) {
        FUZZ_ASSERT(why != NULL);
        return;
    }
    FUZZ_ASSERT(pn_frame_err_name(code) != NULL);
    size_t rlen = strlen(reason);
    FUZZ_ASSERT(rlen <= f->len - 2);
    uint8_t *out = malloc(2 + rlen);
    FUZZ_ASSERT(pn_error_encode(code, reason, out, 2 + rlen) == 2 + rlen);
    FUZZ_ASSERT(pn_error_decode(out, 2 + rlen, &code2, again, &why) == PN_OK);
    FUZZ_ASSERT(code2 == code && strcmp(again, reason) == 0);
    free(out);
}

/* Nonzero when signal addresses <a> and <b> are equal (both absent counts). */
static int
sig_addr_same(const pn_sig_addr_t *a, const pn_sig_addr_t *b)
{
    if (a->family != b->family)
        return 0;
    if (a->family == 0)
        return 1;
    return a->port == b->port && memcmp(a->ip, b->ip, a->family == 4 ? 4 : 16) == 0;
}

static size_t
sig_addr_tlv_len(const pn_sig_addr_t *a)
{
    return a->family == 0 ? 0 : PN_TLV_HDR + 1 + (a->family == 4 ? 4 : 16) + 2;
}

/* The TARGET TLV (egress): stricter than the address decoders, never looser;
 * a target found is printable, bounded, with a port, and re-encodes to one
 * that decodes to the same host and port, beside the same addresses. */
static void
check_target(const pn_frame_t *f, const uint8_t *id, const pn_sig_addr_t *src,
             const pn_sig_addr_t *dst, size_t n)
{
    char host[PN_TARGET_HOST_MAX + 1], host2[PN_TARGET_HOST_MAX + 1];
    uint16_t port = 1, port2 = 0;
    const char *why = NULL;
    pn_sig_addr_t src2, dst2;
    const uint8_t *id2;
    if (pn_signal_decode_target(f->payload, f->len, host, &port, &why) != PN_OK) {
        FUZZ_ASSERT(why != NULL && host[0] == '\0' && port == 0);
        return;
    }
    size_t hl = strlen(host);
    FUZZ_ASSERT(hl <= PN_TARGET_HOST_MAX && (hl == 0) == (port == 0));
    for (size_t i = 0; i < hl; i++)
        FUZZ_ASSERT(host[i] > 0x20 && host[i] < 0x7F);
    if (hl == 0)
        return;
    size_t tn = n + PN_TLV_HDR + 2 + hl;
    uint8_t *out = malloc(tn);
    FUZZ_ASSERT(pn_signal_encode_addrs(id, src, dst, out, n) == n);
    FUZZ_ASSERT(pn_signal_append_target(out, tn - 1, n, host, port) == 0);
    FUZZ_ASSERT(pn_signal_append_target(out, tn, n, host, port) == tn);
    FUZZ_ASSERT(pn_signal_decode_target(out, tn, host2, &port2, &why) == PN_OK);
    FUZZ_ASSERT(port2 == port && strcmp(host, host2) == 0);
    FUZZ_ASSERT(pn_signal_decode_addrs(out, tn, &id2, &src2, &dst2, &why) == PN_OK);
    FUZZ_ASSERT(sig_addr_same(src, &src2) && sig_addr_same(dst, &dst2));
    free(out);
}

static void
check_signal(const pn_frame_t *f, int checked)
{
    const uint8_t *id = NULL, *id2 = NULL, *id3 = NULL;
    const char *why = NULL;
    char hex[2 * PN_CONN_ID_LEN + 1];
    pn_sig_addr_t src, dst, src2, dst2, src3, dst3;
    uint32_t route = 0, route2 = 0;

    if (f->len >= PN_CONN_ID_LEN)
        walk_tlvs(f->payload + PN_CONN_ID_LEN, f->len - PN_CONN_ID_LEN);
    int rc = pn_signal_decode_addrs(f->payload, f->len, &id, &src, &dst, &why);
    FUZZ_ASSERT(pn_signal_decode(f->payload, f->len, &id2, &why) == rc);
    FUZZ_ASSERT(pn_signal_decode_route(f->payload, f->len, &id2, NULL, NULL, NULL, &why) == rc);
    why = NULL;
    int rrc = pn_signal_decode_route(f->payload, f->len, &id3, &src3, &dst3, &route, &why);
    FUZZ_ASSERT(rrc == PN_OK || why != NULL);
    FUZZ_ASSERT(rrc != PN_OK || rc == PN_OK);   /* stricter, never looser */
    if (rc != PN_OK) {
        FUZZ_ASSERT(why != NULL);
        return;
    }
    FUZZ_ASSERT(checked == PN_OK);
    FUZZ_ASSERT(id == f->payload && id2 == f->payload);
    FUZZ_ASSERT(src.family == 0 || src.family == 4 || src.family == 6);
    FUZZ_ASSERT(dst.family == 0 || dst.family == 4 || dst.family == 6);
    pn_conn_id_hex(id, hex);
    FUZZ_ASSERT(strlen(hex) == 2 * PN_CONN_ID_LEN);

    /* Round trip of the addresses (unknown TLVs are not re-encoded), into a
     * buffer of exactly the expected size. */
    size_t n = PN_CONN_ID_LEN + sig_addr_tlv_len(&src) + sig_addr_tlv_len(&dst);
    uint8_t *out = malloc(n);
    FUZZ_ASSERT(pn_signal_encode_addrs(id, &src, &dst, out, n) == n);
    FUZZ_ASSERT(pn_signal_encode_addrs(id, &src, &dst, out, n - 1) == 0);
    FUZZ_ASSERT(pn_signal_encode_addrs(id, &src, &dst, out, n) == n);
    FUZZ_ASSERT(pn_signal_decode_addrs(out, n, &id2, &src2, &dst2, &why) == PN_OK);
    FUZZ_ASSERT(id2 == out && memcmp(out, id, PN_CONN_ID_LEN) == 0);
    FUZZ_ASSERT(sig_addr_same(&src, &src2) && sig_addr_same(&dst, &dst2));
    FUZZ_ASSERT(pn_signal_encode(id, out, PN_CONN_ID_LEN) == PN_CONN_ID_LEN);
    FUZZ_ASSERT(pn_signal_encode(id, out, PN_CONN_ID_LEN - 1) == 0);
    free(out);
    check_target(f, id, &src, &dst, n);
    if (rrc != PN_OK)
        return;

    /* The hub's view: same id and addresses, plus the route, which round-trips;
     * without a route the bytes are those of pn_signal_encode_addrs. */
    FUZZ_ASSERT(id3 == f->payload);
    FUZZ_ASSERT(sig_addr_same(&src, &src3) && sig_addr_same(&dst, &dst3));
    size_t rn = n + (route != 0 ? PN_TLV_HDR + 4 : 0);
    out = malloc(rn);
    FUZZ_ASSERT(pn_signal_encode_route(id, &src, &dst, route, out, rn) == rn);
    FUZZ_ASSERT(pn_signal_encode_route(id, &src, &dst, route, out, rn - 1) == 0);
    FUZZ_ASSERT(pn_signal_encode_route(id, &src, &dst, route, out, rn) == rn);
    FUZZ_ASSERT(pn_signal_decode_route(out, rn, &id2, &src2, &dst2, &route2, &why) == PN_OK);
    FUZZ_ASSERT(route2 == route && sig_addr_same(&src, &src2) && sig_addr_same(&dst, &dst2));
    free(out);
}

/* Nonzero when route messages <a> and <b> are equal member by member. */
static int
route_same(const pn_frame_route_t *a, const pn_frame_route_t *b)
{
    return a->id == b->id && a->type == b->type && a->port == b->port &&
           a->online == b->online && a->code == b->code && strcmp(a->host, b->host) == 0 &&
           strcmp(a->group, b->group) == 0 && strcmp(a->group_key, b->group_key) == 0 &&
           strcmp(a->reason, b->reason) == 0;
}

/* Nonzero when the <n> bytes at <s> are printable ASCII. */
static int
printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)s[i] < 0x20 || (uint8_t)s[i] > 0x7E)
            return 0;
    return 1;
}

/* Decode <f>'s payload as route frame <ftype> (maybe not f->type: the five
 * share one layout) and check what is accepted. Return the decoder's result. */
static int
check_route_as(uint8_t ftype, const pn_frame_t *f)
{
    pn_frame_route_t m, m2;
    const char *why = NULL;
    char again[PN_ERROR_REASON_MAX + 1];

    int rc = pn_frame_route_decode(ftype, f->payload, f->len, &m, &why);
    if (rc != PN_OK) {
        FUZZ_ASSERT(rc == PN_ERR && why != NULL);
        return rc;
    }
    FUZZ_ASSERT(f->len >= 4 && m.id != 0);
    FUZZ_ASSERT(ftype == PN_FT_ROUTE_ADD ? m.type >= 1 && m.type <= 4 : m.type == 0);
    FUZZ_ASSERT(m.online <= 1);
    size_t hl = strlen(m.host), gl = strlen(m.group), kl = strlen(m.group_key);
    size_t rl = strlen(m.reason);
    FUZZ_ASSERT(hl <= PN_ROUTE_HOST_MAX && printable(m.host, hl));
    FUZZ_ASSERT(gl <= PN_ROUTE_GROUP_MAX && printable(m.group, gl));
    FUZZ_ASSERT(kl <= PN_ROUTE_GROUP_KEY_MAX && rl <= PN_ERROR_REASON_MAX);
    FUZZ_ASSERT(rl + hl + gl + kl <= f->len);
    if (ftype != PN_FT_ROUTE_ADD)
        FUZZ_ASSERT(gl == 0 && kl == 0);
    if (ftype != PN_FT_ROUTE_ADD && ftype != PN_FT_ROUTE_OK)
        FUZZ_ASSERT(hl == 0 && m.port == 0);
    if (ftype != PN_FT_ROUTE_FAIL)
        FUZZ_ASSERT(rl == 0 && m.code == 0);
    if (ftype != PN_FT_ROUTE_ADD && ftype != PN_FT_ROUTE_STATE)
        FUZZ_ASSERT(m.online == 1);
    FUZZ_ASSERT(pn_frame_route_fail_name(m.code) != NULL);
    /* The sanitised REASON is a fixed point of the sanitiser (the ERROR path). */
    uint8_t *e = malloc(2 + rl);
    uint16_t code;
    FUZZ_ASSERT(pn_error_encode(m.code, m.reason, e, 2 + rl) == 2 + rl);
    FUZZ_ASSERT(pn_error_decode(e, 2 + rl, &code, again, &why) == PN_OK);
    FUZZ_ASSERT(strcmp(again, m.reason) == 0);
    free(e);

    /* Round trip through an exact-size buffer; the encoding is canonical. */
    uint8_t *big = malloc(1024);
    size_t n = pn_frame_route_encode(ftype, &m, big, 1024);
    FUZZ_ASSERT(n >= 4 && n < 1024);
    uint8_t *exact = malloc(n);
    FUZZ_ASSERT(pn_frame_route_encode(ftype, &m, exact, n) == n);
    FUZZ_ASSERT(memcmp(exact, big, n) == 0);
    FUZZ_ASSERT(pn_frame_route_encode(ftype, &m, exact, n - 1) == 0);
    why = NULL;
    FUZZ_ASSERT(pn_frame_route_decode(ftype, exact, n, &m2, &why) == PN_OK);
    FUZZ_ASSERT(route_same(&m, &m2));
    FUZZ_ASSERT(pn_frame_route_encode(ftype, &m2, big, 1024) == n);
    FUZZ_ASSERT(memcmp(exact, big, n) == 0);
    free(exact);
    free(big);
    return rc;
}

static void
check_route(const pn_frame_t *f, int checked)
{
    walk_tlvs(f->payload + (f->len >= 4 ? 4 : f->len), f->len >= 4 ? f->len - 4 : 0);
    for (uint8_t t = PN_FT_ROUTE_ADD; t <= PN_FT_ROUTE_STATE; t++) {
        int rc = check_route_as(t, f);
        if (t == f->type && rc == PN_OK)
            FUZZ_ASSERT(checked == PN_OK);
    }
    /* Never a route frame type. */
    pn_frame_route_t m;
    FUZZ_ASSERT(pn_frame_route_decode(PN_FT_HELLO, f->payload, f->len, &m, NULL) == PN_ERR);
}

static void
check_data_hello(const pn_frame_t *f, int checked)
{
    const uint8_t *id = NULL, *proof = NULL;
    const char *why = NULL;
    uint8_t msg[PN_PROOF_MSG_LEN];

    int rc = pn_data_hello_decode(f->payload, f->len, &id, &proof, &why);
    FUZZ_ASSERT((rc == PN_OK) == (checked == PN_OK));
    if (rc != PN_OK) {
        FUZZ_ASSERT(why != NULL);
        return;
    }
    FUZZ_ASSERT(id == f->payload && proof == f->payload + PN_CONN_ID_LEN);
    pn_proof_msg(id, msg);
    FUZZ_ASSERT(memcmp(msg + PN_PROOF_LABEL_LEN, id, PN_CONN_ID_LEN) == 0);
    uint8_t *out = malloc(PN_DATA_HELLO_LEN);
    FUZZ_ASSERT(pn_data_hello_encode(id, proof, out, PN_DATA_HELLO_LEN) == PN_DATA_HELLO_LEN);
    FUZZ_ASSERT(memcmp(out, f->payload, PN_DATA_HELLO_LEN) == 0);
    FUZZ_ASSERT(pn_data_hello_encode(id, proof, out, PN_DATA_HELLO_LEN - 1) == 0);
    free(out);
}

/* Check one decoded frame <f> whose <used> bytes start at <in>. */
static void
check_frame(const uint8_t *in, const pn_frame_t *f, size_t used)
{
    const char *why = NULL;
    int checked = pn_frame_check(f, &why);
    FUZZ_ASSERT(checked == PN_OK || (checked == PN_ERR && why != NULL));
    FUZZ_ASSERT(pn_frame_type_name(f->type) != NULL);

    switch (f->type) {
    case PN_FT_HELLO:
        FUZZ_ASSERT(checked == PN_OK);
        check_hello(f);
        break;
    case PN_FT_TCP:
    case PN_FT_UDP:
        check_signal(f, checked);
        break;
    case PN_FT_ERROR:
        check_error(f, checked);
        break;
    case PN_FT_DATA_HELLO:
        check_data_hello(f, checked);
        break;
    case PN_FT_ROUTE_ADD:
    case PN_FT_ROUTE_OK:
    case PN_FT_ROUTE_FAIL:
    case PN_FT_ROUTE_DEL:
    case PN_FT_ROUTE_STATE:
        check_route(f, checked);
        break;
    case PN_FT_PING:
    case PN_FT_PONG:
    case PN_FT_FLUSH:
    case PN_FT_VERIFY:
    case PN_FT_DATA_OK:
        break;
    default:
        FUZZ_ASSERT(checked == PN_ERR);
        break;
    }

    /* The header has no free bits once decoded (reserved byte 0, version 1), so
     * re-encoding must give back exactly the bytes read. */
    uint8_t *out = malloc(used);
    FUZZ_ASSERT(pn_frame_encode(out, used, f->type, f->flags, f->stream, f->payload, f->len) ==
                used);
    FUZZ_ASSERT(memcmp(out, in, used) == 0);
    FUZZ_ASSERT(pn_frame_encode(out, used - 1, f->type, f->flags, f->stream, f->payload,
                                f->len) == 0);
    free(out);
}

static void
check_result(const uint8_t *data, size_t size)
{
    uint8_t code = 0, code2 = 0;
    char reason[PN_RESULT_REASON_MAX + 1], reason2[PN_RESULT_REASON_MAX + 1];
    size_t have = 0, need = 0, last = 0, need2 = 0;
    const char *why = NULL;
    int rc;
    /* Read as the entrance does: never more than the decoder asks for. */
    while ((rc = pn_result_decode(data, have, &code, reason, &need, &why)) == PN_AGAIN) {
        FUZZ_ASSERT(need > have && need >= last && need <= PN_RESULT_MAX);
        last = need;
        if (need > size)
            return;
        have = need;
    }
    if (rc == PN_ERR) {
        FUZZ_ASSERT(why != NULL);
        return;
    }
    FUZZ_ASSERT(rc == PN_OK && have == need && have >= PN_FRAME_HDR + 1);
    pn_frame_t f;
    size_t used = 0;
    FUZZ_ASSERT(pn_frame_decode(data, have, &f, &used, &why) == PN_OK && used == have);
    FUZZ_ASSERT(f.type == PN_FT_RESULT && f.stream == 0 && f.len >= 1 && f.payload[0] == code);
    size_t rl = strlen(reason);
    FUZZ_ASSERT(rl <= f.len - 1);
    uint8_t *out = malloc(PN_FRAME_HDR + 1 + rl);
    size_t n = pn_result_encode(code, reason, out, PN_FRAME_HDR + 1 + rl);
    FUZZ_ASSERT(n == PN_FRAME_HDR + 1 + rl);
    FUZZ_ASSERT(pn_result_encode(code, reason, out, n - 1) == 0);
    FUZZ_ASSERT(pn_result_decode(out, n, &code2, reason2, &need2, &why) == PN_OK);
    FUZZ_ASSERT(code2 == code && strcmp(reason, reason2) == 0);
    if (rl == f.len - 1 && memcmp(reason, f.payload + 1, rl) == 0)
        /* The same bytes but the flags, which the encoder sends as 0. */
        FUZZ_ASSERT(memcmp(out + PN_FRAME_HDR, f.payload, n - PN_FRAME_HDR) == 0 &&
                    memcmp(out, data, 2) == 0 && memcmp(out + 3, data + 3, PN_FRAME_HDR - 3) == 0);
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    walk_tlvs(data, size);
    check_result(data, size);
    for (;;) {
        const uint8_t *in = data + off;
        size_t avail = size - off, used = 0;
        pn_frame_t f;
        const char *why = NULL;
        int rc = pn_frame_decode(in, avail, &f, &used, &why);
        if (rc == PN_AGAIN) {
            FUZZ_ASSERT(avail < PN_FRAME_HDR || avail - PN_FRAME_HDR < be32(in + 8));
            break;
        }
        if (rc == PN_ERR) {
            FUZZ_ASSERT(why != NULL);
            break;
        }
        FUZZ_ASSERT(rc == PN_OK);
        FUZZ_ASSERT(used == PN_FRAME_HDR + (size_t)f.len && used <= avail);
        FUZZ_ASSERT(f.len <= PN_FRAME_MAX_PAYLOAD && f.payload == in + PN_FRAME_HDR);
        /* One byte short of the frame is "call again", never an error. */
        pn_frame_t g;
        size_t gused = 0;
        FUZZ_ASSERT(pn_frame_decode(in, used - 1, &g, &gused, &why) == PN_AGAIN);
        check_frame(in, &f, used);
        off += used;
    }
    return 0;
}
