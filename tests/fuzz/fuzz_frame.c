/* tests/fuzz/fuzz_frame.c: the tunnel frame codec (src/tunnel/frame.h) on a
 * byte stream a peer chose, as the control channel reads it.
 *
 * The input is decoded frame after frame until the codec asks for more bytes or
 * refuses; every frame goes through pn_frame_check and the payload decoder of
 * its type. Invariants checked besides memory safety:
 *   - a decoded frame lies inside the input and re-encodes to the same bytes;
 *   - PN_AGAIN only when the bytes really are short of a whole frame;
 *   - pn_frame_check and the payload decoders agree on what is well formed;
 *   - TCP/UDP: the SRC/DST address TLVs re-encode and decode unchanged;
 *   - HELLO: decode, encode, decode gives the same struct;
 *   - ERROR: the sanitised reason is a fixed point (encode + decode leaves it
 *     unchanged), which holds only when it is valid, log-safe UTF-8;
 *   - pn_tlv_next never steps outside [p, end). */
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
    uint8_t *big = malloc(64);
    size_t n = pn_hello_encode(&h, big, 64);
    FUZZ_ASSERT(n > 0 && n <= 64);
    uint8_t *exact = malloc(n);
    FUZZ_ASSERT(pn_hello_encode(&h, exact, n) == n);
    FUZZ_ASSERT(memcmp(exact, big, n) == 0);
    FUZZ_ASSERT(pn_hello_encode(&h, exact, n - 1) == 0);
    why = NULL;
    FUZZ_ASSERT(pn_hello_decode(exact, n, &h2, &why) == PN_OK);
    FUZZ_ASSERT(h.flow == h2.flow && h.tls == h2.tls && h.proto == h2.proto &&
                h.max == h2.max && h.interval_ms == h2.interval_ms);
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
    FUZZ_ASSERT(pn_err_code_name(code) != NULL);
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

static void
check_signal(const pn_frame_t *f, int checked)
{
    const uint8_t *id = NULL, *id2 = NULL;
    const char *why = NULL;
    char hex[2 * PN_CONN_ID_LEN + 1];
    pn_sig_addr_t src, dst, src2, dst2;

    if (f->len >= PN_CONN_ID_LEN)
        walk_tlvs(f->payload + PN_CONN_ID_LEN, f->len - PN_CONN_ID_LEN);
    int rc = pn_signal_decode_addrs(f->payload, f->len, &id, &src, &dst, &why);
    FUZZ_ASSERT(pn_signal_decode(f->payload, f->len, &id2, &why) == rc);
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    walk_tlvs(data, size);
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
