/* tunnel/dchan.c: the pool of idle connections (tunnel/pool.c) as a data
 * channel implementation. */
#include "tunnel/dchan.h"
#include "core/mem.h"
#include "tunnel/pool.h"

struct dchan_pool {
    tun_dchan_t d;              /* first: the interface */
    tun_pool_t *pool;           /* owned */
};

#define POOL_OF(d) (((struct dchan_pool *)(d))->pool)

static void
pool_put(tun_dchan_t *d, const uint8_t id[PN_CONN_ID_LEN], pn_xprt_t *x)
{
    tun_pool_add(POOL_OF(d), id, x);
}

static pn_xprt_t *
pool_take(tun_dchan_t *d, uint8_t id[PN_CONN_ID_LEN])
{
    return tun_pool_take(POOL_OF(d), id);
}

static pn_xprt_t *
pool_take_id(tun_dchan_t *d, const uint8_t id[PN_CONN_ID_LEN])
{
    return tun_pool_take_id(POOL_OF(d), id);
}

static size_t
pool_idle(const tun_dchan_t *d)
{
    return tun_pool_size(((const struct dchan_pool *)d)->pool);
}

static size_t
pool_want(const tun_dchan_t *d, size_t target)
{
    size_t have = pool_idle(d);
    return target > have ? target - have : 0;
}

static void
pool_trim(tun_dchan_t *d, size_t keep)
{
    tun_pool_trim(POOL_OF(d), keep);
}

static void
pool_free(tun_dchan_t *d)
{
    struct dchan_pool *p = (struct dchan_pool *)d;
    tun_pool_free(p->pool);
    free(p);
}

static const tun_dchan_ops_t pool_ops = {
    .name = "pool", .put = pool_put, .take = pool_take, .take_id = pool_take_id,
    .idle = pool_idle, .want = pool_want, .trim = pool_trim, .free = pool_free,
};

tun_dchan_t *
tun_dchan_pool_new(ev_loop_t *loop)
{
    struct dchan_pool *p = xcalloc(sizeof(*p));
    p->d.ops = &pool_ops;
    p->pool = tun_pool_new(loop);
    return &p->d;
}
