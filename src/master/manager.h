/* master/manager.h: the manager side of a master (docs/master.md "Manager"):
 * the nodes it configures and reads, and the users it gives them.
 *
 *   users, nodes ──change──> version + 1 ──> push (node_sync.c): PUT /node/config
 *   to each node behind, concurrently, each with a deadline; again every
 *   sync interval for the nodes still behind
 *   pull timer ──> GET /node/stats of each node ──> deltas added to the users'
 *   and nodes' usage ──> a user past its quota (or disabled, expired) is pushed
 *   disabled; a node not pulled for the down time is `unavailable`
 *
 * Nodes and users are kept in the store (kind "node", "user") and announced as
 * `node` and `user` events. A node's token is a secret: never served, never
 * logged. */
#ifndef PN_MASTER_MANAGER_H
#define PN_MASTER_MANAGER_H

#include "core/ev.h"
#include "core/list.h"
#include "master/events.h"
#include "master/hclient.h"
#include "master/store.h"

#include <jansson.h>
#include <stdint.h>

#define PN_MGR_ERROR_LEN 200
#define PN_MGR_SAVE_MS 30000       /* usage stored at most this often (and at exit) */
#define PN_MGR_PULLS_MAX 16        /* pulls in flight at once: answers held in memory */
#define PN_MGR_SOON_MS 50          /* changes within this are pushed together */
#define PN_MGR_NAME_MAX 64         /* a user's name (as in the users file) */

enum pn_mstatus {
    PN_MST_UNKNOWN = 0,         /* "": not tried yet */
    PN_MST_AVAILABLE,           /* the last exchange succeeded */
    PN_MST_DIRTY,               /* reached only through the fallback route */
    PN_MST_UNAVAILABLE,         /* refused, unreachable, or not pulled for the down time */
};

typedef struct pn_manager pn_manager_t;

typedef struct pn_mnode {
    pn_list_t link;             /* in pn_manager.nodes */
    pn_manager_t *m;            /* back pointer */
    char id[9];
    char *name;                 /* owned, may be "" */
    char *address;              /* owned: an IP address */
    int port;
    char *prefix;               /* owned: the node's API prefix ("/api") */
    char path_config[96], path_stats[96];   /* <prefix>/v1/node/config, .../stats?form=rows */
    char *token;                /* owned secret: the node's API key */
    int tls;                    /* HTTPS to the node */
    char *ca;                   /* owned: a CA file (verify chain and address), or NULL */
    char *fingerprint;          /* owned: the pinned SHA-256 as given, or NULL */
    uint8_t pin[32];            /* its bytes */
    pn_tls_ctx_t *tls_ctx;      /* owned: the client context while <tls> */
    char *fb_host;              /* owned: the fallback route (an HTTP proxy), or NULL */
    int fb_port;
    char *fb_auth;              /* owned secret: its "user:password", or NULL */
    int push_fallback;          /* the push in flight goes through the fallback route */
    int pull_fallback;          /* the pull in flight goes through the fallback route */
    json_t *entrances, *tunnels;/* owned: arrays of {"name", "url"} (checked) */
    int64_t created;            /* Unix seconds */
    uint64_t usage;             /* bytes counted at this node since it was added */
    enum pn_mstatus push, pull;
    int64_t pushed_at, pulled_at;   /* Unix seconds of the last success, 0 = never */
    int64_t acked;              /* the version the node last said it applied */
    int64_t pushing;            /* the version in flight, 0 = none */
    char push_error[PN_MGR_ERROR_LEN], pull_error[PN_MGR_ERROR_LEN];
    char boot[40];              /* the node's boot id at the last pull */
    uint64_t *seen;             /* owned array of <nseen>: per user index (pn_manager.users),
                                   the bytes the node counted at the last pull */
    size_t nseen;
    int dirty;                  /* usage or <seen> moved since it was stored */
    uint64_t since_ms;          /* monotonic: added, or last pulled */
    pn_hclient_t *push_req, *pull_req;  /* owned while in flight */
    uint64_t pull_round;        /* the pull round it was last started in */
    size_t *rowidx;             /* owned array of <nrowidx>: per row of its last answer, the
                                   user index it named (checked before use: a cache) */
    size_t nrowidx;
} pn_mnode_t;

typedef struct pn_muser {
    char *name;                 /* owned */
    char *password, *key;       /* owned secrets (key may be NULL) */
    char group[33];             /* its group ("" none): the paths it may take (master/paths.h) */
    int enabled;
    uint64_t quota;             /* bytes; 0 = none */
    uint64_t usage;             /* bytes summed over every node */
    uint32_t rate, max_conns;   /* as in the users file; 0 = unlimited */
    int64_t created, expires;   /* Unix seconds; expires 0 = never */
    int active;                 /* as pushed: enabled, not expired, under its quota */
    int dirty;                  /* usage changed since it was stored */
} pn_muser_t;

struct pn_manager {
    ev_loop_t *loop;            /* borrowed, like store, events and name */
    pn_store_t *store;
    pn_events_t *events;
    char *const *name;          /* the master's display name: updated_by */
    pn_list_t nodes;            /* pn_mnode_t, owned */
    size_t nnodes;
    pn_muser_t **users;         /* owned array of <nusers> */
    size_t nusers, ucap;
    json_t *uindex;             /* owned: name -> index in <users> */
    int64_t version;            /* of the desired state; stored */
    ev_timer_t *sync, *pull, *soon;     /* owned; made by pn_sync_start (master/node_sync.h) */
    uint64_t sync_ms, pull_ms, down_ms, deadline_ms;
    size_t pushes, pulls;       /* requests in flight */
    uint64_t saved_ms;          /* monotonic: the last store of the usage */
    uint64_t pull_round;        /* pull rounds begun */
    uint64_t push_t0, pull_t0;  /* monotonic ms: when the first of them left */
    int quota_hit;              /* a pull took an active user to its quota */
    /* the relay entrance on this master (master/relay_m.h) */
    char *relay_url;            /* owned: a proxy:// URL without users= and via=, or NULL */
    char *relay_via;            /* owned: the via= list last applied, or NULL */
    int64_t relay_version;      /* of the local configuration */
    int64_t relay_users;        /* <version> when it was last applied */
    json_t *(*local_apply)(void *ctx, const char *text, size_t len, int *status, char *err,
                           char *field);    /* set by fleet.c: the relay's node agent */
    json_t *(*local_users)(void *ctx);      /* its per-user counters */
    void *local_ctx;
    uint64_t *local_seen;       /* owned: per user index, what local_users said last */
    json_t *paths;              /* owned: the paths (master/paths.h), with their keys */
    char *relay_sig;            /* owned secret: the local entrances last applied */
    size_t nlocal;
};

/** Make the manager and load its nodes and users from <store>; the intervals
 *  come from POSTERN_NODE_SYNC (10s), POSTERN_NODE_PULL (5s),
 *  POSTERN_NODE_DOWN (60s), POSTERN_NODE_DEADLINE (5s). Nothing is pushed or
 *  pulled before pn_sync_start(). Never NULL. */
pn_manager_t *pn_manager_new(ev_loop_t *loop, pn_store_t *store, pn_events_t *events,
                             char *const *name);
/** Cancel what is in flight, store the usage, free <m>. NULL is a no-op. */
void pn_manager_free_(pn_manager_t *m);
#define pn_manager_free(p) do { pn_manager_free_(p); (p) = NULL; } while (0)

/** The user <name>, or NULL. */
pn_muser_t *pn_manager_user(pn_manager_t *m, const char *name);
/** The node <id>, or NULL. */
pn_mnode_t *pn_manager_node(pn_manager_t *m, const char *id);
/** Add <u> (owned from now on), store it and announce it. */
void pn_manager_add_user(pn_manager_t *m, pn_muser_t *u);
/** Remove and free <u>. */
void pn_manager_del_user(pn_manager_t *m, pn_muser_t *u);
/** Free <u>, wiping its secrets. */
void pn_muser_free(pn_muser_t *u);
/** A new node record bound to <m>, not added yet. */
pn_mnode_t *pn_manager_node_new(pn_manager_t *m);
/** Free <n>, a record never added. */
void pn_manager_node_free(pn_mnode_t *n);
/** Abandon the push and pull of <n> in flight (no callback). */
void pn_mnode_cancel(pn_mnode_t *n);
/** Set the TLS of <n>: off, or on with the CA file <ca> (may be NULL: the
 *  system's store) or the pinned <fp> (<pin>; NULL: none). PN_ERR with <err>
 *  naming "ca" when the CA file is not usable (<n> then unchanged). */
int pn_mnode_set_tls(pn_mnode_t *n, int tls, const char *ca, const char *fp, const uint8_t *pin,
                     char *err);
/** Set (<host> NULL: clear) the fallback route of <n>. */
void pn_mnode_set_fallback(pn_mnode_t *n, const char *host, int port, const char *auth);
/** The TLS of a request to <n> in <buf>, or NULL for plain HTTP. */
const pn_hclient_tls_t *pn_mnode_tls(const pn_mnode_t *n, pn_hclient_tls_t *buf);
/** Set the API prefix of <n> (and its paths). */
void pn_mnode_set_prefix(pn_mnode_t *n, const char *prefix);
/** Add <n> (owned from now on), store it and announce it. */
void pn_manager_add_node(pn_manager_t *m, pn_mnode_t *n);
/** Remove and free <n>, cancelling its requests. */
void pn_manager_del_node(pn_manager_t *m, pn_mnode_t *n);

/** Announce an update of <u> (its usage moved; stored later in a batch). */
void pn_manager_user_announce(pn_manager_t *m, const pn_muser_t *u);
/** Store <u> and announce an update. */
void pn_manager_user_changed(pn_manager_t *m, pn_muser_t *u);
/** Store <n> and announce an update. */
void pn_manager_node_changed(pn_manager_t *m, pn_mnode_t *n);
/** Recompute each user's active flag; when the desired state changed (or
 *  <force>), raise the version (stored) and push soon. */
void pn_manager_bump(pn_manager_t *m, int force);
/** 1 when <u> is to be served by the nodes now (<now> Unix seconds). */
int pn_muser_is_active(const pn_muser_t *u, int64_t now);

/** The User object of the API (a new reference). */
json_t *pn_muser_json(const pn_muser_t *u);
/** The users as the nodes get them (users file entries; each active user
 *  enabled, the others disabled so that their connections close; quotas stay
 *  with the manager). A new reference. */
json_t *pn_manager_users_json(const pn_manager_t *m);
/** The Node object of the API (a new reference; no token). */
json_t *pn_mnode_json(const pn_mnode_t *n);
/** The name of a status: "", "available", "dirty", "unavailable". */
const char *pn_mstatus_name(enum pn_mstatus s);

/** Store the usage of every user and node whose usage moved (each kind in one
 *  transaction); at most every PN_MGR_SAVE_MS unless <now>. */
void pn_manager_store_usage(pn_manager_t *m, int now);
/** The counts of <n> moved: announce it; stored by pn_manager_store_usage. */
void pn_manager_node_moved(pn_manager_t *m, pn_mnode_t *n);
/** <arr>, an array of <*n> items of <size> bytes, grown (doubling, the new
 *  items' bytes set to <fill>) to hold <index>; *<n> updated. */
void *pn_mgr_grow(void *arr, size_t *n, size_t index, size_t size, int fill);
/** The bytes <n> counted for the user at <index> at the last pull, and a slot
 *  to set them (grown as needed). */
uint64_t *pn_mnode_seen(pn_mnode_t *n, size_t index);

#endif
