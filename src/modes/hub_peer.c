/* modes/hub_peer.c: modes/hub_peer.h.
 *
 * The header B sends once the TLS handshake is done (then nothing until A's
 * one-byte answer, so that A's reads end exactly at the header and no user
 * byte waits decrypted inside A's TLS buffer):
 *
 *   "PNH1" | len u16 (big endian, <= HDR_MAX) | type u8 | port u16 | hostlen u8 | host | src text
 *
 * <src> is the user's "ip:port" as B saw it. A answers 'K' and hands the
 * link to its http=, https= or tcp route user path, or 'N' and closes.
 *
 * Multiplexed: B keeps one link to each hub it carried a user to whose header
 * has type HDR_MUX; after A's 'K' both ends run HTTP/2 on it (tls/h2_mux.h) and
 * each later user is a stream of it, with the same header and answer, so that a
 * user costs no TCP or TLS handshake. Users that come while it is being set up
 * get a link of their own. */
#include "modes/hub_peer.h"
#include "modes/hub_acct.h"
#include "modes/hub_reg.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/url.h"
#include "net/sock.h"
#include "tls/digest.h"
#include "tls/h2_mux.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HDR_MAX 512
#define PSK_LABEL "postern/cluster-psk/v1"
#define HDR_MUX 0xff            /* header type: this link becomes a multiplexed carrier */
#define MUX_PATH "/postern-hub"
#define POOL_RETRY_MS 1000      /* after a failed carrier, no new one before */

/* B: the multiplexed carrier to one other hub (its peer= address). */
typedef struct ppool {
    pn_list_t node;             /* in hub_peer.pools */
    pn_addr_t peer;
    pn_h2_mux_t *mux;           /* a reference: the carrier, once set up */
    struct pconn *dialing;      /* the carrier being set up */
    uint64_t failed_ms;         /* when a carrier last failed */
} ppool_t;

typedef struct plisten {
    pn_list_t node;             /* in hub_peer.listens */
    struct hub_peer *p;
    uint8_t type;               /* PN_RT_TCP or PN_RT_UDP */
    uint16_t port;
    pn_entry_t *entry;          /* owned: tcp */
    udp_table_t *table;         /* owned: udp, its users' datagrams */
    udp_group_t *group;         /* owned: udp, their sessions (each over its own link) */
} plisten_t;

struct hub_peer {
    hub_peer_env_t env;
    pn_tls_ctx_t *srv, *cli;    /* owned: PSK contexts */
    int lfd;                    /* owned: peer= */
    pn_addr_t laddr;            /* peer= as bound */
    ev_io_t *lio;               /* owned */
    pn_list_t conns;            /* struct pconn, owned */
    pn_list_t listens;          /* plisten_t, owned */
    pn_list_t pools;            /* ppool_t, owned */
    pn_list_t muxes;            /* carriers other hubs set up here (pn_h2_mux_server) */
    pn_stats_t stats;
    pn_links_t links;           /* forwarded users' relays (this hub's side) */
    pn_ratelim_t refuse_log;    /* refused peers, once a second */
    int draining;               /* the hub drains: no new listener */
};

enum pconn_state {
    PC_CONNECT = 0,             /* B: TCP connect in progress */
    PC_HANDSHAKE,               /* TLS handshake (both sides) */
    PC_HEADER,                  /* A: reading the header; B: writing it */
    PC_ANSWER,                  /* B: waiting for 'K' / 'N' */
};

/* One hub-to-hub connection before it is handed over: accepted (A) or dialed (B). */
struct pconn {
    pn_list_t node;             /* in hub_peer.conns */
    hub_peer_t *p;
    int dialed;                 /* B side */
    enum pconn_state st;
    int fd;                     /* PC_CONNECT only; then owned by <x> */
    ev_io_t *io;                /* owned during PC_CONNECT */
    pn_xprt_t *x;               /* owned: the TLS link */
    ev_timer_t *deadline;       /* owned: handshake and header, from accept / dial */
    pn_addr_t peer;             /* the other hub */
    pn_addr_t src, dst;         /* the user, and the address it reached */
    pn_xprt_t *user;            /* B: owned until handed to the relay */
    uint8_t *pre;               /* B: owned copy of what the user sent already */
    size_t pre_len;
    plisten_t *udp;             /* B, a udp user: its listener (the session starts there) */
    ppool_t *pool;              /* B: the carrier this link is to become (no user) */
    uint8_t hdr[HDR_MAX + 6];
    size_t hlen, hoff;          /* bytes in <hdr>; written (B) */
};

static void
pconn_free(struct pconn *c)
{
    if (c->pool != NULL) {
        c->pool->dialing = NULL;
        c->pool->failed_ms = pn_now_ms();
    }
    pn_list_del(&c->node);
    ev_io_free(c->io);
    if (c->fd != -1)
        close(c->fd);
    pn_xprt_free(c->x);
    pn_xprt_free(c->user);
    ev_timer_free(c->deadline);
    free(c->pre);
    free(c);
}

static void
refuse(struct pconn *c, const char *why)
{
    char a[PN_ADDRSTRLEN];
    uint64_t held;
    if (pn_ratelim_pass(&c->p->refuse_log, pn_now_ms(), &held))
        log_warn("cluster: hub link %s %s: %s", c->dialed ? "to" : "from",
                 pn_addr_str(&c->peer, a), why);
    pconn_free(c);
}

static long
on_deadline(ev_timer_t *t, void *arg)
{
    struct pconn *c = arg;
    (void)t;
    c->deadline = NULL;         /* freed by the loop after this returns STOP */
    ev_timer_free_(t);
    refuse(c, "no handshake and header within the handshake timeout");
    return EV_TIMER_STOP;
}

/* ---- A: a hub's user carried here ---- */

/* A: a udp user carried here, waiting for a data connection of the member chosen. */
struct pudp {
    hub_peer_t *p;
    pn_xprt_t *x;               /* owned: the link, datagrams length-framed */
    struct hsess *sess;         /* the member's session (its takes run before it ends) */
    uint32_t mid;
    pn_addr_t src, dst;
};

static void
on_udp_data(pn_xprt_t *data, const uint8_t *id, void *arg)
{
    struct pudp *u = arg;
    struct hmember *m = data != NULL ? hub_reg_member(u->p->env.reg, u->sess, u->mid) : NULL;
    if (m == NULL || hub_signal(m, PN_FT_UDP, id, &u->src, &u->dst) != PN_OK) {
        pn_xprt_free(data);
        pn_xprt_free(u->x);
        free(u);
        return;
    }
    /* The same framing both ways: the link's bytes go to the agent as they are. */
    pn_link_info_t info = { .src = u->src, .dst = u->dst };
    pn_link_pair(&m->sess->t.links, u->x, data, &info);
    free(u);
}

/* A: a udp route's user from another hub: 'K', then a data connection of a member. */
static int
accepted_udp(struct pconn *c, uint16_t port)
{
    hub_peer_t *p = c->p;
    struct hroute *r = hub_reg_by_port(p->env.reg, PN_RT_UDP, port);
    struct hmember *m = r != NULL && r->utable != NULL ? hub_reg_pick(p->env.reg, r) : NULL;
    char answer = 'K';
    if (m == NULL || !hub_acct_admit(m->sess->acct) || c->x->ops->write(c->x, &answer, 1) != 1)
        return PN_ERR;
    struct pudp *u = xcalloc(sizeof(*u));
    u->p = p;
    u->x = c->x;
    u->sess = m->sess;
    u->mid = m->id;
    u->src = c->src;
    u->dst = *udp_table_local(r->utable);
    c->x = NULL;
    pn_xprt_unwatch(u->x);
    pconn_free(c);
    (void)tun_sess_take(&m->sess->t, on_udp_data, u);
    return PN_OK;
}

static void step(struct pconn *c);
static struct pconn *pconn_new(hub_peer_t *p, int dialed, const pn_addr_t *peer);

/* A: a user on a stream of another hub's carrier: its header and answer follow, as on a link. */
static void
on_stream(pn_xprt_t *x, void *arg)
{
    hub_peer_t *p = arg;
    pn_h2_mux_t *m = pn_h2_mux_of(x);
    pn_addr_t peer = { .len = sizeof(peer.ss) };
    int fd = m != NULL ? pn_h2_mux_fd(m) : -1;
    if (p->draining || fd == -1 ||
        getpeername(fd, (struct sockaddr *)&peer.ss, &peer.len) != 0) {
        pn_xprt_free(x);
        return;
    }
    struct pconn *c = pconn_new(p, 0, &peer);
    c->dst.len = sizeof(c->dst.ss);
    if (getsockname(fd, (struct sockaddr *)&c->dst.ss, &c->dst.len) != 0)
        c->dst.len = 0;
    c->x = x;
    c->st = PC_HEADER;
    step(c);
}

/* A: another hub's carrier: 'K', then HTTP/2 on it, each of its streams a user. */
static void
accepted_mux(struct pconn *c)
{
    char answer = 'K';
    if (c->p->draining || c->x->ops->write(c->x, &answer, 1) != 1) {
        pconn_free(c);
        return;
    }
    pn_xprt_t *x = c->x;
    c->x = NULL;
    pn_xprt_unwatch(x);
    pn_h2_mux_server(c->p->env.loop, x, MUX_PATH, on_stream, c->p, &c->p->muxes);
    pconn_free(c);
}

/* The header is whole in c->hdr: hand the link over, or refuse. */
static void
accepted(struct pconn *c)
{
    hub_peer_t *p = c->p;
    const uint8_t *h = c->hdr + 6;
    size_t len = c->hlen - 6;
    char host[PN_ROUTE_HOST_MAX + 1], src[PN_ADDRSTRLEN], *sh = NULL, *sp = NULL, err[PN_ERR_LEN];
    if (len < 4 || (size_t)h[3] + 4 > len || h[3] > PN_ROUTE_HOST_MAX ||
        len - 4 - h[3] >= sizeof(src)) {
        refuse(c, "malformed header");
        return;
    }
    uint8_t type = h[0];
    uint16_t port = (uint16_t)(h[1] << 8 | h[2]);
    memcpy(host, h + 4, h[3]);
    host[h[3]] = '\0';
    memcpy(src, h + 4 + h[3], len - 4 - h[3]);
    src[len - 4 - h[3]] = '\0';
    c->src = c->peer;
    if (pn_hostport_split(src, &sh, &sp, err) == PN_OK && pn_addr_parse_ip(sh, &c->src) == PN_OK)
        pn_addr_set_port(&c->src, (uint16_t)strtoul(sp, NULL, 10));
    free(sh);
    free(sp);
    if (type == HDR_MUX) {
        accepted_mux(c);
        return;
    }
    if (type == PN_RT_UDP) {
        if (accepted_udp(c, port) != PN_OK) {
            log_info("cluster: a hub asked for udp port %u, not held here", (unsigned)port);
            pconn_free(c);
        }
        return;
    }
    struct hroute *r = NULL;
    pn_entry_cb cb = NULL;
    void *arg = p->env.hub;
    if (type == PN_RT_HTTP && p->env.cfg->http_listen != NULL &&
        hub_reg_by_host(p->env.reg, PN_RT_HTTP, host) != NULL)
        cb = p->env.http_user;
    else if (type == PN_RT_HTTPS && p->env.cfg->https_listen != NULL &&
             hub_reg_by_host(p->env.reg, PN_RT_HTTPS, host) != NULL)
        cb = p->env.https_user;
    else if (type == PN_RT_TCP && (r = hub_reg_by_port(p->env.reg, PN_RT_TCP, port)) != NULL &&
             r->entry != NULL)
        cb = p->env.tcp_user, arg = r;
    char answer = cb != NULL ? 'K' : 'N';
    if (c->x->ops->write(c->x, &answer, 1) != 1 || cb == NULL) {
        log_info("cluster: a hub asked for %s %s%s%.0u, not held here", pn_conf_route_type_name(type),
                 host, port ? "port " : "", (unsigned)port);
        pconn_free(c);
        return;
    }
    pn_xprt_t *x = c->x;
    c->x = NULL;
    pn_xprt_unwatch(x);
    pn_addr_t src_addr = c->src, dst = c->dst;
    pconn_free(c);
    cb(x, &src_addr, &dst, arg);
}

/* A: read the header exactly (its length first), never beyond it. */
static int
read_header(struct pconn *c)
{
    for (;;) {
        size_t need = c->hlen < 6 ? 6 : 6 + (size_t)(c->hdr[4] << 8 | c->hdr[5]);
        if (c->hlen >= 6 && (memcmp(c->hdr, "PNH1", 4) != 0 || need > sizeof(c->hdr)))
            return PN_ERR;
        if (c->hlen == need)
            return need == 6 ? PN_ERR : PN_OK;
        ssize_t n = c->x->ops->read(c->x, c->hdr + c->hlen, need - c->hlen);
        if (n == PN_AGAIN)
            return PN_AGAIN;
        if (n <= 0)
            return PN_ERR;
        c->hlen += (size_t)n;
    }
}

/* ---- B: carrying a user to the hub that holds its route ---- */

static void
handed(struct pconn *c)
{
    if (c->pool != NULL) {      /* the carrier: HTTP/2 from now on, users are its streams */
        pn_xprt_t *x = c->x;
        c->x = NULL;
        pn_xprt_unwatch(x);
        ppool_t *pl = c->pool;
        pl->mux = pn_h2_mux_client(c->p->env.loop, x, MUX_PATH, "hub", 1);
        pl->failed_ms = 0;
        pl->dialing = NULL;
        c->pool = NULL;
        pconn_free(c);
        return;
    }
    if (c->udp != NULL) {
        /* The link carries this user's datagrams length-framed, as a data channel. */
        pn_xprt_t *x = c->x;
        c->x = NULL;
        pn_xprt_unwatch(x);
        udp_sess_from_entry(udp_sess_new_peer(c->udp->table, &c->src, -1, x), c->pre,
                            c->pre_len);
        pconn_free(c);
        return;
    }
    pn_link_info_t info = { .src = c->src, .dst = c->dst, .pre = c->pre, .pre_len = c->pre_len };
    pn_xprt_t *u = c->user, *x = c->x;
    c->user = c->x = NULL;
    pn_xprt_unwatch(x);
    pn_xprt_unwatch(u);
    pn_link_pair(&c->p->links, u, x, &info);
    pconn_free(c);
}

static void on_link(pn_xprt_t *x, int ready, void *arg);

/* Drive <c> as far as it goes; it may be freed. */
static void
step(struct pconn *c)
{
    int rc;
    if (c->st == PC_HANDSHAKE) {
        rc = pn_tls_xprt_handshake(c->x);
        if (rc == PN_AGAIN) {
            pn_xprt_watch(c->x, c->p->env.loop, c->x->want, on_link, c);
            return;
        }
        if (rc != PN_OK) {
            refuse(c, "TLS handshake failed (a wrong cluster secret on one side?)");
            return;
        }
        c->st = PC_HEADER;
    }
    if (c->st == PC_HEADER && !c->dialed) {
        rc = read_header(c);
        if (rc == PN_AGAIN) {
            pn_xprt_watch(c->x, c->p->env.loop, c->x->want ? c->x->want : EV_RD, on_link, c);
            return;
        }
        if (rc != PN_OK) {
            refuse(c, "malformed or missing header");
            return;
        }
        accepted(c);
        return;
    }
    if (c->st == PC_HEADER) {
        while (c->hoff < c->hlen) {
            ssize_t n = c->x->ops->write(c->x, c->hdr + c->hoff, c->hlen - c->hoff);
            if (n == PN_AGAIN) {
                pn_xprt_watch(c->x, c->p->env.loop, c->x->want, on_link, c);
                return;
            }
            if (n <= 0) {
                refuse(c, "the link closed");
                return;
            }
            c->hoff += (size_t)n;
        }
        c->st = PC_ANSWER;
    }
    if (c->st == PC_ANSWER) {
        char a;
        ssize_t n = c->x->ops->read(c->x, &a, 1);
        if (n == PN_AGAIN) {
            pn_xprt_watch(c->x, c->p->env.loop, c->x->want ? c->x->want : EV_RD, on_link, c);
            return;
        }
        if (n != 1 || a != 'K') {
            refuse(c, n == 1 ? "the route is not held there (any more)" : "the link closed");
            return;
        }
        handed(c);
    }
}

static void
on_link(pn_xprt_t *x, int ready, void *arg)
{
    (void)x;
    (void)ready;
    step(arg);
}

static void
on_connected(int fd, int ready, void *arg)
{
    struct pconn *c = arg;
    (void)ready;
    ev_io_free(c->io);
    if (pn_sock_error(fd) != 0) {
        refuse(c, "cannot connect");
        return;
    }
    c->fd = -1;
    c->x = pn_tls_xprt_new(fd, pn_tls_client_ssl(c->p->cli, NULL));
    c->st = PC_HANDSHAKE;
    step(c);
}

static struct pconn *
pconn_new(hub_peer_t *p, int dialed, const pn_addr_t *peer)
{
    struct pconn *c = xcalloc(sizeof(*c));
    c->p = p;
    c->dialed = dialed;
    c->fd = -1;
    c->peer = *peer;
    c->deadline = ev_timer_new(p->env.loop, on_deadline, c);
    ev_timer_arm(c->deadline, p->env.cfg->handshake_ms);
    pn_list_add(&p->conns, &c->node);
    return c;
}

/* A new link to the hub at <a> (connecting, then TLS); NULL, logged, if it cannot start. */
static struct pconn *
dial(hub_peer_t *p, const pn_addr_t *a)
{
    char err[PN_ERR_LEN], s[PN_ADDRSTRLEN];
    int fd = pn_dial_tcp(a, NULL, err);
    if (fd == -1) {
        log_warn("cluster: cannot reach hub %s: %s", pn_addr_str(a, s), err);
        return NULL;
    }
    pn_sock_tune(fd);           /* no Nagle: the header and the answer are small writes */
    struct pconn *c = pconn_new(p, 1, a);
    c->fd = fd;
    c->io = ev_io_new(p->env.loop, fd, on_connected, c);
    ev_io_set(c->io, EV_WR);
    return c;
}

static ppool_t *
pool_get(hub_peer_t *p, const pn_addr_t *a)
{
    for (pn_list_t *q = p->pools.next; q != &p->pools; q = q->next) {
        ppool_t *pl = pn_container_of(q, ppool_t, node);
        if (pn_addr_equal(&pl->peer, a))
            return pl;
    }
    ppool_t *pl = xcalloc(sizeof(*pl));
    pl->peer = *a;
    pn_list_add(&p->pools, &pl->node);
    return pl;
}

static void header(struct pconn *c, uint8_t type, const char *host, uint16_t port,
                   const pn_addr_t *src);

/* A stream of <pl>'s carrier to its hub, or NULL when there is none yet (then one
 * is set up, unless draining or a carrier failed within POOL_RETRY_MS). */
static pn_xprt_t *
pool_stream(hub_peer_t *p, ppool_t *pl)
{
    if (pl->mux != NULL && !pn_h2_mux_alive(pl->mux)) {
        pn_h2_mux_unref(pl->mux);
        pl->mux = NULL;
    }
    pn_xprt_t *x = pl->mux != NULL ? pn_h2_mux_open(pl->mux) : NULL;
    if (x != NULL || pl->mux != NULL || pl->dialing != NULL || p->draining ||
        (pl->failed_ms != 0 && pn_now_ms() - pl->failed_ms < POOL_RETRY_MS))
        return x;
    struct pconn *c = dial(p, &pl->peer);
    if (c == NULL) {
        pl->failed_ms = pn_now_ms();
        return NULL;
    }
    c->pool = pl;
    pl->dialing = c;
    header(c, HDR_MUX, "", 0, &pl->peer);
    return NULL;
}

/* Carry user <x> (tcp, http, https), or a udp user of listener <udp> whose first
 * datagram is <pre>, to the route's hub on a stream of its carrier (or a new link). */
static int
forward(hub_peer_t *p, uint8_t type, const char *host, uint16_t port, pn_xprt_t *x,
        const uint8_t *pre, size_t pre_len, const pn_addr_t *src, const pn_addr_t *dst,
        plisten_t *udp)
{
    char peer[PN_ADDRSTRLEN + 256], err[PN_ERR_LEN], *ph = NULL, *pp = NULL;
    pn_addr_t a;
    size_t hl = strlen(host);
    if (hub_reg_remote(p->env.reg, type, host, port, peer, sizeof(peer)) != PN_OK || hl > 255 ||
        pn_hostport_split(peer, &ph, &pp, err) != PN_OK || pn_addr_parse_ip(ph, &a) != PN_OK) {
        free(ph);
        free(pp);
        return PN_ERR;          /* no peer= published, or a name: not dialed from the loop */
    }
    pn_addr_set_port(&a, (uint16_t)strtoul(pp, NULL, 10));
    free(ph);
    free(pp);
    pn_xprt_t *sx = pool_stream(p, pool_get(p, &a));
    struct pconn *c = sx != NULL ? pconn_new(p, 1, &a) : dial(p, &a);
    if (c == NULL)
        return PN_ERR;
    if (sx != NULL) {           /* a stream: ready, no handshake */
        c->x = sx;
        c->st = PC_HEADER;
        pn_xprt_watch(sx, p->env.loop, EV_WR, on_link, c);
    }
    c->user = x;
    c->src = *src;
    c->dst = *dst;
    if (pre_len > 0) {
        c->pre = xcalloc(pre_len);
        memcpy(c->pre, pre, pre_len);
        c->pre_len = pre_len;
    }
    header(c, type, host, port, src);
    c->udp = udp;
    if (x != NULL)
        pn_xprt_unwatch(x);
    return PN_OK;
}

/* <c>'s header: the route's <type>, <host> (255 bytes at most) and <port>, the user <src>. */
static void
header(struct pconn *c, uint8_t type, const char *host, uint16_t port, const pn_addr_t *src)
{
    char s[PN_ADDRSTRLEN];
    size_t hl = strlen(host);
    pn_addr_str(src, s);
    size_t sl = strlen(s), len = 4 + hl + sl;
    memcpy(c->hdr, "PNH1", 4);
    c->hdr[4] = (uint8_t)(len >> 8);
    c->hdr[5] = (uint8_t)len;
    c->hdr[6] = type;
    c->hdr[7] = (uint8_t)(port >> 8);
    c->hdr[8] = (uint8_t)port;
    c->hdr[9] = (uint8_t)hl;
    memcpy(c->hdr + 10, host, hl);
    memcpy(c->hdr + 10 + hl, s, sl);
    c->hlen = 6 + len;
}

/* Carry a user to the hub holding its route: see hub_peer.h. */
int
hub_peer_forward(hub_peer_t *p, uint8_t type, const char *host, uint16_t port, pn_xprt_t *x,
                 const uint8_t *pre, size_t pre_len, const pn_addr_t *src, const pn_addr_t *dst)
{
    /* A user another hub carried here (it reached our peer=) is never carried
     * further: two hubs whose caches disagree for a moment must not bounce it. */
    if (pn_addr_port(dst) == pn_addr_port(&p->laddr) &&
        (pn_addr_is_any(&p->laddr) || pn_addr_equal(dst, &p->laddr)))
        return PN_ERR;
    return forward(p, type, host, port, x, pre, pre_len, src, dst, NULL);
}

/* ---- A: accepting ---- */

static void
on_accept(int lfd, int ready, void *arg)
{
    hub_peer_t *p = arg;
    pn_addr_t peer;
    (void)ready;
    for (int i = 0; i < 64; i++) {
        int fd = pn_accept(lfd, &peer);
        if (fd == -1)
            return;
        struct pconn *c = pconn_new(p, 0, &peer);
        pn_sock_tune(fd);
        socklen_t sl = sizeof(c->dst.ss);
        if (getsockname(fd, (struct sockaddr *)&c->dst.ss, &sl) == 0)
            c->dst.len = sl;
        c->x = pn_tls_xprt_new(fd, pn_tls_server_ssl(p->srv));
        c->st = PC_HANDSHAKE;
        step(c);
    }
}

/* ---- forwarding listeners of other hubs' tcp routes ---- */

static void
on_fwd_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    plisten_t *l = arg;
    if (hub_peer_forward(l->p, PN_RT_TCP, "", l->port, x, NULL, 0, peer, local) != PN_OK)
        pn_xprt_free(x);
}

/* A datagram from a new user of another hub's udp route: a link of its own. While
 * it is being set up, the user's next datagrams are dropped (as a full queue would). */
static void
on_fwd_udp_peer(udp_table_t *t, const pn_addr_t *peer, const uint8_t *d, size_t len, void *arg)
{
    plisten_t *l = arg;
    for (pn_list_t *q = l->p->conns.next; q != &l->p->conns; q = q->next) {
        struct pconn *c = pn_container_of(q, struct pconn, node);
        if (c->udp == l && pn_addr_equal(&c->src, peer)) {
            l->p->stats.udp_drops++;
            return;
        }
    }
    if (forward(l->p, PN_RT_UDP, "", l->port, NULL, d, len, peer, udp_table_local(t), l) != PN_OK)
        l->p->stats.udp_drops++;
}

static void
plisten_free(plisten_t *l)
{
    /* Links still being set up for its udp users go with it. */
    for (pn_list_t *q = l->p->conns.next, *n; q != &l->p->conns; q = n) {
        n = q->next;
        if (pn_container_of(q, struct pconn, node)->udp == l)
            pconn_free(pn_container_of(q, struct pconn, node));
    }
    pn_list_del(&l->node);
    pn_entry_free(l->entry);
    udp_table_free(l->table);
    udp_group_free(l->group);
    free(l);
}

/* Listen (or stop listening) for another hub's tcp route on <port>: see hub_peer.h. */
void
hub_peer_remote(int add, uint8_t type, uint16_t port, void *arg)
{
    hub_peer_t *p = arg;
    char err[PN_ERR_LEN];
    if (p->draining || (type != PN_RT_TCP && type != PN_RT_UDP) ||
        port < p->env.cfg->ports_lo || port > p->env.cfg->ports_hi)
        return;
    for (pn_list_t *q = p->listens.next; q != &p->listens; q = q->next) {
        plisten_t *l = pn_container_of(q, plisten_t, node);
        if (l->port != port || l->type != type)
            continue;
        if (!add)
            plisten_free(l);
        return;
    }
    if (!add || hub_reg_by_port(p->env.reg, type, port) != NULL)
        return;
    pn_addr_t a = p->env.public_addr;
    pn_addr_set_port(&a, port);
    int fd = type == PN_RT_TCP ? pn_listen_tcp(&a, 1024, NULL, err) : pn_listen_udp(&a, err);
    if (fd == -1) {
        log_warn("cluster: cannot listen for another hub's %s port %u: %s",
                 pn_conf_route_type_name(type), (unsigned)port, err);
        return;
    }
    plisten_t *l = xcalloc(sizeof(*l));
    l->p = p;
    l->type = type;
    l->port = port;
    if (type == PN_RT_TCP) {
        l->entry = pn_entry_new(p->env.loop, fd, NULL, p->env.cfg->handshake_ms, on_fwd_user, l);
        pn_gate_live_on(pn_entry_gate(l->entry));       /* live connections per source */
    } else {
        udp_counters_t uc = {
            .rx = &p->stats.udp_rx, .tx = &p->stats.udp_tx, .sessions = &p->stats.udps,
            .drops = &p->stats.udp_drops,
        };
        l->group = udp_group_new(p->env.loop, p->env.cfg->udp_idle_ms, &uc);
        l->table = udp_table_new(p->env.loop, fd, l->group, on_fwd_udp_peer, l);
    }
    pn_list_add(&p->listens, &l->node);
}

/* ---- life ---- */

/* Listen on peer= and make the PSK contexts: see hub_peer.h. */
hub_peer_t *
hub_peer_new(const hub_peer_env_t *env, const uint8_t *secret, size_t len, char *err)
{
    uint8_t psk[32];
    char *host = NULL, *port = NULL;
    pn_addr_t a;
    if (pn_hostport_split(env->cfg->cluster->peer, &host, &port, err) != PN_OK)
        return NULL;
    int rc = pn_addr_resolve(host, port, 1, &a, err);
    free(host);
    free(port);
    if (rc != PN_OK)
        return NULL;
    hub_peer_t *p = xcalloc(sizeof(*p));
    p->env = *env;
    pn_list_init(&p->conns);
    pn_list_init(&p->listens);
    pn_list_init(&p->pools);
    pn_list_init(&p->muxes);
    pn_hmac_sha256((const uint8_t *)PSK_LABEL, strlen(PSK_LABEL), secret, len, psk);
    p->srv = pn_tls_psk_new(1, psk, sizeof(psk), err);
    p->cli = p->srv != NULL ? pn_tls_psk_new(0, psk, sizeof(psk), err) : NULL;
    memset(psk, 0, sizeof(psk));
    p->laddr = a;
    p->lfd = p->cli != NULL ? pn_listen_tcp(&a, 1024, NULL, err) : -1;
    if (p->lfd == -1) {
        pn_tls_ctx_free(p->srv);
        pn_tls_ctx_free(p->cli);
        free(p);
        return NULL;
    }
    p->lio = ev_io_new(env->loop, p->lfd, on_accept, p);
    ev_io_set(p->lio, EV_RD);
    pn_links_init(&p->links, env->loop, &p->stats, "cluster");
    p->refuse_log.interval_ms = 1000;
    p->links.dial_timeout_ms = env->cfg->dial_timeout_ms;
    return p;
}

/* The hub drains: no new user from the other hubs nor on their routes' ports
 * here, no new carrier; links and streams running go on. */
void
hub_peer_drain(hub_peer_t *p)
{
    if (p == NULL)
        return;
    while (!pn_list_empty(&p->listens))
        plisten_free(pn_container_of(p->listens.next, plisten_t, node));
    p->draining = 1;            /* hub_peer_remote opens no listener, pool_stream no carrier */
    ev_io_free(p->lio);
    for (pn_list_t *q = p->conns.next, *n; q != &p->conns; q = n) {
        n = q->next;
        if (pn_container_of(q, struct pconn, node)->pool != NULL)     /* a carrier, no user */
            pconn_free(pn_container_of(q, struct pconn, node));
    }
    for (pn_list_t *q = p->pools.next; q != &p->pools; q = q->next) {
        ppool_t *pl = pn_container_of(q, ppool_t, node);
        pn_h2_mux_unref(pl->mux);
        pl->mux = NULL;
    }
}

/* Users carried, or being carried, through <p>. */
size_t
hub_peer_busy(const hub_peer_t *p)
{
    size_t n = 0;
    if (p == NULL)
        return 0;
    for (pn_list_t *q = p->conns.next; q != &p->conns; q = q->next)
        n += pn_container_of(q, struct pconn, node)->pool == NULL;  /* not a carrier */
    return n + p->links.n;
}

void
hub_peer_free_(hub_peer_t *p)
{
    if (p == NULL)
        return;
    while (!pn_list_empty(&p->conns))
        pconn_free(pn_container_of(p->conns.next, struct pconn, node));
    while (!pn_list_empty(&p->listens))
        plisten_free(pn_container_of(p->listens.next, plisten_t, node));
    pn_links_close_all(&p->links);
    while (!pn_list_empty(&p->pools)) {
        ppool_t *pl = pn_container_of(p->pools.next, ppool_t, node);
        pn_list_del(&pl->node);
        pn_h2_mux_unref(pl->mux);
        free(pl);
    }
    pn_h2_mux_close_all(&p->muxes);
    ev_io_free(p->lio);
    close(p->lfd);
    pn_tls_ctx_free(p->srv);
    pn_tls_ctx_free(p->cli);
    free(p);
}
