/* modes/hub_rcache.h: a clustered hub's cache of the routes other hubs hold
 * (hub_reg_redis.c keeps it in step with Redis's pub/sub): route key ->
 * owning hub, account, held flag. A chained hash table that doubles. */
#ifndef PN_MODES_HUB_RCACHE_H
#define PN_MODES_HUB_RCACHE_H

#include <stddef.h>

typedef struct hub_rentry {
    struct hub_rentry *next;    /* in its bucket */
    char hub[65];               /* the owning hub's id */
    char acct[65];              /* its account */
    int held;                   /* no member left: kept for the account */
    char key[];                 /* "tcp:8080", "http:app.example.com", "tcp~group" */
} hub_rentry_t;

#define HUB_RROUTE_MAX 270       /* a route key without "pn:r:": "https:" + a host name */

/* A message of the channel pn:routes: "+ <route> <held>|<hub>|<account>"
 * (claimed or changed) or "- <route> <hub>" (released). */
typedef struct hub_rmsg {
    int add;                    /* 1 for "+", 0 for "-" */
    char route[HUB_RROUTE_MAX + 1];
    char rest[160];             /* "+": the value; "-": the hub */
} hub_rmsg_t;

typedef struct hub_rcache {
    hub_rentry_t **b;           /* owned array of <nb> buckets */
    size_t nb, n;
} hub_rcache_t;

/** Empty <c> (no allocation until the first put). */
void hub_rcache_init(hub_rcache_t *c);
/** The entry of <key>, or NULL. */
hub_rentry_t *hub_rcache_get(const hub_rcache_t *c, const char *key);
/** Set <key> to <hub>, <acct>, <held> (added or replaced; fields cut to fit). */
void hub_rcache_put(hub_rcache_t *c, const char *key, const char *hub, const char *acct, int held);
/** Remove <key> if present and, when <hub> is not NULL, held by <hub>. 1 if removed. */
int hub_rcache_del(hub_rcache_t *c, const char *key, const char *hub);
/** Parse a stored value "<held>|<hub>|<account>" into <c> under <key>; PN_ERR when malformed. */
int hub_rcache_put_value(hub_rcache_t *c, const char *key, const char *val, size_t len);
/** Parse the channel message <msg> (<len> bytes, not NUL-terminated) into
 *  <out>; PN_ERR when malformed or too long (the message is then ignored). */
int hub_rcache_msg_parse(const char *msg, size_t len, hub_rmsg_t *out);
/** Free every entry (<c> stays usable, empty). */
void hub_rcache_clear(hub_rcache_t *c);

#endif
