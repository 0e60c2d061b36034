/* modes/hub_reg_rpriv.h: what the two files of the Redis registry share:
 * hub_reg_redis.c (claims, the ops) and hub_reg_rsync.c (route keys, Redis
 * commands, pub/sub, reconcile, heartbeat). Private to them. */
#ifndef PN_MODES_HUB_REG_RPRIV_H
#define PN_MODES_HUB_REG_RPRIV_H

#include "modes/hub_rcache.h"
#include "modes/hub_redis.h"
#include "modes/hub_reg.h"

#define CLAIM_DEADLINE_MS 2000
#define CLAIM_WINDOW 1024       /* claims sent to Redis and not answered yet, at most: the
                                 * others wait here, so that a heartbeat sent on the same
                                 * connection never queues behind tens of thousands */
#define CLAIM_QUEUE_MAX_MS 30000    /* a claim waits its turn that long at most */
#define KEY_MAX (5 + 6 + PN_ROUTE_HOST_MAX + PN_ROUTE_PATH_MAX + 1)    /* "pn:r:" "https:" host [path] */
#define STATE_REMOTE_MAX 1000                      /* routes listed in the state line */
#define SCAN_COUNT "1000"

typedef struct redis_reg {
    hub_reg_t base;
    hub_reg_t *mem;             /* owned: this hub's routes and their listeners */
    hub_reg_env_t env;
    char id[PN_CLUSTER_ID_MAX + 1];
    char peer[PN_ADDRSTRLEN + 256];
    char ttl[24];               /* ms, as ARGV */
    uint64_t ttl_ms;
    hub_redis_t *rd;            /* owned */
    hub_rcache_t cache;         /* other hubs' routes */
    json_t *hubs;               /* owned: the live hubs at the last heartbeat */
    pn_list_t pending;          /* struct rclaim sent to Redis, oldest first */
    pn_list_t waiting;          /* struct rclaim not sent yet (the window is full), oldest first */
    size_t nsent;               /* claims in <pending> */
    uint64_t answered_ms;       /* when Redis last answered a claim */
    ev_timer_t *beat;           /* owned */
    int freeing;
    int in_claim;               /* inside the memory registry's claim of a key just granted */
    uint64_t claims, refused, conflicts;
    uint64_t lapses;            /* times its routes were found swept by others (claimed again) */
    hub_reg_remote_cb remote_cb;    /* NULL, or told of other hubs' routes */
    void *remote_arg;
} redis_reg_t;


/* A claim sent to Redis, waiting for its answer. */
struct rclaim {
    pn_list_t node;             /* in redis_reg.pending, or .waiting */
    redis_reg_t *g;
    struct hsess *s;            /* NULL: answered already or its session ended */
    hub_reg_claim_cb cb;
    void *arg;
    char *keys;                 /* owned: its <nkeys> route keys, each ended by a NUL */
    int nkeys;
    uint64_t since_ms;          /* sent to Redis (queued, while it waits) */
    size_t wlen;
    uint8_t wire[];             /* the claim as its ROUTE_ADD payload (its port filled in
                                 * when assigned here): a frame decoded is 2.6 KB, and a
                                 * hub may have thousands of claims waiting for Redis */
};

/* Whether a claim sent to Redis and not answered yet names <key> ("pn:r:..."). */
int hub_rr_claiming(const redis_reg_t *g, const char *key);

/** Route keys: "pn:r:tcp:8080", "pn:r:http:<host>", "pn:r:tcp~<group in hex>", into <k>. */
void hub_rr_key_port(char *k, uint8_t type, uint16_t port);
void hub_rr_key_host(char *k, uint8_t type, const char *host);
void hub_rr_key_group(char *k, uint8_t type, const char *group);
/** EVAL <script> with <nkeys> <keys> and <nargs> strings; <cb> NULL: errors logged. */
int hub_rr_eval(redis_reg_t *g, const char *script, hub_redis_reply_cb cb, void *arg, int nkeys,
                char keys[][KEY_MAX], int nargs, ...);
/** Give back those of <keys> that no local route holds. */
void hub_rr_release_unheld(redis_reg_t *g, char keys[][KEY_MAX], int nkeys);
/** The memory registry's events, kept in step in Redis (the watchers hear them too). */
void hub_rr_on_mem_event(hub_reg_event_t ev, struct hroute *r, struct hmember *m, void *arg);
/** Redis went up or down (hub_redis.h): up: heartbeat, then reconcile. */
void hub_rr_on_state(int up, void *arg);
/** A message of the channel pn:routes. */
void hub_rr_on_msg(const char *msg, size_t len, void *arg);
/** The heartbeat (and the sweep of dead hubs); <first>: the first on a new
 * connection to Redis (its caller claims every route again itself), else a
 * heartbeat found expired makes it do so. */
void hub_rr_beat(redis_reg_t *g, int first);
/** The accounts' limits shared with the other hubs, at each heartbeat
 *  (hub_reg_rquota.c). */
void hub_rr_quotas(redis_reg_t *g);
/** A reply of two integers >= 0 (HUB_LUA_SHARE's) into <first>, <second>;
 *  PN_ERR when it is not one. */
int hub_rr_pair(const struct redisReply *y, uint64_t *first, uint64_t *second);
/** Tell the remote watcher that another hub's route <route> (a key without
 *  "pn:r:") appeared (<add>) or went (tcp/udp ones). */
void hub_rr_remote_tell(redis_reg_t *g, int add, const char *route);
/** The peer= of the hub holding a route (ops.remote). */
int hub_rr_remote(hub_reg_t *base, uint8_t type, const char *host, uint16_t port, char *peer,
                  size_t cap);
/** The cluster view of the state line. */
json_t *hub_rr_state(hub_reg_t *base);

#endif
