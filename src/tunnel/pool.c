/* tunnel/pool.c: idle data connections in FIFO order plus a hash by id. */
#include "tunnel/pool.h"
#include "core/list.h"
#include "core/log.h"
#include "core/mem.h"

#include <string.h>

#define POOL_BUCKETS_MIN 16     /* the hash's first size; it doubles past 2 per bucket */

struct pconn {
    pn_list_t fifo;             /* in tun_pool.fifo, oldest first */
    struct pconn *hnext;        /* bucket chain */
    tun_pool_t *pool;           /* back pointer */
    uint8_t id[PN_CONN_ID_LEN];
    pn_xprt_t *x;               /* owned; watched for its close while idle */
};

struct tun_pool {
    ev_loop_t *loop;            /* borrowed */
    pn_list_t fifo;             /* struct pconn, each owned */
    struct pconn **buckets;     /* owned: nb chains */
    size_t nb;                  /* a power of two */
    size_t n;
};

/* An id's last bytes are random (a hub's ids all start with their session's
 * tag: the first bytes would put them in one chain). */
static size_t
bucket_of(const tun_pool_t *p, const uint8_t *id)
{
    uint32_t h;
    memcpy(&h, id + PN_CONN_ID_LEN - sizeof(h), sizeof(h));
    return h & (p->nb - 1);
}

tun_pool_t *
tun_pool_new(ev_loop_t *loop)
{
    tun_pool_t *p = xcalloc(sizeof(*p));
    p->loop = loop;
    pn_list_init(&p->fifo);
    p->nb = POOL_BUCKETS_MIN;
    p->buckets = xcalloc(p->nb * sizeof(*p->buckets));
    return p;
}

/* Double the chains when they average more than two entries. */
static void
pool_grow(tun_pool_t *p)
{
    if (p->n < 2 * p->nb)
        return;
    struct pconn **old = p->buckets;
    size_t onb = p->nb;
    p->nb *= 2;
    p->buckets = xcalloc(p->nb * sizeof(*p->buckets));
    for (size_t i = 0; i < onb; i++) {
        while (old[i] != NULL) {
            struct pconn *c = old[i];
            old[i] = c->hnext;
            size_t b = bucket_of(p, c->id);
            c->hnext = p->buckets[b];
            p->buckets[b] = c;
        }
    }
    free(old);
}

/* Unlink <c> from the FIFO and its bucket; return its transport (owned by the
 * caller) and free the entry. */
static pn_xprt_t *
pconn_remove(struct pconn *c)
{
    tun_pool_t *p = c->pool;
    struct pconn **pp = &p->buckets[bucket_of(p, c->id)];
    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    pn_list_del(&c->fifo);
    p->n--;
    pn_xprt_t *x = c->x;
    pn_xprt_unwatch(x);
    free(c);
    return x;
}

/* An idle connection turned readable: a peek (pn_xprt_peek, on the socket or
 * in a stream's own buffer) tells a close (drop it) from the first bytes of an
 * exchange whose signal is still on its way (keep it, stop watching: the
 * taker reads those bytes). */
static void
on_idle_readable(pn_xprt_t *x, int ready, void *arg)
{
    int n = pn_xprt_peek(x);
    if (n > 0) {
        pn_xprt_unwatch(x);
        return;
    }
    if (n == PN_AGAIN)
        return;
    log_debug("pool: dropped an idle data connection its peer ended or reset (%s)",
              x->err != NULL ? x->err : "end of stream");
    x = pconn_remove(arg);
    pn_xprt_free(x);
}

void
tun_pool_add(tun_pool_t *p, const uint8_t id[PN_CONN_ID_LEN], pn_xprt_t *x)
{
    struct pconn *c = xcalloc(sizeof(*c));
    c->pool = p;
    memcpy(c->id, id, PN_CONN_ID_LEN);
    c->x = x;
    pool_grow(p);
    size_t b = bucket_of(p, id);
    c->hnext = p->buckets[b];
    p->buckets[b] = c;
    pn_list_add(&p->fifo, &c->fifo);
    p->n++;
    pn_xprt_watch(x, p->loop, EV_RD, on_idle_readable, c);
}

pn_xprt_t *
tun_pool_take(tun_pool_t *p, uint8_t id[PN_CONN_ID_LEN])
{
    if (pn_list_empty(&p->fifo))
        return NULL;
    struct pconn *c = pn_container_of(p->fifo.next, struct pconn, fifo);
    memcpy(id, c->id, PN_CONN_ID_LEN);
    return pconn_remove(c);
}

pn_xprt_t *
tun_pool_take_id(tun_pool_t *p, const uint8_t id[PN_CONN_ID_LEN])
{
    for (struct pconn *c = p->buckets[bucket_of(p, id)]; c != NULL; c = c->hnext)
        if (memcmp(c->id, id, PN_CONN_ID_LEN) == 0)
            return pconn_remove(c);
    return NULL;
}

size_t
tun_pool_size(const tun_pool_t *p)
{
    return p->n;
}

void
tun_pool_trim(tun_pool_t *p, size_t keep)
{
    while (p->n > keep) {
        pn_xprt_t *x = pconn_remove(pn_container_of(p->fifo.next, struct pconn, fifo));
        pn_xprt_free(x);
    }
}

void
tun_pool_free_(tun_pool_t *p)
{
    if (p == NULL)
        return;
    tun_pool_trim(p, 0);
    free(p->buckets);
    free(p);
}
