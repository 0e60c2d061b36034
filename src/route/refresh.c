/* route/refresh.c: periodic re-resolution of a target set's names. */
#include "route/refresh.h"
#include "core/log.h"
#include "core/mem.h"

#include <string.h>

struct slot {
    route_refresh_t *r;         /* back pointer */
    size_t i;                   /* target index */
    pn_dns_req_t *req;          /* pending request, or NULL */
};

struct route_refresh {
    pn_dns_t *dns;              /* borrowed */
    lb_set_t *set;              /* borrowed */
    uint64_t ttl_ms;
    ev_timer_t *timer;          /* owned */
    struct slot *slots;         /* owned, one per target */
};

static void
on_resolved(const pn_addr_t *addr, const char *err, void *arg)
{
    struct slot *sl = arg;
    lb_target_t *t = &sl->r->set->t[sl->i];
    char a[PN_ADDRSTRLEN], b[PN_ADDRSTRLEN];
    sl->req = NULL;
    if (addr == NULL && t->addr.ss.ss_family == 0) {
        log_warn("dns: %s does not resolve yet (%s); retrying", t->host, err);
        return;
    }
    if (addr == NULL) {
        /* Keep the last good address: a DNS hiccup must not take a target away. */
        log_warn("dns: %s does not resolve (%s); keeping %s", t->host, err,
                 pn_addr_str(&t->addr, a));
        return;
    }
    pn_addr_t n = *addr;
    if (t->addr.ss.ss_family == 0) {
        /* First resolution of a name that did not resolve at start. */
        log_info("dns: %s resolves to %s", t->host, pn_addr_str(&n, a));
        t->addr = n;
        t->down = 0;
        t->rtt_ms = LB_RTT_UNKNOWN;
        return;
    }
    pn_addr_set_port(&n, pn_addr_port(&t->addr));     /* the service's port, as configured */
    if (!pn_addr_equal(&n, &t->addr)) {
        log_info("dns: %s now resolves to %s (was %s)", t->host, pn_addr_str(&n, a),
                 pn_addr_str(&t->addr, b));
        t->addr = n;
        t->down = 0;
        t->rtt_ms = LB_RTT_UNKNOWN;
    }
}

/* A name not resolved yet is asked again soon, not a whole TTL later. */
#define REFRESH_RETRY_MS 2000

static uint64_t
next_tick(const route_refresh_t *r)
{
    for (size_t i = 0; i < r->set->n; i++)
        if (r->set->t[i].addr.ss.ss_family == 0 && r->ttl_ms > REFRESH_RETRY_MS)
            return REFRESH_RETRY_MS;
    return r->ttl_ms;
}

static long
on_tick(ev_timer_t *t, void *arg)
{
    route_refresh_t *r = arg;
    for (size_t i = 0; i < r->set->n; i++) {
        struct slot *sl = &r->slots[i];
        if (pn_dns_is_literal(r->set->t[i].host) || sl->req != NULL)
            continue;
        sl->req = pn_dns_resolve(r->dns, r->set->t[i].host, r->set->t[i].port, on_resolved, sl);
    }
    return (long)next_tick(r);
}

void
route_refresh_now(route_refresh_t *r)
{
    if (r == NULL)
        return;
    ev_timer_disarm(r->timer);
    ev_timer_arm(r->timer, (uint64_t)on_tick(r->timer, r));
}

route_refresh_t *
route_refresh_new(ev_loop_t *loop, pn_dns_t *dns, lb_set_t *set, uint64_t ttl_ms)
{
    size_t names = 0;
    for (size_t i = 0; i < set->n; i++)
        names += !pn_dns_is_literal(set->t[i].host);
    if (names == 0)
        return NULL;
    route_refresh_t *r = xcalloc(sizeof(*r));
    r->dns = dns;
    r->set = set;
    r->ttl_ms = ttl_ms;
    r->slots = xcalloc(set->n * sizeof(*r->slots));
    for (size_t i = 0; i < set->n; i++) {
        r->slots[i].r = r;
        r->slots[i].i = i;
    }
    r->timer = ev_timer_new(loop, on_tick, r);
    ev_timer_arm(r->timer, next_tick(r));
    return r;
}

void
route_refresh_free_(route_refresh_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->set->n; i++)
        pn_dns_cancel(r->slots[i].req);
    ev_timer_free(r->timer);
    free(r->slots);
    free(r);
}
