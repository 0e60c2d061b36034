/* modes/tunnel.c: waiters and backoff, shared by the tunnel server and client. */
#include "modes/tunnel.h"
#include "core/log.h"
#include "core/mem.h"
#include "tls/tls.h"

static void
waiter_free(struct tun_waiter *w)
{
    pn_list_del(&w->node);
    ev_timer_free(w->timer);
    pn_xprt_free(w->x);
    free(w);
}

static long
on_wait_timeout(ev_timer_t *t, void *arg)
{
    struct tun_waiter *w = arg;
    log_debug("tunnel: no pooled data connection in time, closing a user connection");
    waiter_free(w);
    return EV_TIMER_STOP;
}

void
tun_waiter_add(ev_loop_t *loop, pn_list_t *list, pn_xprt_t *x, uint64_t ms)
{
    struct tun_waiter *w = xcalloc(sizeof(*w));
    w->x = x;
    w->timer = ev_timer_new(loop, on_wait_timeout, w);
    ev_timer_arm(w->timer, ms);
    pn_list_add(list, &w->node);
}

pn_xprt_t *
tun_waiter_pop(pn_list_t *list)
{
    if (pn_list_empty(list))
        return NULL;
    struct tun_waiter *w = pn_container_of(list->next, struct tun_waiter, node);
    pn_xprt_t *x = w->x;
    w->x = NULL;
    waiter_free(w);
    return x;
}

void
tun_waiters_clear(pn_list_t *list)
{
    while (!pn_list_empty(list))
        waiter_free(pn_container_of(list->next, struct tun_waiter, node));
}

#define FLUSH_MIN_TAKES 4       /* takes in an interval before the failure ratio counts */

void
tun_pool_check(tun_ctrl_t *ctrl, tun_pool_t *pool, uint64_t *takes, uint64_t *fails,
               const char *who)
{
    if (*takes >= FLUSH_MIN_TAKES && *fails * 2 > *takes) {
        log_warn("%s: %llu of %llu pool takes failed, flushing the pool", who,
                 (unsigned long long)*fails, (unsigned long long)*takes);
        tun_ctrl_send(ctrl, PN_FT_FLUSH, NULL, 0);
        tun_pool_trim(pool, 0);
    }
    *takes = *fails = 0;
}

void
tun_stats_refresh(pn_stats_t *st, const tun_pool_t *pool, const tun_ctrl_t *ctrl)
{
    st->pool = pool ? tun_pool_size(pool) : 0;
    st->ping_ms = ctrl ? tun_ctrl_rtt(ctrl) : 0;
}

uint64_t
tun_backoff_next(uint64_t *cur, uint64_t max)
{
    uint64_t base = *cur, jitter = 0;
    uint32_t r = 0;
    /* Up to a quarter of the delay, so clients cut off together do not all
     * come back in the same instant. */
    if (base >= 4 && pn_random(&r, sizeof(r)) == 0)
        jitter = r % (base / 4);
    *cur = base * 2 > max ? max : base * 2;
    return base + jitter;
}
