/* modes/hub_types.h: the hub's types, shared by its files: hub.c (agents' sessions,
 * tcp/udp/https users, the run), hub_acct.c (accounts), hub_reg.c (the route
 * registry) and hub_http.c (the HTTP router). Types only: each file's
 * functions are in its own header. See docs/hub.md and docs/internals/modes.md. */
#ifndef PN_MODES_HUB_TYPES_H
#define PN_MODES_HUB_TYPES_H

#include "core/bucket.h"
#include "core/ev.h"
#include "core/list.h"
#include "core/stats.h"
#include "relay/entry.h"
#include "conf/hubconf.h"
#include "modes/instance.h"
#include "relay/link.h"
#include "relay/udp.h"
#include "tls/tls.h"
#include "tunnel/accept.h"
#include "tunnel/frame.h"
#include "tunnel/session.h"

#include <time.h>

struct hub;

/* An account of the accounts file, with its usage. Lives as long as the hub
 * (an account removed by a reload is kept, emptied, so pointers stay good). */
struct hacct {
    pn_list_t node;             /* in hub.accts */
    char name[65];
    char ident[64];             /* its PSK identity (docs/hub.md §5) */
    uint8_t psk[32];            /* a secret */
    int gone;                   /* removed from the file: refuses new sessions */
    uint32_t max_routes, max_conns, rps, mbps;
    pn_account_t allow;         /* its allowed ports and hosts (owned copies; no name, no token) */
    pn_stats_t st;              /* bytes, live TCP links and UDP sessions, drops */
    pn_bucket_t bw;             /* mbps */
    pn_bucket_t rq;             /* rps, in requests */
    uint64_t http_live;         /* HTTP connections being served */
    uint64_t tcp_pending;       /* tcp and https users waiting for a data connection */
    uint64_t requests;          /* HTTP requests routed */
    uint64_t elsewhere;         /* live connections on the other hubs of a cluster (max_conns
                                 * only), as Redis said at the last heartbeat (docs/hub.md §7) */
    uint64_t rq_mark, rq_mark_us; /* cluster rps: <requests> at the last heartbeat, when */
    uint64_t bw_mark, bw_mark_us; /* cluster mbps: <bw.taken> at the last heartbeat, when */
    uint64_t routes_live;       /* cluster max_routes: routes with an agent here (heartbeat) */
    uint64_t routes_elsewhere;  /* cluster max_routes: live routes on the other hubs, as
                                 * Redis said at the last heartbeat */
    uint64_t refused_rate, refused_conns, refused_routes;
    size_t nroutes, nsess;
};

/* A member of a route: one agent's registration of it. */
struct hmember {
    pn_list_t rnode;            /* in hroute.members */
    pn_list_t snode;            /* in hsess.members */
    struct hroute *route;
    struct hsess *sess;
    uint32_t id;                /* the agent's route id */
    int online;
};

/* One published thing: a port (tcp, udp) or a name (http, https). */
struct hroute {
    pn_list_t node;             /* the registry's (hub_reg.c) */
    struct hroute *hnext;       /* the registry's hash chain by type and port or host */
    struct hub *hub;
    uint8_t type;               /* PN_RT_* */
    uint16_t port;              /* tcp, udp */
    struct hrules *rules;       /* http: owned (hub_rules.c), NULL when the route has none */
    char group[PN_ROUTE_GROUP_MAX + 1]; /* tcp, udp: "" when none */
    uint8_t gkey[32];           /* SHA-256 of the group key */
    int has_gkey;
    struct hacct *acct;         /* the first member's account */
    pn_list_t members;          /* struct hmember */
    size_t nmembers;
    pn_list_t *cursor;          /* round robin: the member served last */
    uint64_t conns;             /* live exchanges (gauge) */
    uint64_t orphan_ms;         /* when its last member left (0 while it has members) */
    pn_entry_t *entry;          /* tcp: owned listener */
    udp_table_t *utable;        /* udp: owned listener */
    udp_group_t *udp;           /* udp: owned sessions */
    char host[];                /* http, https: the name (at most PN_ROUTE_HOST_MAX +
                                 * PN_ROUTE_PATH_MAX), allocated with the route; http path
                                 * routes: "<host><path>" (hub_rules.h); "" for tcp, udp */
};

/* An agent's session: the tunnel session (tunnel/session.h: control channel,
 * data channels, links, takes) and what the hub keeps beside it. */
struct hsess {
    pn_list_t node;             /* in hub.sessions */
    struct hub *hub;
    struct hacct *acct;
    uint64_t num;               /* "c<num>" in the state line */
    pn_addr_t peer;
    time_t since;
    tun_sess_t t;               /* its tag leads every data channel id; links counted in the account */
    pn_list_t members;          /* struct hmember (its routes) */
    pn_list_t https;            /* struct hx bound to this session (hub_http.c) */
    pn_list_t udp_pending;      /* first datagrams of new UDP users waiting for a data connection */
    int ending;
};

struct hx;

struct hub {
    pn_instance_t in;
    const pn_config_t *cfg;     /* borrowed */
    pn_accounts_t accounts;     /* owned: the file as read last */
    pn_list_t accts;            /* struct hacct, owned */
    pn_list_t sessions;         /* struct hsess, owned */
    struct hub_reg *reg;        /* owned: the route registry (hub_reg.h) */
    struct hub_peer *peer;      /* owned: links to the other hubs (hub_peer.h), or NULL */
    pn_list_t https_conns;      /* TLS users waiting for their ClientHello, owned */
    pn_list_t http_conns;       /* HTTP users (struct hx), owned */
    pn_list_t h2_conns;         /* HTTP/2 users (hub_h2.c), owned */
    pn_list_t tls_hs;           /* terminated TLS users in their handshake (hub_tls.c), owned */
    uint64_t next_sess;
    size_t tcp_waiting;         /* tcp users waiting for a data connection */
    uint64_t refused;           /* connections refused outside any account (handshakes, no route) */
    pn_prom_hist_t http_hist;   /* HTTP requests: routed to the first byte of the response head */
    pn_addr_t tunnel_addr, public_addr;
    pn_tls_ctx_t *psk_ctx;      /* owned: looks up accounts */
    pn_tls_ctx_t *data_tls;     /* owned, NULL for tls=0 */
    struct pn_tls_certs *certs; /* owned: certs= (tls/certs.h), NULL when https= only relays */
    uint8_t fp[PN_TLS_FP_LEN];
    uint8_t quic_key[32];       /* type=1's stateless reset key (hub_qkey.c); never logged */
    tun_accept_t *tunnel;       /* owned: the tunnel port */
    pn_entry_t *http_entry, *https_entry;   /* owned */
    ev_timer_t *tick;           /* owned: pool health, state line */
};

#endif
