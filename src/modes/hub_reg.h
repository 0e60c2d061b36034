/* modes/hub_reg.h: the hub's route registry: which agents' members serve
 * which published port (tcp, udp), host (http, https) or group, behind one
 * ops table so that another implementation (shared by several hubs, e.g.
 * Redis-backed, which answers asynchronously) can sit behind it later:
 *
 *   claim     an agent's ROUTE_ADD: checks, a port or host taken or joined;
 *             the answer comes by callback (the hub sends ROUTE_OK/ROUTE_FAIL)
 *   release   a member withdrawn (ROUTE_DEL); release_sess: all of a session's
 *             members, held for their account when the agent is gone
 *   lookup    a route by port, host or group; member: a session's member by
 *             the agent's route id; pick: a member to serve (round robin)
 *   each      every route (the state line)
 *   refresh   once per interval: keeps live claims, drops routes held past
 *             POSTERN_HUB_HOLD
 *   watch     hears of each member added or removed and each route freed
 *   free      every route goes (the hub stops)
 *
 * hub_reg_mem_new() keeps the registry in the process and opens each tcp/udp
 * route's listener; hub_reg_redis_new() (hub_reg_redis.c, cluster=) puts it
 * in front of Redis so that several hubs share one registry. The contract of
 * each call is in docs/internals/modes.md. */
#ifndef PN_MODES_HUB_REG_H
#define PN_MODES_HUB_REG_H

#include "conf/cluster.h"
#include "modes/hub_types.h"

#include <jansson.h>

typedef struct hub_reg hub_reg_t;

/* What a watcher hears. */
typedef enum hub_reg_event {
    HUB_REG_ADD = 0,            /* member <m> joined <r> (r new when r->nmembers == 1) */
    HUB_REG_DEL,                /* member <m> left <r> (still valid during the call) */
    HUB_REG_GONE,               /* route <r> is about to be freed (m is NULL) */
} hub_reg_event_t;

/** The answer to a claim: <mb> the member registered (owned by the
 *  registry), or NULL with a PN_RF_* <code> and a human <reason>. <m> is the
 *  claimed message (valid during the call only). */
typedef void (*hub_reg_claim_cb)(struct hsess *s, const pn_frame_route_t *m, struct hmember *mb,
                                 uint16_t code, const char *reason, void *arg);
typedef void (*hub_reg_watch_cb)(hub_reg_event_t ev, struct hroute *r, struct hmember *m,
                                 void *arg);
/** Another hub's route of <type> (<port> for tcp/udp) appeared (<add>) or went. */
typedef void (*hub_reg_remote_cb)(int add, uint8_t type, uint16_t port, void *arg);
/** Called once per route by each(); nonzero stops the walk. */
typedef int (*hub_reg_each_cb)(struct hroute *r, void *arg);

typedef struct hub_reg_ops {
    const char *name;           /* static: "memory", ... */
    void (*claim)(hub_reg_t *g, struct hsess *s, const pn_frame_route_t *m, hub_reg_claim_cb cb,
                  void *arg);
    void (*release)(hub_reg_t *g, struct hmember *m);
    void (*release_sess)(hub_reg_t *g, struct hsess *s, int hold);
    struct hroute *(*by_port)(hub_reg_t *g, uint8_t type, uint16_t port);
    struct hroute *(*by_host)(hub_reg_t *g, uint8_t type, const char *host);
    struct hroute *(*by_group)(hub_reg_t *g, uint8_t type, const char *group);
    struct hmember *(*member)(hub_reg_t *g, struct hsess *s, uint32_t id);
    struct hmember *(*pick)(hub_reg_t *g, struct hroute *r);
    void (*each)(hub_reg_t *g, hub_reg_each_cb cb, void *arg);
    void (*refresh)(hub_reg_t *g, uint64_t now_ms);
    int (*watch)(hub_reg_t *g, hub_reg_watch_cb cb, void *arg);
    void (*free)(hub_reg_t *g);
    json_t *(*state)(hub_reg_t *g);     /* NULL, or the cluster's view (new reference) */
    /* A shared registry only (NULL otherwise): the peer= of the hub that holds
     * a route this hub does not (PN_OK), and news of other hubs' routes. */
    int (*remote)(hub_reg_t *g, uint8_t type, const char *host, uint16_t port, char *peer,
                  size_t cap);
    void (*remote_watch)(hub_reg_t *g, hub_reg_remote_cb cb, void *arg);
} hub_reg_ops_t;

/* Implementations embed this first. */
struct hub_reg {
    const hub_reg_ops_t *ops;   /* static */
};

/* What the in-memory registry needs from its hub. */
typedef struct hub_reg_env {
    ev_loop_t *loop;
    const pn_config_t *cfg;     /* borrowed: ports=, domain=, http=/https=, the hold */
    pn_addr_t public_addr;      /* where tcp/udp routes listen (its port ignored) */
    struct hub *hub;            /* set as each route's hub (for the callbacks below) */
    const int *stopping;        /* borrowed, may be NULL: nonzero = never hold */
    pn_entry_cb tcp_user;       /* a user of a tcp route's listener (arg: the route) */
    udp_new_peer_cb udp_peer;   /* a new user of a udp route's listener (arg: the route) */
} hub_reg_env_t;

/** The in-process registry. <env> is copied. */
hub_reg_t *hub_reg_mem_new(const hub_reg_env_t *env);
/** Free <r>, a route of the memory registry <g> with no member (held): taken
 *  over by another hub. Watchers hear GONE. No-op while it has members. */
void hub_reg_mem_drop(hub_reg_t *g, struct hroute *r);
/** Call <cb> with claim <m> of <s> refused: <code>, the reason printed from
 *  <fmt>. PN_OK (for "return hub_reg_refuse(...)"). */
int hub_reg_refuse(struct hsess *s, const pn_frame_route_t *m, hub_reg_claim_cb cb, void *arg,
                   uint16_t code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/** The full, lower-case host name of a route asked as <asked> (domain= added
 *  to a name without a dot) into <host>; PN_ERR when not a valid host name. */
int hub_reg_host_name(const pn_config_t *cfg, const char *asked,
                      char host[PN_ROUTE_HOST_MAX + 1]);

/* What the Redis registry needs beyond the memory one's environment. */
typedef struct hub_reg_cluster {
    const pn_cluster_conf_t *conf;  /* borrowed: Redis address and password, id, peer */
    const char *id;                 /* borrowed: this hub's id (conf->id or a default) */
    uint64_t ttl_ms;                /* the heartbeat's life; claims die with it */
} hub_reg_cluster_t;

/** The registry shared through Redis (hub_reg_redis.c): the memory registry
 *  for this hub's routes, claims made atomic across hubs in Redis first, the
 *  other hubs' routes cached from its pub/sub. NULL with <err> when the Redis
 *  host does not resolve. */
hub_reg_t *hub_reg_redis_new(const hub_reg_env_t *env, const hub_reg_cluster_t *cl, char *err);
/** Fill in <cfg>'s cluster= before the hub starts (password from the
 *  environment or cluster_auth=, a default id); PN_OK without cluster=. */
int hub_cluster_prepare(const pn_config_t *cfg, char *err);
/** The registry <env>'s configuration asks for (Redis with cluster=, else
 *  memory); NULL with <err> when the Redis host does not resolve. */
hub_reg_t *hub_reg_new(const hub_reg_env_t *env, char *err);

static inline void
hub_reg_claim(hub_reg_t *g, struct hsess *s, const pn_frame_route_t *m, hub_reg_claim_cb cb,
              void *arg)
{
    g->ops->claim(g, s, m, cb, arg);
}

static inline void
hub_reg_release(hub_reg_t *g, struct hmember *m)
{
    g->ops->release(g, m);
}

static inline void
hub_reg_release_sess(hub_reg_t *g, struct hsess *s, int hold)
{
    g->ops->release_sess(g, s, hold);
}

static inline struct hroute *
hub_reg_by_port(hub_reg_t *g, uint8_t type, uint16_t port)
{
    return g->ops->by_port(g, type, port);
}

static inline struct hroute *
hub_reg_by_host(hub_reg_t *g, uint8_t type, const char *host)
{
    return g->ops->by_host(g, type, host);
}

/** An http route by its key (hub_rules_find's lookup; <ctx> is the registry). */
static inline struct hroute *
hub_reg_http_by_key(void *ctx, const char *key)
{
    return hub_reg_by_host(ctx, PN_RT_HTTP, key);
}

static inline struct hroute *
hub_reg_by_group(hub_reg_t *g, uint8_t type, const char *group)
{
    return g->ops->by_group(g, type, group);
}

static inline struct hmember *
hub_reg_member(hub_reg_t *g, struct hsess *s, uint32_t id)
{
    return g->ops->member(g, s, id);
}

static inline struct hmember *
hub_reg_pick(hub_reg_t *g, struct hroute *r)
{
    return g->ops->pick(g, r);
}

static inline void
hub_reg_each(hub_reg_t *g, hub_reg_each_cb cb, void *arg)
{
    g->ops->each(g, cb, arg);
}

static inline void
hub_reg_refresh(hub_reg_t *g, uint64_t now_ms)
{
    g->ops->refresh(g, now_ms);
}

static inline int
hub_reg_watch(hub_reg_t *g, hub_reg_watch_cb cb, void *arg)
{
    return g->ops->watch(g, cb, arg);
}

/** The registry's cluster view for the state line (a new JSON object), or NULL. */
static inline json_t *
hub_reg_state(hub_reg_t *g)
{
    return g->ops->state != NULL ? g->ops->state(g) : NULL;
}

/** Fill <peer> (<cap> bytes) with the peer= of the hub holding the route of
 *  <type> and <host> (http, https) or <port> (tcp, udp); PN_ERR when none is
 *  known (or the registry is not shared). */
static inline int
hub_reg_remote(hub_reg_t *g, uint8_t type, const char *host, uint16_t port, char *peer, size_t cap)
{
    return g->ops->remote != NULL ? g->ops->remote(g, type, host, port, peer, cap) : PN_ERR;
}

/** Tell <cb> of other hubs' routes appearing and going (one watcher; a
 *  registry that is not shared has none to tell). */
static inline void
hub_reg_remote_watch(hub_reg_t *g, hub_reg_remote_cb cb, void *arg)
{
    if (g->ops->remote_watch != NULL)
        g->ops->remote_watch(g, cb, arg);
}

static inline void
hub_reg_free(hub_reg_t *g)
{
    if (g != NULL)
        g->ops->free(g);
}

/** Signal the exchange on <id> for <m>'s route to its agent (not a registry
 *  call: the member's session carries it). */
static inline int
hub_signal(struct hmember *m, uint8_t type, const uint8_t *id, const pn_addr_t *src,
           const pn_addr_t *dst)
{
    return tun_sess_signal(&m->sess->t, type, id, src, dst, m->id);
}

#endif
