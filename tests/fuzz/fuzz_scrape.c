/* tests/fuzz/fuzz_scrape.c: the request head parser of the metrics= listener
 * (src/net/scrape.h).
 *
 * The listener parses everything read so far after each read, so the parser
 * runs on every prefix of the input (up to PN_SCRAPE_HEAD_MAX bytes, each in an
 * exact-size heap copy so that a read past <n> hits an ASan redzone).
 * Invariants:
 *   - the code is PN_OK, PN_AGAIN or PN_ERR; PN_AGAIN only under
 *     PN_SCRAPE_HEAD_MAX bytes;
 *   - PN_OK gives a path that starts with '/', holds no '?' and is shorter
 *     than PN_SCRAPE_PATH_MAX, found right after the first space of the input
 *     (offset 4 for GET, 5 for HEAD; any other method is parsed too, to be
 *     answered 405);
 *   - a verdict is final: once a prefix gives PN_OK or PN_ERR, every longer
 *     prefix gives the same (with the same method and path). */
#include "fuzz.h"
#include "core/err.h"
#include "net/scrape.h"

struct verdict {
    int rc;
    enum pn_scrape_method m;
    char path[PN_SCRAPE_PATH_MAX];
};

static void
parse(const uint8_t *data, size_t n, struct verdict *v)
{
    char *p = malloc(n ? n : 1);
    memcpy(p, data, n);
    v->rc = pn_scrape_head_parse(p, n, &v->m, v->path);
    free(p);
}

static void
check_one(const uint8_t *data, size_t n, const struct verdict *v)
{
    FUZZ_ASSERT(v->rc == PN_OK || v->rc == PN_AGAIN || v->rc == PN_ERR);
    if (v->rc == PN_AGAIN)
        FUZZ_ASSERT(n < PN_SCRAPE_HEAD_MAX);
    if (v->rc != PN_OK)
        return;
    size_t len = strnlen(v->path, PN_SCRAPE_PATH_MAX);
    FUZZ_ASSERT(len < PN_SCRAPE_PATH_MAX && len > 0 && v->path[0] == '/');
    FUZZ_ASSERT(strchr(v->path, '?') == NULL);
    const uint8_t *sp = memchr(data, ' ', n);
    FUZZ_ASSERT(sp != NULL);
    size_t at = (size_t)(sp - data) + 1;
    FUZZ_ASSERT(n > at + len && memcmp(data + at, v->path, len) == 0);
    if (v->m == PN_SCRAPE_GET)
        FUZZ_ASSERT(at == 4 && memcmp(data, "GET ", 4) == 0);
    if (v->m == PN_SCRAPE_HEAD)
        FUZZ_ASSERT(at == 5 && memcmp(data, "HEAD ", 5) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct verdict first, v;
    int decided = 0;
    size_t end = size < PN_SCRAPE_HEAD_MAX + 8 ? size : PN_SCRAPE_HEAD_MAX + 8;
    for (size_t k = 0; k <= end; k++) {
        parse(data, k, &v);
        check_one(data, k, &v);
        if (v.rc == PN_AGAIN) {
            FUZZ_ASSERT(!decided);
            continue;
        }
        if (!decided) {
            first = v;
            decided = 1;
            continue;
        }
        FUZZ_ASSERT(v.rc == first.rc);
        if (v.rc == PN_OK)
            FUZZ_ASSERT(v.m == first.m && strcmp(v.path, first.path) == 0);
    }
    return 0;
}
