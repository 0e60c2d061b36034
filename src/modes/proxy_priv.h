/* modes/proxy_priv.h: the proxy entrance's shared state (docs/proxy.md),
 * private to modes/proxy*.c.
 *
 *   user --accept--> pconn (head: SOCKS5 or HTTP, by the first byte, under a
 *                    deadline) --auth: puser--> resolve --> allow? --> dial
 *                    --> relay (splice; the user's counters and bucket)
 *                    or a UDP association (modes/proxy_udp.c)
 *
 * Users (struct puser) live until the mode stops: a reload updates them in
 * place, so their counters are never reset and pointers stay good. */
#ifndef PN_MODES_PROXY_PRIV_H
#define PN_MODES_PROXY_PRIV_H

#include "conf/users.h"
#include "core/list.h"
#include "modes/instance.h"
#include "relay/entry.h"
#include "relay/relay.h"
#include "route/socks.h"
#include "tls/ss.h"
#include "tunnel/guard.h"

struct passoc;
struct proxy_ssu;
struct proxy_via;
struct pconn;
struct tun_take;
struct tun_sess;

#define PROXY_AUTH_FAILS 10         /* failed authentications per source per window before a ban */
#define PROXY_AUTH_WINDOW_MS 10000
#define PROXY_AUTH_BAN_MS 10000

typedef struct puser {
    pn_user_spec_t spec;        /* owned: the user as the file says now (secrets) */
    int live;                   /* in the file as last read */
    pn_bucket_t bucket;         /* rate=, or what is left of quota= */
    pn_bucket_t *limit;         /* &bucket, or NULL when neither is set */
    uint64_t up, down;          /* bytes from and to the user, TCP and UDP, since start */
    uint64_t total;             /* connections admitted since start */
    uint64_t refused;           /* refusals: bad password, disabled, quota, max_conns */
    uint32_t open;              /* connections (and associations) open now */
    int over;                   /* the quota is used up */
    pn_list_t conns;            /* struct pconn being relayed for this user */
    uint8_t ss_key[PN_SS_KEY_LEN]; /* secret: the Shadowsocks key of spec.key */
} puser_t;

typedef struct proxy {
    pn_instance_t in;
    pn_entry_t *entry;          /* owned */
    puser_t **users;            /* owned array of <nusers>, each owned */
    size_t nusers;
    pn_cidr_t *allow;           /* owned: internal networks allowed as destinations */
    size_t nallow;
    tun_guard_t guard;          /* failed authentications per source */
    pn_dns_t *dns;              /* owned: resolves destination names */
    pn_list_t heads;            /* struct pconn before its relay */
    ev_timer_t *tick;           /* owned: quota checks */
    ev_defer_t *hup;            /* owned: SIGHUP re-reads the users file */
    pn_ratelim_t fail_log;      /* "authentication failed" notes, once a second */
    pn_entry_t *ss_entry;       /* owned: the Shadowsocks port (ss=), or NULL */
    struct proxy_ssu *ssu;      /* owned: its UDP relay (modes/proxy_ss_udp.c), or NULL */
    pn_ss_method_t ss_method;   /* method= */
    uint8_t (*ss_keys)[PN_SS_KEY_LEN]; /* owned secrets: the live users' keys, in file order */
    puser_t **ss_who;           /* owned array: whose key each is (borrowed users) */
    size_t nss;
    uint64_t *ss_seen[2];       /* owned: fingerprints of recent salts (this and the last
                                 * generation, open addressing), NULL before the first */
    size_t ss_nseen;            /* entries in ss_seen[0] */
    struct proxy_via *via;      /* owned: via= nodes (modes/proxy_egress.c), or NULL: direct */
    void (*via_dial)(struct pconn *c); /* with <via>: sends an admitted connection through a
                                 * node (set by proxy_via_start; the head calls it) */
    int (*via_take)(struct proxy *p, int udp, struct tun_sess **sess, struct tun_take **take,
                    void (*cb)(pn_xprt_t *data, const uint8_t *id, void *arg), void *arg);
                                /* with <via>: pick a node by lbs= among those up that
                                 * carry TCP (UDP when <udp>), set *<sess> to its session
                                 * and take one of its data channels for <cb>(data or
                                 * NULL, id, <arg>), which may run inside the call (then
                                 * *<take> is NULL and <arg> may be gone). PN_ERR when no
                                 * node is up (no call). Set by proxy_via_start. */
} proxy_t;

enum pconn_state {
    PC_GREET = 0,               /* first bytes */
    PC_AUTH,                    /* SOCKS5: RFC 1929 request */
    PC_REQ,                     /* SOCKS5: the request */
    PC_HTTP,                    /* HTTP: the head */
    PC_DIAL,                    /* resolving or connecting */
    PC_RELAY,                   /* relaying (c->relay) */
    PC_UDP,                     /* SOCKS5 UDP ASSOCIATE, a Shadowsocks UDP session (c->udp) */
    PC_SS,                      /* Shadowsocks: salt and first chunk */
};

typedef struct pconn {
    pn_list_t link;             /* in p->heads, then in u->conns */
    proxy_t *p;                 /* borrowed */
    puser_t *auth;              /* borrowed: the user who authenticated, not yet admitted */
    puser_t *u;                 /* borrowed: the user once admitted (counted in u->open) */
    pn_xprt_t *x;               /* owned until given to the relay */
    pn_addr_t peer, local;
    enum pconn_state st;
    int http;                   /* the HTTP proxy side (else SOCKS5) */
    int ss;                     /* the Shadowsocks side (ss=) */
    pn_ss_aead_t *ss_dec;       /* owned: opens the client's stream once its key is known */
    int guarded;                /* counted as pending in p->guard */
    pn_gate_t *gate;            /* borrowed: its port's admission (net/gate.h) */
    pn_admit_ent_t adm;         /* in <gate> until its head is done */
    uint8_t *buf;               /* owned: bytes read in the head phase */
    size_t n;
    ev_timer_t *deadline;       /* owned: head, then dial, deadline */
    socks_dest_t dest;          /* where the user goes */
    uint8_t *fwd;               /* owned: bytes for the destination first, or NULL */
    size_t fwd_len;
    pn_dns_req_t *dns;          /* owned: the pending resolution */
    int dfd;                    /* owned: the connecting socket, or -1 */
    ev_io_t *dio;               /* owned: its watcher */
    relay_t *relay;             /* owned while relaying */
    void *udp;                  /* owned: the UDP association (SOCKS5), or a Shadowsocks
                                 * UDP session */
    void (*udp_free)(void *a);  /* frees <udp> (set with it) */
    struct tun_sess *via_sess;  /* borrowed: via=, the chosen node's tunnel session */
    struct tun_take *take;      /* owned: via=, the data channel being taken */
    pn_xprt_t *via_x;           /* owned: via=, the node's data channel until the relay */
    uint8_t *res;               /* owned: via=, the node's RESULT frame as it arrives, or NULL */
    size_t res_n;
} pconn_t;

/* modes/proxy_user.c */
/** The user named <name> (live or not), or NULL. */
puser_t *proxy_user_find(proxy_t *p, const char *name);
/** Close every connection of <u>. */
void proxy_user_close_all(puser_t *u);
/** The user named <name> whose password is <pass> (compared in constant
 *  time), or NULL; counts the refusal and the failed source. */
puser_t *proxy_auth(proxy_t *p, pconn_t *c, const char *name, const char *pass);
/** Why <u> may not open one more connection now ("disabled", "over quota",
 *  "too many connections"), counted as a refusal; NULL when it may (then
 *  counted in u->open until pconn_free). */
const char *proxy_admit(proxy_t *p, puser_t *u);
/** Nonzero when <a> may be dialed: public, or inside allow=. */
int proxy_dest_allowed(const proxy_t *p, const pn_addr_t *a);
/** Close <c> and everything it holds. */
void pconn_free(pconn_t *c);

/* modes/proxy_head.c */
/** Take the accepted connection <x> from <peer> to <local>. */
void proxy_on_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg);

/** A user's connection <x> from <peer> to <local> in its head phase (the
 *  handshake deadline armed, not watched yet), or NULL when the source is
 *  refused (then <x> is freed). */
pconn_t *proxy_conn_new(proxy_t *p, pn_gate_t *gate, pn_xprt_t *x, const pn_addr_t *peer,
                        const pn_addr_t *local);
/** Admit the authenticated <c> with the <n> bytes <rest> for the destination
 *  first. PN_ERR when refused (then freed). */
int proxy_conn_admit(pconn_t *c, const uint8_t *rest, size_t n);
/** Resolve, check and dial the destination of the admitted <c>, then relay. May free <c>. */
void proxy_conn_connect(pconn_t *c);
/** Refuse <c> with a log line naming <why> and close it (no reply on the Shadowsocks side). */
void proxy_conn_refuse(pconn_t *c, const char *why);

/** Refuse <c> with the SOCKS reply <rep>, the HTTP status <code> and a log line. */
void proxy_conn_fail(pconn_t *c, int rep, int code, const char *why);
/** Relay <c> with its destination connected (c->dfd, or the node's channel c->via_x). */
void proxy_conn_relay(pconn_t *c);

/* modes/proxy_egress.c */
/** With via=, embed a tunnel client per node on the loop. PN_ERR with <err>
 *  (then proxy_via_free still frees what was made). */
int proxy_via_start(proxy_t *p, char *err);
/** End the nodes' tunnels and free them. No-op without via=. */
void proxy_via_free(proxy_t *p);

/* modes/proxy_user.c */
/** Read the node's RESULT frame (docs/protocol.md §6.5) from <x> into <buf>
 *  (PN_RESULT_MAX bytes, *<n> of them read so far), no byte past it: PN_OK
 *  with *<code> and <reason>, PN_AGAIN (wait for x->want), or PN_ERR + <why>
 *  (malformed, or the channel closed first). */
int proxy_result_read(pn_xprt_t *x, uint8_t *buf, size_t *n, uint8_t *code, char *reason,
                      const char **why);

/* modes/proxy_ss.c */
/** Take the accepted connection <x> on the Shadowsocks port (ss=). */
void proxy_ss_on_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg);

/* modes/proxy_ss_udp.c */
/** Serve Shadowsocks UDP on <at> (ss='s address). PN_ERR with <err>. */
int proxy_ssu_start(proxy_t *p, const pn_addr_t *at, char *err);
/** Take no new source from now on (graceful shutdown). */
void proxy_ssu_drain(proxy_t *p);
/** End its sessions and close it. No-op without one. */
void proxy_ssu_free(proxy_t *p);

/* modes/proxy_udp.c */
/** How an association answers its user: the datagram <d> (<n> bytes) came
 *  from the address <hdr> (<hl> bytes of ATYP ADDR PORT, SOCKS5's form). */
typedef void (*proxy_udp_reply_fn)(void *ctx, const uint8_t *hdr, size_t hl, const uint8_t *d,
                                   size_t n);
/** Start the UDP association of <c> (authenticated, request parsed); replies
 *  to the user. PN_ERR when it cannot (c is then to be freed). */
int proxy_udp_start(pconn_t *c);
/** An association for the admitted <c> whose answers go to <reply>(<ctx>)
 *  (the Shadowsocks UDP relay's). Never NULL; freed by proxy_udp_free. */
struct passoc *proxy_udp_assoc_new(pconn_t *c, proxy_udp_reply_fn reply, void *ctx);
/** Send the datagram <p> (<n> bytes) of <a> to <d>: directly (a name resolved
 *  here, allow= checked), or through a node with via=. */
void proxy_udp_assoc_send(struct passoc *a, const socks_dest_t *d, const uint8_t *p, size_t n);
/** Close an association (a struct passoc). NULL is a no-op. */
void proxy_udp_free(void *a);

/* modes/proxy_udp_via.c */
#define PROXY_UDP_VIA_MAX 16        /* destinations at once per association, through nodes */
/** Send the datagram <p> (<n> bytes) of <c>'s association to <d> through a
 *  node: the tunnel UDP session of that destination in <sessions>, made on
 *  first use; answers go to <reply>(<ctx>) (outliving <sessions>). Dropped
 *  and counted when over a bound. */
void proxy_udp_via_send(pconn_t *c, pn_list_t *sessions, proxy_udp_reply_fn reply, void *ctx,
                        const socks_dest_t *d, const uint8_t *p, size_t n);
/** End every session in <sessions>. */
void proxy_udp_via_close(pn_list_t *sessions);

#endif
