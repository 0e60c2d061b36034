/* core/buf.c: the buffer free list. One loop per thread, so the list is
 * thread-local and needs no lock. */
#include "core/buf.h"
#include "core/mem.h"

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
        if (p[i] != '\n')
            continue;
        if (p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}
