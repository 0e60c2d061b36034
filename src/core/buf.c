/* core/buf.c: the buffer free list. One loop per thread, so the list is
 * thread-local and needs no lock. */
#include "core/buf.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

#define FREE_KEEP 64            /* free buffers kept for reuse */

static __thread pn_buf_t *free_list;
static __thread size_t free_count;
static __thread size_t in_use;
static __thread size_t limit;

pn_buf_t *
pn_buf_get(void)
{
    pn_buf_t *b;
    if (limit != 0 && in_use >= limit)
        return NULL;
    if (free_list != NULL) {
        b = free_list;
        free_list = b->next;
        free_count--;
    } else {
        b = xmalloc(sizeof(*b));
    }
    b->next = NULL;
    b->start = b->end = 0;
    in_use++;
    return b;
}

void
pn_buf_put_(pn_buf_t *b)
{
    if (b == NULL)
        return;
    in_use--;
    if (free_count >= FREE_KEEP) {
        free(b);
        return;
    }
    b->next = free_list;
    free_list = b;
    free_count++;
}

void
pn_buf_set_limit(size_t max_in_use)
{
    limit = max_in_use;
}

size_t
pn_buf_in_use(void)
{
    return in_use;
}

void
pn_buf_drain(void)
{
    while (free_list != NULL) {
        pn_buf_t *b = free_list;
        free_list = b->next;
        free(b);
    }
    free_count = 0;
}

size_t
pn_head_end(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        const uint8_t *lf = memchr(p + i, '\n', n - 1 - i);    /* from line to line */
        if (lf == NULL)
            return 0;
        i = (size_t)(lf - p);
        if (p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

void
pn_bq_append(pn_bq_t *q, const void *data, size_t n)
{
    /* Move the live bytes to the front only when the taken prefix is at least
     * as large as they are: each byte moves O(1) times on average. */
    if (q->off > 0 && q->len + n > q->cap && q->off >= q->len - q->off) {
        memmove(q->b, q->b + q->off, q->len - q->off);
        q->len -= q->off;
        q->off = 0;
    }
    if (q->len + n > q->cap) {
        size_t cap = q->cap != 0 ? q->cap : 16384;
        while (cap < q->len + n)
            cap *= 2;
        q->b = xrealloc(q->b, cap);
        q->cap = cap;
    }
    memcpy(q->b + q->len, data, n);
    q->len += n;
}

size_t
pn_bq_take(pn_bq_t *q, void *out, size_t n)
{
    if (n > q->len - q->off)
        n = q->len - q->off;
    if (n == 0)
        return 0;
    memcpy(out, q->b + q->off, n);
    q->off += n;
    if (q->off == q->len)
        pn_bq_clear(q);
    return n;
}

void
pn_bq_clear(pn_bq_t *q)
{
    free(q->b);
    *q = (pn_bq_t){ 0 };
}
