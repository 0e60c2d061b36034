/* tests/fuzz/fuzz_sni.c: the server name of a TLS ClientHello (src/route/sni.h).
 *
 * The caller parses everything received so far after each read, so the
 * parser runs on prefixes of the input as well as on the whole of it: every
 * prefix up to PREFIX_ALL bytes, and a spread of longer ones, each copied into
 * an exact-size heap buffer so that a read past <n> hits an ASan redzone.
 * Invariants:
 *   - the code is PN_OK, PN_AGAIN or PN_ERR; PN_ERR comes with a non-empty
 *     why, PN_AGAIN and PN_ERR with an empty name;
 *   - PN_OK gives "" or a valid lower-case DNS name (checked here against
 *     its own definition: 1-253 bytes, labels of [a-z0-9-] of 1-63 bytes not
 *     starting or ending with '-'), found in the input up to case when
 *     the ClientHello lies in one record;
 *   - a verdict is final: a prefix gives PN_AGAIN or exactly what the whole
 *     input gives (same code, name and why), since only bytes already seen
 *     decide;
 *   - PN_SNI_READ_MAX bytes or more never give PN_AGAIN (the caller stops
 *     reading there). */
#include "fuzz.h"
#include "route/sni.h"
#include "core/err.h"

#define PREFIX_ALL 1024     /* prefixes up to this length are all tried */
#define PREFIX_SPREAD 64    /* how many longer ones */

#define REC_LEN(p) ((size_t)(p)[3] << 8 | (p)[4])
#define HS_LEN(p) ((size_t)(p)[6] << 16 | (size_t)(p)[7] << 8 | (p)[8])

struct verdict {
    int rc;
    const char *why;
    char name[PN_SNI_MAX + 1];
};

static void
parse(const uint8_t *data, size_t n, struct verdict *v)
{
    uint8_t *p = fuzz_dup(data, n);
    memset(v->name, 'X', sizeof(v->name));
    v->why = NULL;
    v->rc = pn_sni_parse(p, n, v->name, &v->why);
    free(p);
}

static int
name_valid(const char *s)
{
    size_t len = strlen(s), label = 0;
    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
        if (label == 0 && c == '-')
            return 0;
        if (++label > 63)
            return 0;
    }
    return label > 0 && s[len - 1] != '-';
}

static int
lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Nonzero when <name> occurs in <data> up to ASCII case. */
static int
in_input(const uint8_t *data, size_t n, const char *name)
{
    size_t m = strlen(name);
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && lower(data[i + j]) == name[j])
            j++;
        if (j == m)
            return 1;
    }
    return 0;
}

static void
check_one(const uint8_t *data, size_t n, const struct verdict *v)
{
    FUZZ_ASSERT(v->rc == PN_OK || v->rc == PN_AGAIN || v->rc == PN_ERR);
    FUZZ_ASSERT(memchr(v->name, '\0', sizeof(v->name)) != NULL);
    if (v->rc == PN_ERR)
        FUZZ_ASSERT(v->why != NULL && v->why[0] != '\0');
    if (v->rc != PN_OK)
        FUZZ_ASSERT(v->name[0] == '\0');
    if (v->rc == PN_OK && v->name[0] != '\0') {
        FUZZ_ASSERT(name_valid(v->name));
        /* A ClientHello inside its first record holds the name in one piece. */
        if (n >= 9 && HS_LEN(data) + 4 <= REC_LEN(data))
            FUZZ_ASSERT(in_input(data, n, v->name));
    }
    if (n >= PN_SNI_READ_MAX)
        FUZZ_ASSERT(v->rc != PN_AGAIN);
}

static void
check_prefix(const uint8_t *data, size_t k, const struct verdict *whole)
{
    struct verdict v;
    parse(data, k, &v);
    check_one(data, k, &v);
    if (v.rc == PN_AGAIN)
        return;
    FUZZ_ASSERT(v.rc == whole->rc);
    FUZZ_ASSERT(v.why == whole->why);
    FUZZ_ASSERT(strcmp(v.name, whole->name) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct verdict whole;
    parse(data, size, &whole);
    check_one(data, size, &whole);

    size_t all = size < PREFIX_ALL ? size : PREFIX_ALL;
    for (size_t k = 0; k < all; k++)
        check_prefix(data, k, &whole);
    if (size > PREFIX_ALL) {
        size_t step = (size - PREFIX_ALL) / PREFIX_SPREAD + 1;
        for (size_t k = PREFIX_ALL; k < size; k += step)
            check_prefix(data, k, &whole);
        check_prefix(data, size - 1, &whole);
    }
    return 0;
}
