/* tests/fuzz/fuzz_hproxy.c: the HTTP proxy request head of route/hproxy.h.
 *
 * Invariants besides memory safety: an accepted head ends in CRLFCRLF within
 * the input and HPROXY_HEAD_MAX; its host is non-empty without '@' or '/';
 * the rewritten head fits HPROXY_OUT_MAX, ends in CRLFCRLF, names the
 * origin-form target and carries no Proxy-Authorization; the base64 decoder
 * never writes past its buffer. */
#include "fuzz.h"
#include "route/hproxy.h"

#include <strings.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[HPROXY_OUT_MAX];
    hproxy_req_t r;
    size_t n;
    int rc = hproxy_parse(data, size, &r, out, &n);
    FUZZ_ASSERT(rc == PN_OK || rc == PN_AGAIN || rc == PN_ERR);
    if (rc == PN_AGAIN)
        FUZZ_ASSERT(size < HPROXY_HEAD_MAX);
    if (rc == PN_OK) {
        FUZZ_ASSERT(r.head_len >= 4 && r.head_len <= size && r.head_len <= HPROXY_HEAD_MAX);
        FUZZ_ASSERT(memcmp(data + r.head_len - 4, "\r\n\r\n", 4) == 0);
        FUZZ_ASSERT(r.host[0] != '\0' && strchr(r.host, '@') == NULL && strchr(r.host, '/') == NULL);
        FUZZ_ASSERT(r.port != 0);
        if (!r.connect) {
            FUZZ_ASSERT(n >= 4 && n <= HPROXY_OUT_MAX);
            FUZZ_ASSERT(memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
            const uint8_t *sp = memchr(out, ' ', n);
            FUZZ_ASSERT(sp != NULL && sp[1] == '/');
            /* The credentials never go on; another header whose name only starts
             * the same ("Proxy-AuthorizationB") is not them and may. */
            for (size_t i = 0; i + 21 <= n; i++)
                FUZZ_ASSERT(!(out[i] == '\n' && strncasecmp((const char *)out + i + 1,
                                                            "Proxy-Authorization:", 20) == 0));
        }
    }
    char dec[64];
    int k = hproxy_b64_decode((const char *)data, size, dec, sizeof(dec));
    FUZZ_ASSERT(k == -1 || (k >= 0 && (size_t)k < sizeof(dec) && dec[k] == '\0'));
    return 0;
}
