/* modes/hub_reg_rquota.c: an account's limits counted over every hub of a
 * cluster (docs/hub.md §7, "Account limits across hubs"). At each heartbeat a
 * hub tells Redis its own use of each limited account (one hash per account
 * and limit: hub id -> "<use>:<Redis time ms>") and learns the other hubs'
 * (those a TTL old at most), in one script per account and limit:
 *   max_conns   live connections: admitted while here + elsewhere < the limit
 *   max_routes  live routes (a held one is not counted: its agent may be
 *               claiming it on another hub): claimed while here + elsewhere <
 *   rps, mbps   a rate: this hub's bucket gets what the others' rates leave,
 *               and a floor (rps: a tenth; mbps: a fair part, the limit
 *               over the hubs using it), so that a hub whose share the others
 *               took still serves and the shares move towards fairness. */
#include "modes/hub_reg_rpriv.h"
#include "modes/hub_reg_lua.h"

#include <stdio.h>

/* A count of the other hubs' (max_conns, max_routes) into the uint64_t <arg>. */
static void
on_count(struct redisReply *y, void *arg)
{
    uint64_t sum, users;
    if (hub_rr_pair(y, &sum, &users) == PN_OK)
        *(uint64_t *)arg = sum;
}

/* A rate's share here: what the others' use leaves of <limit>, <least> at least. */
static void
share_rate(pn_bucket_t *b, uint64_t limit, uint64_t others, uint64_t least)
{
    uint64_t share = limit > others + least ? limit - others : least;
    pn_bucket_set_rate(b, share, share, pn_now_us());
}

/* Cluster-wide rps: this hub's requests per second takes what the other hubs'
 * (a heartbeat old at most) leave of the limit, and a tenth of it at least. */
static void
on_rps(struct redisReply *y, void *arg)
{
    struct hacct *a = arg;
    uint64_t others, users;
    if (hub_rr_pair(y, &others, &users) == PN_OK && a->rps != 0)
        share_rate(&a->rq, a->rps, others, a->rps / 10 ? a->rps / 10 : 1);
}

/* Cluster-wide mbps: what the others used (bytes/s) leaves of the limit, and
 * at least the limit over the hubs using it (this one and the others whose
 * use is not 0): two hubs that both want more settle at half each at once,
 * and one that needs less than its half leaves the rest to the others. */
static void
on_mbps(struct redisReply *y, void *arg)
{
    struct hacct *a = arg;
    uint64_t others, users;
    if (hub_rr_pair(y, &others, &users) != PN_OK || a->mbps == 0)
        return;                 /* no answer (also while the hub stops): <a> is not read */
    uint64_t limit = (uint64_t)a->mbps * 125000;
    share_rate(&a->bw, limit, others, limit / (1 + users));
}

/* Tell Redis this hub's rate of <now_count> since the last heartbeat (<mark>,
 * <mark_us>) under pn:<kind>:<account>; <cb> gets the others' sum and how many use it. */
static void
rate_share(redis_reg_t *g, struct hacct *a, const char *kind, uint64_t now_count,
           uint64_t *mark, uint64_t *mark_us, hub_redis_reply_cb cb)
{
    char k[1][KEY_MAX], n[24];
    uint64_t now = pn_now_us(), us = now - *mark_us;
    if (*mark_us != 0 && us > 0 && now_count >= *mark) {
        snprintf(k[0], KEY_MAX, "pn:%s:%s", kind, a->name);
        snprintf(n, sizeof(n), "%llu", (unsigned long long)((now_count - *mark) * 1000000 / us));
        (void)hub_rr_eval(g, HUB_LUA_SHARE, cb, a, 1, k, 3, g->id, n, g->ttl);
    }
    *mark = now_count;
    *mark_us = now;
}

/* Tell Redis this hub's <count> of an account's <kind>; the others' sum goes
 * into <elsewhere> (a member of the account: it lives as long as the hub). */
static void
count_share(redis_reg_t *g, struct hacct *a, const char *kind, uint64_t count,
            uint64_t *elsewhere)
{
    char k[1][KEY_MAX], n[24];
    snprintf(k[0], KEY_MAX, "pn:%s:%s", kind, a->name);
    snprintf(n, sizeof(n), "%llu", (unsigned long long)count);
    (void)hub_rr_eval(g, HUB_LUA_SHARE, on_count, elsewhere, 1, k, 3, g->id, n, g->ttl);
}

static int
count_live(struct hroute *r, void *arg)
{
    (void)arg;
    if (r->acct != NULL && r->orphan_ms == 0)
        r->acct->routes_live++;
    return 0;
}

void
hub_rr_quotas(redis_reg_t *g)
{
    pn_list_t *accts = &g->env.hub->accts;
    for (pn_list_t *p = accts->next; p != accts; p = p->next)
        pn_container_of(p, struct hacct, node)->routes_live = 0;
    hub_reg_each(g->mem, count_live, NULL);
    for (pn_list_t *p = accts->next; p != accts; p = p->next) {
        struct hacct *a = pn_container_of(p, struct hacct, node);
        if (a->gone)
            continue;
        if (a->rps != 0)
            rate_share(g, a, "rps", a->requests, &a->rq_mark, &a->rq_mark_us, on_rps);
        if (a->mbps != 0)
            rate_share(g, a, "mbps", a->bw.taken, &a->bw_mark, &a->bw_mark_us, on_mbps);
        if (a->max_conns != 0)
            count_share(g, a, "conns", a->st.tcps + a->st.udps + a->http_live + a->tcp_pending,
                        &a->elsewhere);
        if (a->max_routes != 0)
            count_share(g, a, "routes", a->routes_live, &a->routes_elsewhere);
    }
}
