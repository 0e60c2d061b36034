/* modes/hub_reg_redis.c: the route registry shared by several hubs through
 * Redis (hub_reg_redis_new, see hub_reg.h; keys and scripts in hub_reg_lua.h).
 *
 *   claim ─ local route of that key? ──yes──> memory registry (join, take back)
 *         └ no: Redis down ─> UNAVAILABLE; else EVAL claim(keys) ─> pending
 *              (at most CLAIM_WINDOW sent at once; the others wait their turn)
 *              answer: TAKEN (another live hub's) | granted ─> memory registry
 *                      (refused there: the keys are given back)
 *   memory registry's events ─> watchers; a route emptied: held in Redis;
 *                               a route gone: its keys released
 *   pub/sub "+"/"-" ─> the cache of other hubs' routes; a route held here
 *                      and taken by another hub (same account) is dropped
 *   Redis up ─> heartbeat, every local route asserted, keys of ours that are
 *               no longer here released, the cache loaded again (SCAN)
 *   heartbeat (TTL/3) ─> pn:hub:<id> kept alive; dead hubs' routes swept
 *
 * Lookups, pick, member and each are the memory registry's: this hub serves
 * the routes its agents hold; the cache says where the others are. */
#include "modes/hub_reg_rpriv.h"
#include "modes/hub_reg_lua.h"
#include "core/log.h"
#include "core/mem.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- claims ---- */

/* The route keys of <c> into <k>; their number. */
static int
rclaim_keys(const struct rclaim *c, char k[2][KEY_MAX])
{
    const char *p = c->keys;
    for (int i = 0; i < c->nkeys; i++, p += strlen(p) + 1)
        snprintf(k[i], KEY_MAX, "%s", p);
    return c->nkeys;
}

/* The claim <c> as a frame, into <m>. */
static void
rclaim_frame(const struct rclaim *c, pn_frame_route_t *m)
{
    const char *why;
    if (pn_frame_route_decode(PN_FT_ROUTE_ADD, c->wire, c->wlen, m, &why) != PN_OK)
        memset(m, 0, sizeof(*m));   /* not reached: it was encoded from a decoded frame */
}

static void
unavailable(struct hsess *s, const pn_frame_route_t *m, hub_reg_claim_cb cb, void *arg,
            const char *why)
{
    hub_reg_refuse(s, m, cb, arg, PN_RF_UNAVAILABLE,
           "the cluster registry (Redis) %s: new routes wait until it answers", why);
}

/* The memory registry's answer to a claim granted in Redis. */
static void
on_mem_claimed(struct hsess *s, const pn_frame_route_t *m, struct hmember *mb, uint16_t code,
               const char *reason, void *arg)
{
    struct rclaim *c = arg;
    char k[2][KEY_MAX];
    if (mb == NULL)
        hub_rr_release_unheld(c->g, k, rclaim_keys(c, k));
    else
        c->g->claims++;
    c->cb(s, m, mb, code, reason, c->arg);
}

/* The TAKEN reason of key <i> of <c>: the words of the memory registry. */
static void
refuse_taken(struct rclaim *c, const pn_frame_route_t *m, long long i)
{
    const char *tn = pn_conf_route_type_name(m->type);
    char host[PN_ROUTE_HOST_MAX + 1];
    c->g->refused++;
    char k[2][KEY_MAX];
    rclaim_keys(c, k);
    if (strchr(k[i >= 1 && i <= c->nkeys ? i - 1 : 0] + 5, '~') != NULL)
        (void)hub_reg_refuse(c->s, m, c->cb, c->arg, PN_RF_TAKEN,
                             "group %s exists with another group key", m->group);
    else if (m->type == PN_RT_TCP || m->type == PN_RT_UDP)
        (void)hub_reg_refuse(c->s, m, c->cb, c->arg, PN_RF_TAKEN, "%s port %u is taken", tn,
                             (unsigned)m->port);
    else
        (void)hub_reg_refuse(c->s, m, c->cb, c->arg, PN_RF_TAKEN, "host %s is taken",
                             hub_reg_host_name(c->g->env.cfg, m->host, host) == PN_OK ? host
                                                                                     : m->host);
}

static void
rclaim_free(struct rclaim *c)
{
    memset(c->wire, 0, c->wlen);    /* a group key is a secret */
    free(c->keys);
    free(c);
}

static void claims_send(redis_reg_t *g);

static void
on_claim_reply(redisReply *y, void *arg)
{
    struct rclaim *c = arg;
    redis_reg_t *g = c->g;
    pn_frame_route_t fm, *m = &fm;
    char k[2][KEY_MAX];
    int granted = y != NULL && y->type == REDIS_REPLY_ARRAY && y->elements >= 1 &&
                  y->element[0]->type == REDIS_REPLY_INTEGER && y->element[0]->integer == 1;
    pn_list_del(&c->node);
    g->nsent--;
    g->answered_ms = pn_now_ms();
    rclaim_keys(c, k);
    if (c->s != NULL)
        rclaim_frame(c, m);
    if (c->s == NULL) {
        if (granted && !g->freeing)
            hub_rr_release_unheld(g, k, rclaim_keys(c, k));
    } else if (y == NULL) {
        unavailable(c->s, m, c->cb, c->arg, "was lost before it answered");
    } else if (y->type == REDIS_REPLY_ERROR) {
        log_warn("cluster: Redis refused a claim: %.200s", y->str);
        unavailable(c->s, m, c->cb, c->arg, "failed to answer");
    } else if (!granted && y->type == REDIS_REPLY_ARRAY && y->elements == 3 &&
               y->element[0]->integer == 2 && y->element[2]->type == REDIS_REPLY_STRING) {
        (void)hub_reg_refuse(c->s, m, c->cb, c->arg, PN_RF_UNAVAILABLE,
                             "hub %.64s still holds the route for this account (its agent "
                             "moving here?): asked again until that hub lets it go",
                             y->element[2]->str);
    } else if (!granted) {
        long long i = y->type == REDIS_REPLY_ARRAY && y->elements == 3 ? y->element[1]->integer : 1;
        refuse_taken(c, m, i);
    } else {
        /* Ours now: no longer another hub's (its listener here, if any, goes first). */
        for (int i = 0; i < c->nkeys; i++)
            if (hub_rcache_del(&g->cache, k[i] + 5, NULL))
                hub_rr_remote_tell(g, 0, k[i] + 5);
        g->in_claim = 1;        /* the route is marked live in Redis already */
        hub_reg_claim(g->mem, c->s, m, on_mem_claimed, c);
        g->in_claim = 0;
    }
    memset(fm.group_key, 0, sizeof(fm.group_key));
    rclaim_free(c);
    if (!g->freeing)
        claims_send(g);
}

/* Send the waiting claims, oldest first, while the window has room; one whose
 * session ended meanwhile goes unsent (nothing of it is in Redis). */
static void
claims_send(redis_reg_t *g)
{
    while (g->nsent < CLAIM_WINDOW && !pn_list_empty(&g->waiting)) {
        struct rclaim *c = pn_container_of(g->waiting.next, struct rclaim, node);
        char k[2][KEY_MAX];
        pn_list_del(&c->node);
        if (c->s == NULL) {
            rclaim_free(c);
            continue;
        }
        if (pn_list_empty(&g->pending))
            g->answered_ms = pn_now_ms();   /* Redis owes nothing: its silence starts now */
        pn_list_add(&g->pending, &c->node);
        g->nsent++;
        c->since_ms = pn_now_ms();
        if (hub_rr_eval(g, HUB_LUA_CLAIM, on_claim_reply, c, rclaim_keys(c, k), k, 3, g->id,
                        c->s->acct->name, "0") != PN_OK) {
            pn_frame_route_t m;
            pn_list_del(&c->node);
            g->nsent--;
            rclaim_frame(c, &m);
            unavailable(c->s, &m, c->cb, c->arg, "is unreachable");
            memset(m.group_key, 0, sizeof(m.group_key));
            rclaim_free(c);
        }
    }
}

/* A port for a new tcp/udp route of <a> (port 0 asked): free here and not
 * known to be another hub's; 0 when none (the memory registry then refuses). */
static uint16_t
port_pick(redis_reg_t *g, uint8_t type, const struct hacct *a)
{
    char k[KEY_MAX];
    for (uint32_t p = g->env.cfg->ports_lo; p <= g->env.cfg->ports_hi && p != 0; p++) {
        if (!pn_account_port_ok(&a->allow, (uint16_t)p) ||
            hub_reg_by_port(g->mem, type, (uint16_t)p) != NULL)
            continue;
        hub_rr_key_port(k, type, (uint16_t)p);
        if (hub_rcache_get(&g->cache, k + 5) == NULL)
            return (uint16_t)p;
    }
    return 0;
}

/* The keys claim <m> needs in Redis into <keys>, their number returned
 * (m->port assigned when 0); 0 when the memory registry decides alone (a
 * local route, or a refusal it makes). */
static int
claim_keys(redis_reg_t *g, pn_frame_route_t *m, const struct hacct *a, char keys[2][KEY_MAX])
{
    const pn_config_t *cfg = g->env.cfg;
    char host[PN_ROUTE_HOST_MAX + 1];
    int n = 0;
    if (m->type == PN_RT_TCP || m->type == PN_RT_UDP) {
        if (cfg->ports_lo == 0)
            return 0;
        if (m->group[0] != '\0') {
            if (hub_reg_by_group(g->mem, m->type, m->group) != NULL)
                return 0;
            hub_rr_key_group(keys[n++], m->type, m->group);
        }
        if (m->port == 0)
            m->port = port_pick(g, m->type, a);
        if (m->port == 0 || m->port < cfg->ports_lo || m->port > cfg->ports_hi ||
            !pn_account_port_ok(&a->allow, m->port) ||
            hub_reg_by_port(g->mem, m->type, m->port) != NULL)
            return 0;
        hub_rr_key_port(keys[n++], m->type, m->port);
        return n;
    }
    if ((m->type != PN_RT_HTTP && m->type != PN_RT_HTTPS) || m->host[0] == '\0' ||
        hub_reg_host_name(cfg, m->host, host) != PN_OK ||
        hub_reg_by_host(g->mem, m->type, host) != NULL)
        return 0;
    hub_rr_key_host(keys[n++], m->type, host);
    return n;
}

static void
rr_claim(hub_reg_t *base, struct hsess *s, const pn_frame_route_t *m, hub_reg_claim_cb cb,
         void *arg)
{
    redis_reg_t *g = (redis_reg_t *)base;
    struct hacct *a = s->acct;
    if (hub_reg_member(g->mem, s, m->id) != NULL ||
        (a->max_routes != 0 && a->nroutes + a->routes_elsewhere >= a->max_routes)) {
        hub_reg_claim(g->mem, s, m, cb, arg);       /* EXISTS, LIMIT */
        return;
    }
    pn_frame_route_t mm = *m;
    char keys[2][KEY_MAX];
    uint8_t wire[4096];
    int nkeys = claim_keys(g, &mm, a, keys);
    size_t wlen = nkeys > 0 ? pn_frame_route_encode(PN_FT_ROUTE_ADD, &mm, wire, sizeof(wire)) : 0;
    memset(mm.group_key, 0, sizeof(mm.group_key));
    if (nkeys == 0 || wlen == 0) {
        /* Joined or taken back here, or refused here: the route is ours in
         * Redis already (a route taken back is marked live by hub_rr_on_mem_event). */
        memset(wire, 0, sizeof(wire));
        hub_reg_claim(g->mem, s, m, cb, arg);
        return;
    }
    if (!hub_redis_up(g->rd)) {
        memset(wire, 0, sizeof(wire));
        unavailable(s, m, cb, arg, "is unreachable");
        return;
    }
    struct rclaim *c = xcalloc(sizeof(*c) + wlen);
    c->g = g;
    c->s = s;
    c->cb = cb;
    c->arg = arg;
    c->since_ms = pn_now_ms();
    c->nkeys = nkeys;
    size_t klen = 0;
    for (int i = 0; i < nkeys; i++)
        klen += strlen(keys[i]) + 1;
    c->keys = xmalloc(klen);
    for (int i = 0, off = 0; i < nkeys; i++) {
        memcpy(c->keys + off, keys[i], strlen(keys[i]) + 1);
        off += (int)strlen(keys[i]) + 1;
    }
    c->wlen = wlen;
    memcpy(c->wire, wire, wlen);
    memset(wire, 0, sizeof(wire));
    pn_list_add(&g->waiting, &c->node);
    claims_send(g);
}

static void
rr_release(hub_reg_t *base, struct hmember *m)
{
    hub_reg_release(((redis_reg_t *)base)->mem, m);
}

static void
rr_release_sess(hub_reg_t *base, struct hsess *s, int hold)
{
    redis_reg_t *g = (redis_reg_t *)base;
    for (int i = 0; i < 2; i++) {
        pn_list_t *h = i == 0 ? &g->pending : &g->waiting;
        for (pn_list_t *p = h->next; p != h; p = p->next) {
            struct rclaim *c = pn_container_of(p, struct rclaim, node);
            if (c->s == s)
                c->s = NULL;
        }
    }
    hub_reg_release_sess(g->mem, s, hold);
}

/* ---- lookups: the memory registry's ---- */

static struct hroute *
rr_by_port(hub_reg_t *base, uint8_t type, uint16_t port)
{
    return hub_reg_by_port(((redis_reg_t *)base)->mem, type, port);
}

static struct hroute *
rr_by_host(hub_reg_t *base, uint8_t type, const char *host)
{
    return hub_reg_by_host(((redis_reg_t *)base)->mem, type, host);
}

static struct hroute *
rr_by_group(hub_reg_t *base, uint8_t type, const char *group)
{
    return hub_reg_by_group(((redis_reg_t *)base)->mem, type, group);
}

static struct hmember *
rr_member(hub_reg_t *base, struct hsess *s, uint32_t id)
{
    return hub_reg_member(((redis_reg_t *)base)->mem, s, id);
}

static struct hmember *
rr_pick(hub_reg_t *base, struct hroute *r)
{
    return hub_reg_pick(((redis_reg_t *)base)->mem, r);
}

static void
rr_each(hub_reg_t *base, hub_reg_each_cb cb, void *arg)
{
    hub_reg_each(((redis_reg_t *)base)->mem, cb, arg);
}

static long
on_beat_timer(ev_timer_t *t, void *arg)
{
    redis_reg_t *g = arg;
    uint64_t now = pn_now_ms();
    (void)t;
    if (hub_redis_up(g->rd)) {
        hub_rr_beat(g, 0);
        hub_rr_quotas(g);
    }
    /* A claim waiting its turn (the window full) waits while Redis answers the
     * ones sent; when Redis has answered none for the deadline, or after
     * CLAIM_QUEUE_MAX_MS, it is refused and dropped (nothing of it is in Redis). */
    int stuck = !pn_list_empty(&g->pending) && now - g->answered_ms >= CLAIM_DEADLINE_MS;
    while (!pn_list_empty(&g->waiting)) {
        struct rclaim *c = pn_container_of(g->waiting.next, struct rclaim, node);
        if (c->s != NULL && !stuck && now - c->since_ms < CLAIM_QUEUE_MAX_MS)
            break;              /* oldest first: the others are younger */
        pn_list_del(&c->node);
        if (c->s != NULL) {
            pn_frame_route_t m;
            rclaim_frame(c, &m);
            unavailable(c->s, &m, c->cb, c->arg, stuck ? "did not answer within 2 s"
                        : "is behind: the claim waited 30 s for its turn");
            memset(m.group_key, 0, sizeof(m.group_key));
        }
        rclaim_free(c);
    }
    /* A claim Redis has not answered in time is refused; its answer, if it
     * comes, only gives the keys back. */
    for (pn_list_t *p = g->pending.next; p != &g->pending; p = p->next) {
        struct rclaim *c = pn_container_of(p, struct rclaim, node);
        if (c->s != NULL && now - c->since_ms >= CLAIM_DEADLINE_MS) {
            struct hsess *s = c->s;
            pn_frame_route_t m;
            c->s = NULL;
            rclaim_frame(c, &m);
            unavailable(s, &m, c->cb, c->arg, "did not answer within 2 s");
            memset(m.group_key, 0, sizeof(m.group_key));
        }
    }
    return (long)(g->ttl_ms / 3);
}

/* ---- the rest of the ops ---- */

static void
rr_refresh(hub_reg_t *base, uint64_t now_ms)
{
    hub_reg_refresh(((redis_reg_t *)base)->mem, now_ms);
}

/* The watchers watch the memory registry itself, after this registry's own
 * watcher (hub_rr_on_mem_event), which keeps Redis in step. */
static int
rr_watch(hub_reg_t *base, hub_reg_watch_cb cb, void *arg)
{
    return hub_reg_watch(((redis_reg_t *)base)->mem, cb, arg);
}

static void
rr_remote_watch(hub_reg_t *base, hub_reg_remote_cb cb, void *arg)
{
    redis_reg_t *g = (redis_reg_t *)base;
    g->remote_cb = cb;
    g->remote_arg = arg;
}

static void
rr_free(hub_reg_t *base)
{
    redis_reg_t *g = (redis_reg_t *)base;
    g->freeing = 1;
    for (pn_list_t *p = g->pending.next; p != &g->pending; p = p->next)
        pn_container_of(p, struct rclaim, node)->s = NULL;
    while (!pn_list_empty(&g->waiting)) {
        struct rclaim *c = pn_container_of(g->waiting.next, struct rclaim, node);
        pn_list_del(&c->node);
        rclaim_free(c);
    }
    ev_timer_free(g->beat);
    hub_redis_free(g->rd);      /* pending claims hear NULL and go */
    hub_reg_free(g->mem);
    hub_rcache_clear(&g->cache);
    json_decref(g->hubs);
    free(g);
}

static const hub_reg_ops_t redis_ops = {
    .name = "redis",
    .claim = rr_claim,
    .release = rr_release,
    .release_sess = rr_release_sess,
    .by_port = rr_by_port,
    .by_host = rr_by_host,
    .by_group = rr_by_group,
    .member = rr_member,
    .pick = rr_pick,
    .each = rr_each,
    .refresh = rr_refresh,
    .watch = rr_watch,
    .free = rr_free,
    .state = hub_rr_state,
    .remote = hub_rr_remote,
    .remote_watch = rr_remote_watch,
};

/* The registry shared through Redis: see hub_reg.h. Connects in the
 * background; until Redis answers, claims are refused (UNAVAILABLE). */
hub_reg_t *
hub_reg_redis_new(const hub_reg_env_t *env, const hub_reg_cluster_t *cl, char *err)
{
    redis_reg_t *g = xcalloc(sizeof(*g));
    g->base.ops = &redis_ops;
    g->env = *env;
    snprintf(g->id, sizeof(g->id), "%s", cl->id);
    snprintf(g->peer, sizeof(g->peer), "%s", cl->conf->peer ? cl->conf->peer : "-");
    g->ttl_ms = cl->ttl_ms;
    snprintf(g->ttl, sizeof(g->ttl), "%llu", (unsigned long long)cl->ttl_ms);
    g->hubs = json_array();
    pn_list_init(&g->pending);
    pn_list_init(&g->waiting);
    hub_rcache_init(&g->cache);
    g->rd = hub_redis_new(env->loop, cl->conf, "pn:routes", hub_rr_on_state, hub_rr_on_msg, g, err);
    if (g->rd == NULL) {
        json_decref(g->hubs);
        free(g);
        return NULL;
    }
    g->mem = hub_reg_mem_new(env);
    (void)hub_reg_watch(g->mem, hub_rr_on_mem_event, g);
    g->beat = ev_timer_new(env->loop, on_beat_timer, g);
    ev_timer_arm(g->beat, g->ttl_ms / 3);
    return &g->base;
}

/* Make <cfg>'s cluster= ready before the hub starts: the Redis password from
 * POSTERN_CLUSTER_PASSWORD or cluster_auth= when the URL has none, and the hub
 * id ("<host name>-<hub port>" when id= is not given). PN_OK without cluster=;
 * PN_ERR with <err> (no secret in it). */
int
hub_cluster_prepare(const pn_config_t *cfg, char *err)
{
    pn_cluster_conf_t *c = cfg->cluster;
    char host[256], id[PN_CLUSTER_ID_MAX + 1];
    if (c == NULL)
        return PN_OK;
    if (pn_cluster_secret_load(c, (const char *(*)(const char *))getenv, err) != PN_OK ||
        pn_cluster_link_secret_load(c, (const char *(*)(const char *))getenv, err) != PN_OK)
        return PN_ERR;
    if (c->id != NULL)
        return PN_OK;
    if (gethostname(host, sizeof(host)) == -1)
        snprintf(host, sizeof(host), "hub");
    host[sizeof(host) - 1] = '\0';
    snprintf(id, sizeof(id), "%.40s-%s", host, cfg->port ? cfg->port : "0");
    for (char *p = id; *p; p++)
        if (pn_cluster_id_check((char[]){ *p, 0 }) != PN_OK)
            *p = '-';
    c->id = xstrdup(id);
    log_info("cluster: this hub's id is %s (set id= to choose it)", c->id);
    return PN_OK;
}

/* The registry <cfg> asks for: shared through Redis with cluster=, else in
 * memory. NULL with <err> when the Redis host does not resolve. */
hub_reg_t *
hub_reg_new(const hub_reg_env_t *env, char *err)
{
    if (env->cfg->cluster == NULL)
        return hub_reg_mem_new(env);
    hub_reg_cluster_t cl = {
        .conf = env->cfg->cluster, .id = env->cfg->cluster->id, .ttl_ms = env->cfg->cluster_ttl_ms,
    };
    return hub_reg_redis_new(env, &cl, err);
}
