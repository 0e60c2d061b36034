/* tests/fuzz/fuzz.h: what every libFuzzer harness of tests/fuzz/ shares.
 *
 * A harness checks the invariants a parser promises (bounds, round trips,
 * agreement between a checker and a decoder) with FUZZ_ASSERT, which names the
 * broken invariant on stderr and aborts, so libFuzzer records the input as a
 * crash just as it does for a sanitizer report. */
#ifndef PN_FUZZ_H
#define PN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond)                                                                   \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* Return a heap copy of the <size> bytes at <data> followed by a NUL, for the
 * parsers that take C strings; an embedded NUL simply ends the string early.
 * The caller frees it. The copy is exactly size + 1 bytes, so ASan catches a
 * parser reading past the terminator. */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Return a heap copy of exactly <n> bytes of <data> (<n> may be 0), so that a
 * read past the <n> bytes a parser was given lands in an ASan redzone. */
static inline uint8_t *
fuzz_dup(const uint8_t *data, size_t n)
{
    uint8_t *p = malloc(n);         /* ASan gives malloc(0) a zero-byte chunk */
    if (p == NULL && n > 0)
        abort();
    if (n > 0)
        memcpy(p, data, n);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
