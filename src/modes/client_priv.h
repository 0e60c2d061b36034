/* modes/client_priv.h: the tunnel client's state, shared by client.c (the
 * tunnel client and the agent's session) and client_node.c (a proxy entrance's
 * node), and the set-up calls both use. Nothing else includes it. */
#ifndef PN_MODES_CLIENT_PRIV_H
#define PN_MODES_CLIENT_PRIV_H

#include "modes/client_hooks.h"
#include "modes/instance.h"
#include "modes/tunnel.h"
#include "relay/entry.h"
#include "relay/udp.h"
#include "tunnel/auth.h"
#include "tunnel/open.h"
#include "tunnel/transport.h"

#define BACKOFF_MIN_MS 1000

struct opening {
    pn_list_t node;             /* in client.opens */
    struct client *cl;          /* back pointer */
    tun_open_t *op;             /* owned until its callback */
    uint8_t id[PN_CONN_ID_LEN];
    uint8_t claimed;            /* reverse: the signal (PN_FT_TCP/UDP) already received, or 0 */
    uint32_t route;             /* the claimed exchange's route (agent), or 0 */
    pn_addr_t src, dst;         /* the claimed exchange's user and what it reached */
    char host[PN_TARGET_HOST_MAX + 1]; /* the claimed exchange's TARGET, or empty */
    uint16_t port;
};

struct client {
    pn_instance_t in;
    const pn_config_t *cfg;     /* borrowed */
    pn_addr_t server_addr;
    pn_addr_t *addrs;           /* owned: agent hubs=: the URL's address, then the others */
    size_t naddrs, cur;         /* <addrs> and the one in use (server_addr) */
    lb_set_t set;               /* reverse: our targets; owned */
    pn_addr_t src;
    int has_src;
    pn_addr_t listen_addr;      /* forward: where our users connect */
    uint8_t psk[TUN_PSK_LEN];
    pn_tls_ctx_t *psk_ctx;      /* owned */
    pn_tls_ctx_t *data_tls;     /* owned; made from the server's HELLO */
    int data_tls_mode;          /* which mode <data_tls> was made for, -1 none */
    const char *sni;            /* borrowed: cfg->sni or the server's host */
    tun_xport_client_t xc;      /* how connections travel (type=) */
    tun_open_t *ctrl_open;      /* owned: control connection being opened */
    pn_dns_req_t *lookup;       /* owned: the server's name being resolved again, or NULL */
    /* The session: side.sess.ctrl is NULL between control channels;
     * side.sess.ready once HELLO (and VERIFY when tls=1) arrived. */
    struct pn_mode_side side;
    pn_hello_t hello;
    uint8_t pin[PN_TLS_FP_LEN]; /* tls=1: the server's fingerprint */
    int has_pin, verify_sent;
    pn_list_t opens;            /* struct opening, each owned */
    size_t nopens;
    size_t target;              /* idle connections wanted */
    size_t min;                 /* the pool's floor (min=, or its default), at most hello.max */
    ev_timer_t *refill;         /* owned */
    ev_timer_t *tick;           /* owned: per-interval scaling and health */
    ev_timer_t *reconnect;      /* owned */
    uint64_t backoff_ms;
    pn_entry_t *user_entry;     /* owned; forward TCP, kept across sessions */
    udp_table_t *utable;        /* owned; forward UDP, kept across sessions */
    pn_client_hooks_t hooks;    /* an agent's (modes/agent.c); all NULL for a tunnel client */
    uint64_t open_fails;        /* data connections that failed since the last tick */
    char open_err[128];         /* the last one's reason */
    char issue[PN_INSTANCE_REASON_MAX]; /* the agent's degradation (pn_client_degraded), or "" */
    int embedded;               /* a proxy entrance's node (pn_client_embed): <in> is a shadow
                                 * on the entrance's loop; no listeners; never stops the loop */
    char vname[80];             /* embedded: "via <host>:<port>", its log name */
};

/** Fields every client starts with (<cl> zeroed before). */
void client_init(struct client *cl, const pn_config_t *cfg);
/** The transport to the server (type=, tls=, path=), SNI named; PN_ERR with <err>. */
int client_xport(struct client *cl, char *err);
/** The session side, its log name <who> and peer word <peer> (borrowed, kept). */
void client_side(struct client *cl, const char *who, const char *peer);
/** The refill, tick and reconnect timers on <loop>, and their end. */
void client_timers(struct client *cl, ev_loop_t *loop);
void client_timers_free(struct client *cl);
/** Start (or retry) the control connection. */
void client_connect(struct client *cl);
/** End the session: cancel the openings, forget the pool; reconnect unless stopping. */
void client_session_end(struct client *cl, const char *why);
/** Free what init and xport made (transport, keys, target set). */
void client_clear(struct client *cl);

#endif
