/* modes/tunnel.c: users waiting for a data channel, UDP sessions, the far
 * end of an exchange, and backoff, shared by the tunnel server and client. */
#include "modes/tunnel.h"
#include "core/log.h"
#include "core/mem.h"
#include "modes/common.h"
#include "net/sock.h"
#include "route/dial.h"
#include "route/proxy.h"

#include <string.h>

#define UDP_WAITERS_MAX 256     /* new UDP users held while no channel is idle */

/* A user's TCP connection waiting for a data channel. */
struct tcp_user {
    struct pn_mode_side *sd;        /* back pointer */
    pn_xprt_t *x;               /* owned */
    pn_addr_t src, dst;         /* the user, and the address it reached */
};

/* The first datagram of a new UDP user, held (copied) until a data channel
 * is free or the wait passes. */
struct udp_waiter {
    pn_list_t node;             /* in pn_mode_side.udp_waiters */
    struct pn_mode_side *sd;        /* back pointer */
    udp_table_t *t;             /* borrowed: outlives the waiter */
    pn_addr_t peer;
    size_t len;
    uint8_t d[];                /* the datagram */
};

uint64_t
pn_mode_backoff_next(uint64_t *cur, uint64_t max)
{
    uint64_t base = *cur, jitter = 0;
    uint32_t r = 0;
    /* Up to a quarter of the delay, so clients cut off together do not all
     * come back in the same instant. */
    if (base >= 4 && pn_random(&r, sizeof(r)) == 0)
        jitter = r % (base / 4);
    *cur = base * 2 > max ? max : base * 2;
    return base + jitter;
}

void
pn_mode_side_stats(const struct pn_mode_side *sd, pn_stats_t *st)
{
    st->pool = tun_sess_idle(&sd->sess);
    st->ping_ms = tun_sess_rtt(&sd->sess);
}

void
pn_mode_side_init(struct pn_mode_side *sd, pn_instance_t *in, const char *name, const tun_sess_opts_t *o,
              const tun_sess_hooks_t *h)
{
    memset(sd, 0, sizeof(*sd));
    sd->in = in;
    sd->name = name;
    tun_sess_init(&sd->sess, in->loop, o, h);
    sd->sess.take_hist = &in->take_hist;
    in->has_take_hist = 1;
    pn_instance_links(in, &sd->sess.links, name);
    sd->udp = pn_instance_udp_group(in);
    pn_list_init(&sd->udp_waiters);
}

void
pn_mode_side_close(struct pn_mode_side *sd)
{
    tun_sess_detach(&sd->sess);
    udp_group_close_all(sd->udp);
}

void
pn_mode_side_clear(struct pn_mode_side *sd)
{
    tun_sess_clear(&sd->sess);
    udp_group_close_all(sd->udp);
    udp_group_free(sd->udp);
}

/* A data channel for a waiting TCP user (or none): signal the far end, relay. */
static void
on_tcp_data(pn_xprt_t *data, const uint8_t *id, void *arg)
{
    struct tcp_user *u = arg;
    struct pn_mode_side *sd = u->sd;
    if (data == NULL || tun_sess_signal(&sd->sess, PN_FT_TCP, id, &u->src, &u->dst, 0) != PN_OK) {
        pn_xprt_free(data);
        pn_xprt_free(u->x);
        free(u);
        return;
    }
    pn_link_info_t info = { .src = u->src, .dst = u->dst, .user = 1 };
    pn_link_pair(&sd->sess.links, u->x, data, &info);
    free(u);
}

void
pn_mode_side_user(struct pn_mode_side *sd, pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local)
{
    if (!pn_links_admit(&sd->sess.links)) {
        pn_xprt_free(x);
        return;
    }
    struct tcp_user *u = xcalloc(sizeof(*u));
    u->sd = sd;
    u->x = x;
    u->src = *peer;
    u->dst = *local;
    pn_sock_reset_on_close(x->fd, 1);   /* no byte yet: a reset if we die (relay.c's rule) */
    /* Closed by the callback when no channel comes in time (or the session is cleared). */
    (void)tun_sess_take(&sd->sess, on_tcp_data, u);
}

static void
on_udp_data(pn_xprt_t *data, const uint8_t *id, void *arg)
{
    struct udp_waiter *w = arg;
    struct pn_mode_side *sd = w->sd;
    pn_list_del(&w->node);
    sd->n_udp_waiters--;
    if (data == NULL) {
        sd->in->stats.udp_drops++;
    } else if (tun_sess_signal(&sd->sess, PN_FT_UDP, id, &w->peer, udp_table_local(w->t), 0) !=
               PN_OK) {
        pn_xprt_free(data);
    } else {
        udp_sess_from_entry(udp_sess_new_peer(w->t, &w->peer, -1, data), w->d, w->len);
    }
    free(w);
}

static int
udp_waiting(struct pn_mode_side *sd, const pn_addr_t *peer)
{
    for (pn_list_t *p = sd->udp_waiters.next; p != &sd->udp_waiters; p = p->next)
        if (pn_addr_equal(&pn_container_of(p, struct udp_waiter, node)->peer, peer))
            return 1;
    return 0;
}

/* A datagram from a new UDP user becomes a session on its own data channel,
 * as soon as one is free. */
void
pn_mode_side_udp_peer(struct pn_mode_side *sd, udp_table_t *t, const pn_addr_t *peer, const uint8_t *d,
                  size_t len)
{
    if (!pn_links_admit(&sd->sess.links)) {
        sd->in->stats.udp_drops++;
        return;
    }
    /* While no channel is idle (the pool is refilling) the user's first
     * datagram is held for the wait rather than dropped; a DNS query would
     * otherwise wait for its client's retry. Later datagrams of a user already
     * waiting are dropped. */
    if (udp_waiting(sd, peer) || sd->n_udp_waiters >= UDP_WAITERS_MAX) {
        sd->in->stats.udp_drops++;
        return;
    }
    struct udp_waiter *w = xmalloc(sizeof(*w) + len);
    w->sd = sd;
    w->t = t;
    w->peer = *peer;
    w->len = len;
    memcpy(w->d, d, len);
    pn_list_add(&sd->udp_waiters, &w->node);
    sd->n_udp_waiters++;
    /* Freed by the callback, maybe at once (tun_sess_clear ends the wait too). */
    (void)tun_sess_take(&sd->sess, on_udp_data, w);
}

void
pn_mode_side_exit(struct pn_mode_side *sd, uint8_t type, pn_xprt_t *data, const pn_addr_t *src,
              const pn_addr_t *dst)
{
    char err[PN_ERR_LEN];
    if (sd->draining) {
        /* Stopping: what is open finishes, nothing new starts. */
        log_debug("%s: shutting down, new exchange refused", sd->name);
        pn_xprt_free(data);
        return;
    }
    if (!pn_links_admit(&sd->sess.links)) {
        pn_xprt_free(data);
        return;
    }
    if (type == PN_FT_TCP) {
        pn_link_info_t info = { .src = *src, .dst = *dst, .user = 0 };
        pn_link_dial(&sd->sess.links, data, &info);
        return;
    }
    int fd = route_dial_udp(sd->set, sd->src, err);
    if (fd == -1) {
        sd->in->stats.dial_fail++;
        log_warn("%s: udp: %s", sd->name, err);
        pn_xprt_free(data);
        return;
    }
    uint8_t hdr[PN_PROXY_MAX];
    udp_sess_new_stream(sd->udp, data, fd, hdr, pn_mode_udp_proxy_header(sd->in->cfg->proxy, src, dst, hdr));
}

static void
side_drain(pn_instance_t *in, void *arg)
{
    struct pn_mode_side *sd = arg;
    if (sd->user_entry != NULL)
        pn_entry_free(*sd->user_entry);
    sd->draining = 1;
}

static size_t
side_busy(pn_instance_t *in, void *arg)
{
    struct pn_mode_side *sd = arg;
    return sd->sess.links.n;
}

void
pn_mode_side_drains(struct pn_mode_side *sd, pn_instance_t *in)
{
    in->drain = side_drain;
    in->busy = side_busy;
    in->drain_ctx = sd;
}
