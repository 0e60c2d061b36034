/* tests/fuzz/fuzz_handshake.c: what the tunnel server's greeter (src/tunnel/
 * open.c) reads from a connection before any authentication: the 4-byte
 * preamble, then, on a data connection, exactly one DATA_HELLO frame (12-byte
 * header + 48-byte payload) read into a buffer of that size.
 *
 * The greeter's steps are replayed on the input: pn_preamble_decode on the
 * first 4 bytes, then pn_frame_decode over the next 60 (each copied into an
 * exact-size heap buffer, as the greeter's step buffer is exact) and
 * pn_data_hello_decode on the payload. Shorter inputs replay a connection that
 * stops early: decoding what arrived must ask for more or refuse, never accept. */
#include "fuzz.h"
#include "tunnel/frame.h"

#define HELLO_FRAME_LEN (PN_FRAME_HDR + PN_DATA_HELLO_LEN)

static void
check_data_hello(const uint8_t *p, size_t n)
{
    uint8_t *buf = fuzz_dup(p, n);
    pn_frame_t f;
    size_t used = 0;
    const char *why = NULL;

    int rc = pn_frame_decode(buf, n, &f, &used, &why);
    if (n < HELLO_FRAME_LEN) {
        /* A frame that fits in fewer bytes is no DATA_HELLO: the greeter only
         * decodes once all 60 bytes are in. Still, nothing may be read past <n>. */
        FUZZ_ASSERT(rc != PN_OK || (used <= n && f.len < PN_DATA_HELLO_LEN));
        free(buf);
        return;
    }
    if (rc != PN_OK) {
        FUZZ_ASSERT(rc == PN_AGAIN || why != NULL);
        free(buf);
        return;
    }
    FUZZ_ASSERT(used <= n && f.payload == buf + PN_FRAME_HDR);
    if (f.type == PN_FT_DATA_HELLO) {
        const uint8_t *id = NULL, *proof = NULL;
        int check = pn_frame_check(&f, &why);
        int dec = pn_data_hello_decode(f.payload, f.len, &id, &proof, &why);
        FUZZ_ASSERT((check == PN_OK) == (dec == PN_OK));
        FUZZ_ASSERT((dec == PN_OK) == (f.len == PN_DATA_HELLO_LEN));
        if (dec == PN_OK) {
            uint8_t msg[PN_PROOF_MSG_LEN];
            char hex[2 * PN_CONN_ID_LEN + 1];
            FUZZ_ASSERT(id == buf + PN_FRAME_HDR && proof == id + PN_CONN_ID_LEN);
            FUZZ_ASSERT(proof + PN_PROOF_LEN == buf + HELLO_FRAME_LEN);
            pn_proof_msg(id, msg);
            pn_conn_id_hex(id, hex);
            FUZZ_ASSERT(strlen(hex) == 2 * PN_CONN_ID_LEN);
        }
    }
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PN_PREAMBLE_LEN)
        return 0;

    uint8_t *pre = fuzz_dup(data, PN_PREAMBLE_LEN);
    uint8_t kind = 0;
    const char *why = NULL;
    int rc = pn_preamble_decode(pre, &kind, &why);
    free(pre);
    if (rc != PN_OK) {
        FUZZ_ASSERT(rc == PN_ERR && why != NULL);
        return 0;
    }
    FUZZ_ASSERT(kind == PN_KIND_CONTROL || kind == PN_KIND_DATA);
    uint8_t again[PN_PREAMBLE_LEN];
    pn_preamble_encode(again, kind);
    FUZZ_ASSERT(memcmp(again, data, PN_PREAMBLE_LEN) == 0);
    if (kind != PN_KIND_DATA)
        return 0;               /* a control connection goes on with TLS, not frames */

    size_t rest = size - PN_PREAMBLE_LEN;
    check_data_hello(data + PN_PREAMBLE_LEN, rest < HELLO_FRAME_LEN ? rest : HELLO_FRAME_LEN);
    return 0;
}
