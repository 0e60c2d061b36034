/* core/mem.c: aborting allocators and a constant-time compare. */
#include "core/mem.h"

#include <stdio.h>
#include <string.h>

static void
oom(size_t n)
{
    fprintf(stderr, "postern: out of memory allocating %zu bytes\n", n);
    abort();
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *
xcalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *
xstrdup(const char *s)
{
    return s ? xstrndup(s, strlen(s)) : NULL;
}

char *
xstrndup(const char *s, size_t n)
{
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Accumulate the XOR of every byte pair so the loop never exits early: the time
 * taken depends on <n> only, never on where the first difference sits. */
int
pn_memeq_ct(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= x[i] ^ y[i];
    return acc != 0;
}
