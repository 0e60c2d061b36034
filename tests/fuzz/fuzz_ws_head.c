/* tests/fuzz/fuzz_ws_head.c: the WebSocket opening heads (src/tunnel/ws_head.h).
 *
 * The accepting end parses everything received so far after each read, so the
 * request parser runs on every prefix up to PREFIX_ALL bytes and on the whole
 * input, each copied into an exact-size heap buffer (a read past <n> hits an
 * ASan redzone); the response parser likewise, with the accept key of the
 * RFC's sample. Invariants:
 *   - the code is PN_OK, PN_AGAIN or PN_ERR; PN_ERR comes with a status of
 *     400, 404, 405 or 426 and a why (request) or a why (response);
 *   - PN_OK: used is within the input, ends in CRLF CRLF, and the key is 24
 *     base64 characters ending "==" found in the input;
 *   - a verdict is final: a prefix that is not PN_AGAIN gives what the whole
 *     input gives (only bytes seen decide), and PN_OK on a prefix gives the
 *     same used;
 *   - TUN_WS_HEAD_MAX bytes or more never give PN_AGAIN. */
#include "fuzz.h"
#include "core/err.h"
#include "tunnel/ws_head.h"

#define PREFIX_ALL 512
#define ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int
req(const uint8_t *data, size_t n, tun_ws_req_t *r)
{
    uint8_t *p = fuzz_dup(data, n);
    int rc = tun_ws_req_parse(p, n, "/t", r);
    FUZZ_ASSERT(rc == PN_OK || rc == PN_AGAIN || rc == PN_ERR);
    if (rc == PN_ERR)
        FUZZ_ASSERT(r->why != NULL && (r->status == 400 || r->status == 404 ||
                                       r->status == 405 || r->status == 426));
    if (rc == PN_OK) {
        FUZZ_ASSERT(r->used >= 4 && r->used <= n && memcmp(p + r->used - 4, "\r\n\r\n", 4) == 0);
        FUZZ_ASSERT(strlen(r->key) == TUN_WS_KEY_LEN && r->key[22] == '=' && r->key[23] == '=');
        FUZZ_ASSERT(memmem(p, r->used, r->key, TUN_WS_KEY_LEN) != NULL);
    }
    if (n >= TUN_WS_HEAD_MAX)
        FUZZ_ASSERT(rc != PN_AGAIN);
    free(p);
    return rc;
}

static int
resp(const uint8_t *data, size_t n, size_t *used)
{
    uint8_t *p = fuzz_dup(data, n);
    const char *why = NULL;
    int status = -1;
    *used = 0;
    int rc = tun_ws_resp_parse(p, n, ACCEPT, used, &status, &why);
    FUZZ_ASSERT(rc == PN_OK || rc == PN_AGAIN || rc == PN_ERR);
    FUZZ_ASSERT(status >= 0 && status <= 599);
    if (rc == PN_ERR)
        FUZZ_ASSERT(why != NULL);
    if (rc == PN_OK)
        FUZZ_ASSERT(status == 101 && *used >= 4 && *used <= n &&
                    memcmp(p + *used - 4, "\r\n\r\n", 4) == 0);
    if (n >= TUN_WS_HEAD_MAX)
        FUZZ_ASSERT(rc != PN_AGAIN);
    free(p);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tun_ws_req_t whole, part;
    size_t wused, pused;
    int wrc = req(data, size, &whole);
    int wresp = resp(data, size, &wused);
    for (size_t n = 0; n < size && n <= PREFIX_ALL; n++) {
        int rc = req(data, n, &part);
        if (rc != PN_AGAIN) {
            FUZZ_ASSERT(rc == wrc);
            if (rc == PN_OK)
                FUZZ_ASSERT(part.used == whole.used && strcmp(part.key, whole.key) == 0);
            else
                FUZZ_ASSERT(part.status == whole.status);
        }
        rc = resp(data, n, &pused);
        if (rc != PN_AGAIN) {
            FUZZ_ASSERT(rc == wresp);
            if (rc == PN_OK)
                FUZZ_ASSERT(pused == wused);
        }
    }
    return 0;
}
