/* core/xprt_mem.c: the in-memory transport pair (xprt_mem.h). */
#include "core/xprt_mem.h"
#include "core/mem.h"

#include <stdlib.h>

#include <string.h>

typedef struct xprt_mem {
    pn_xprt_t base;             /* first: a pn_xprt_t * is an xprt_mem_t * */
    struct xprt_mem *peer;      /* borrowed: the other end, NULL once it is freed */
    unsigned char *rx;          /* owned: bytes the peer wrote, not read yet, from rx_off */
    size_t rx_off, rx_len, window;
    size_t max_io;              /* bound on one read or write, 0 for none */
    int rx_eof;                 /* the peer shut its writing side */
    int wr_shut;                /* this end shut its writing side */
} xprt_mem_t;

static size_t
io_len(const xprt_mem_t *m, size_t len)
{
    return m->max_io != 0 && len > m->max_io ? m->max_io : len;
}

static ssize_t
mem_read(pn_xprt_t *x, void *buf, size_t len)
{
    xprt_mem_t *m = (xprt_mem_t *)x;
    if (m->rx_len == 0) {
        if (m->rx_eof || m->peer == NULL)
            return 0;
        x->want = EV_RD;
        return PN_AGAIN;
    }
    size_t n = io_len(m, len < m->rx_len ? len : m->rx_len);
    memcpy(buf, m->rx + m->rx_off, n);
    m->rx_off += n;             /* no move of the rest: a read in parts copies each byte once */
    m->rx_len -= n;
    if (m->rx_len == 0)
        m->rx_off = 0;
    if (m->peer != NULL)
        pn_xprt_wake(&m->peer->base);       /* room for its writes */
    return (ssize_t)n;
}

static ssize_t
mem_write(pn_xprt_t *x, const void *buf, size_t len)
{
    xprt_mem_t *m = (xprt_mem_t *)x;
    if (m->wr_shut || m->peer == NULL) {
        x->err = m->wr_shut ? "write after shutdown" : "peer gone";
        return PN_ERR;
    }
    xprt_mem_t *p = m->peer;
    size_t room = p->window - p->rx_len;
    if (room == 0) {
        x->want = EV_WR;
        return PN_AGAIN;
    }
    size_t n = io_len(m, len < room ? len : room);
    if (p->rx_off + p->rx_len + n > p->window) {   /* the unread bytes to the front */
        memmove(p->rx, p->rx + p->rx_off, p->rx_len);
        p->rx_off = 0;
    }
    memcpy(p->rx + p->rx_off + p->rx_len, buf, n);
    p->rx_len += n;
    pn_xprt_wake(&p->base);                 /* bytes for its reads */
    return (ssize_t)n;
}

static int
mem_shutdown_wr(pn_xprt_t *x)
{
    xprt_mem_t *m = (xprt_mem_t *)x;
    if (m->wr_shut)
        return PN_OK;
    m->wr_shut = 1;
    if (m->peer != NULL) {
        m->peer->rx_eof = 1;
        pn_xprt_wake(&m->peer->base);       /* end of stream for its reads */
    }
    return PN_OK;
}

static size_t
mem_pending(pn_xprt_t *x)
{
    return 0;                               /* readiness says it all: level-triggered */
}

static int
mem_ready(pn_xprt_t *x)
{
    xprt_mem_t *m = (xprt_mem_t *)x;
    int r = 0;
    if (m->rx_len > 0 || m->rx_eof || m->peer == NULL)
        r |= EV_RD;
    if (m->wr_shut || m->peer == NULL || m->peer->rx_len < m->peer->window)
        r |= EV_WR;
    return r;
}

static int
mem_peek(pn_xprt_t *x)
{
    xprt_mem_t *m = (xprt_mem_t *)x;
    if (m->rx_len > 0)
        return 1;
    return m->rx_eof || m->peer == NULL ? 0 : PN_AGAIN;
}

static void
mem_free(pn_xprt_t *x)
{
    xprt_mem_t *m = (xprt_mem_t *)x;
    if (m->peer != NULL) {
        m->peer->peer = NULL;
        pn_xprt_wake(&m->peer->base);       /* end of stream, and writes fail */
    }
    free(m->rx);
    free(m);
}

static const struct pn_xprt_ops mem_ops = {
    .name = "mem",
    .read = mem_read,
    .write = mem_write,
    .shutdown_wr = mem_shutdown_wr,
    .pending = mem_pending,
    .watch = pn_xprt_wake_watch,
    .ready = mem_ready,
    .peek = mem_peek,
    .free = mem_free,
};

/* The same, claiming zero copy: filled from mem_ops on first use. */
static struct pn_xprt_ops mem_zc_ops;

void
pn_xprt_mem_pair(pn_xprt_t *x[2], size_t window, int zero_copy)
{
    xprt_mem_t *m[2];
    if (mem_zc_ops.name == NULL) {
        mem_zc_ops = mem_ops;
        mem_zc_ops.name = "mem-zc";
        mem_zc_ops.zero_copy = 1;
    }
    for (int i = 0; i < 2; i++) {
        m[i] = xcalloc(sizeof(*m[i]));
        m[i]->base.ops = zero_copy ? &mem_zc_ops : &mem_ops;
        m[i]->base.fd = -1;
        m[i]->window = window;
        m[i]->rx = xmalloc(window);
    }
    m[0]->peer = m[1];
    m[1]->peer = m[0];
    x[0] = &m[0]->base;
    x[1] = &m[1]->base;
}

void
pn_xprt_mem_set_max_io(pn_xprt_t *x, size_t n)
{
    ((xprt_mem_t *)x)->max_io = n;
}

size_t
pn_xprt_mem_unread(const pn_xprt_t *x)
{
    return ((const xprt_mem_t *)x)->rx_len;
}
