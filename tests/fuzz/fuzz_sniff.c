/* tests/fuzz/fuzz_sniff.c: first-bytes protocol recognition (src/route/sniff.h)
 * and the "block=" parameter parser.
 *
 * pn_sniff runs on every prefix 1..n of the input, since the caller judges on
 * whatever its first read returned. Short prefixes are copied into exact-size
 * heap buffers so a read past <n> hits an ASan redzone; longer ones are judged
 * in place (libFuzzer's own copy of the input is exact-size). Invariant: the
 * prefixes that are recognised form one run from length 1 and all get the
 * same verdict, so a short first read never hides or changes what the full
 * bytes say: once a prefix is OTHER, every longer one is OTHER too.
 *
 * pn_sniff_parse_block runs on the input as a C string and is checked against
 * its definition: one to three distinct digits among 1, 2, 3. */
#include "fuzz.h"
#include "route/sniff.h"
#include "core/err.h"

#define EXACT_MAX 64    /* prefixes up to this length get their own buffer */

static void
fuzz_sniff(const uint8_t *data, size_t size)
{
    enum pn_sniff first = PN_SNIFF_OTHER;
    int other_seen = 0;

    for (size_t n = 1; n <= size; n++) {
        enum pn_sniff r;
        if (n <= EXACT_MAX) {
            uint8_t *p = fuzz_dup(data, n);
            r = pn_sniff(p, n);
            free(p);
        } else {
            r = pn_sniff(data, n);
        }
        FUZZ_ASSERT(r == PN_SNIFF_OTHER || r == PN_SNIFF_SOCKS || r == PN_SNIFF_HTTP ||
                    r == PN_SNIFF_TLS);
        if (n == 1)
            first = r;
        if (r == PN_SNIFF_OTHER)
            other_seen = 1;
        else
            FUZZ_ASSERT(!other_seen && r == first);
    }
}

static void
fuzz_block(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    unsigned mask = 0xdeadbeef, want = 0;
    int ok = s[0] != '\0';

    for (const char *c = s; ok && *c; c++) {
        unsigned bit = *c >= '1' && *c <= '3' ? 1u << (*c - '0') : 0;
        if (bit == 0 || (want & bit))
            ok = 0;
        want |= bit;
    }
    int rc = pn_sniff_parse_block(s, &mask);
    FUZZ_ASSERT(rc == PN_OK || rc == PN_ERR);
    FUZZ_ASSERT((rc == PN_OK) == ok);
    if (ok)
        FUZZ_ASSERT(mask == want && (mask & ~0x0eu) == 0);
    free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_sniff(data, size);
    fuzz_block(data, size);
    return 0;
}
