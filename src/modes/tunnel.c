/* modes/tunnel.c: waiters and backoff, shared by the tunnel server and client. */
#include "modes/tunnel.h"
#include "core/log.h"
#include "core/mem.h"
#include "modes/common.h"
#include "route/dial.h"
#include "route/proxy.h"
#include "tls/tls.h"
#include "tunnel/auth.h"

#include <netinet/in.h>
#include <string.h>

static void
waiter_free(struct tun_waiter *w)
{
    pn_list_del(&w->node);
    ev_timer_free(w->timer);
    pn_xprt_free(w->x);
    free(w);
}

static long
on_wait_timeout(ev_timer_t *t, void *arg)
{
    struct tun_waiter *w = arg;
    log_debug("tunnel: no pooled data connection in time, closing a user connection");
    waiter_free(w);
    return EV_TIMER_STOP;
}

void
tun_waiter_add(ev_loop_t *loop, pn_list_t *list, pn_xprt_t *x, const pn_addr_t *src,
               const pn_addr_t *dst, uint64_t ms)
{
    struct tun_waiter *w = xcalloc(sizeof(*w));
    w->x = x;
    w->src = *src;
    w->dst = *dst;
    w->timer = ev_timer_new(loop, on_wait_timeout, w);
    ev_timer_arm(w->timer, ms);
    pn_list_add(list, &w->node);
}

pn_xprt_t *
tun_waiter_pop(pn_list_t *list, pn_addr_t *src, pn_addr_t *dst)
{
    if (pn_list_empty(list))
        return NULL;
    struct tun_waiter *w = pn_container_of(list->next, struct tun_waiter, node);
    pn_xprt_t *x = w->x;
    *src = w->src;
    *dst = w->dst;
    w->x = NULL;
    waiter_free(w);
    return x;
}

void
tun_waiters_clear(pn_list_t *list)
{
    while (!pn_list_empty(list))
        waiter_free(pn_container_of(list->next, struct tun_waiter, node));
}

int
tun_greet_fault(uint8_t kind, const char *err)
{
    /* A control handshake that failed (a wrong key, a replay) or garbage instead
     * of a preamble counts, but not the peer going away (closed, reset, silent),
     * so a client that crashes with connections in flight does not lock itself
     * out; and not a data connection: its proof may belong to the session that
     * just ended, and its cost is bounded by the per-source cap on handshakes in
     * progress. */
    if (kind == PN_KIND_DATA)
        return 0;
    return strstr(err, "closed") == NULL && strstr(err, "reset") == NULL &&
           strstr(err, "timed out") == NULL && strstr(err, "Broken pipe") == NULL;
}

int
tun_data_admit(tun_ctrl_t *ctrl, const uint8_t *secret, tun_seen_t *seen, const uint8_t *id,
               const uint8_t *proof)
{
    if (!tun_proof_ok(secret, id, proof))
        return 0;
    int rc = tun_seen_add(seen, id);
    if (rc == PN_AGAIN) {
        /* A million connections on one secret: make the client start a new session. */
        tun_ctrl_fail(ctrl, PN_EC_SHUTDOWN, "session rotation");
        return 0;
    }
    return rc == PN_OK;
}

void
tun_verify_check(tun_ctrl_t *c, const pn_frame_t *f, int tls, int *verified,
                 const uint8_t fp[PN_TLS_FP_LEN], const char *who)
{
    if (tls != 1 || *verified) {
        tun_ctrl_fail(c, PN_EC_PROTOCOL, "unexpected VERIFY");
        return;
    }
    *verified = 1;
    if (pn_memeq_ct(f->payload, fp, PN_TLS_FP_LEN) != 0) {
        log_error("%s saw another certificate on the data channel (fingerprint mismatch: a "
                  "man in the middle?)", who);
        tun_ctrl_fail(c, PN_EC_VERIFY_FAILED, "certificate fingerprint mismatch");
    }
}

#define FLUSH_MIN_TAKES 4       /* takes in an interval before the failure ratio counts */

void
tun_pool_check(tun_ctrl_t *ctrl, tun_pool_t *pool, uint64_t *takes, uint64_t *fails,
               const char *who)
{
    if (*takes >= FLUSH_MIN_TAKES && *fails * 2 > *takes) {
        log_warn("%s: %llu of %llu pool takes failed, flushing the pool", who,
                 (unsigned long long)*fails, (unsigned long long)*takes);
        tun_ctrl_send(ctrl, PN_FT_FLUSH, NULL, 0);
        tun_pool_trim(pool, 0);
    }
    *takes = *fails = 0;
}

void
tun_stats_refresh(pn_stats_t *st, const tun_pool_t *pool, const tun_ctrl_t *ctrl)
{
    st->pool = pool ? tun_pool_size(pool) : 0;
    st->ping_ms = ctrl ? tun_ctrl_rtt(ctrl) : 0;
}

void
tun_sig_from_addr(const pn_addr_t *a, pn_sig_addr_t *s)
{
    memset(s, 0, sizeof(*s));
    if (a == NULL)
        return;
    if (a->ss.ss_family == AF_INET) {
        s->family = 4;
        memcpy(s->ip, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    } else if (a->ss.ss_family == AF_INET6) {
        s->family = 6;
        memcpy(s->ip, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
    } else {
        return;
    }
    s->port = pn_addr_port(a);
}

void
tun_sig_to_addr(const pn_sig_addr_t *s, pn_addr_t *a)
{
    memset(a, 0, sizeof(*a));
    if (s->family == 4) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
        v4->sin_family = AF_INET;
        memcpy(&v4->sin_addr, s->ip, 4);
        v4->sin_port = htons(s->port);
        a->len = sizeof(*v4);
    } else if (s->family == 6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
        v6->sin6_family = AF_INET6;
        memcpy(&v6->sin6_addr, s->ip, 16);
        v6->sin6_port = htons(s->port);
        a->len = sizeof(*v6);
    }
}

int
tun_send_signal(tun_ctrl_t *ctrl, uint8_t type, const uint8_t *id, const pn_addr_t *src,
                const pn_addr_t *dst)
{
    uint8_t p[PN_CONN_ID_LEN + 2 * (PN_TLV_HDR + 19)];
    pn_sig_addr_t s, d;
    tun_sig_from_addr(src, &s);
    tun_sig_from_addr(dst, &d);
    return tun_ctrl_send(ctrl, type, p, pn_signal_encode_addrs(id, &s, &d, p, sizeof(p)));
}

void
tun_log_peer_error(const pn_frame_t *f, enum log_level lvl, const char *who, const char *what)
{
    uint16_t code;
    char reason[PN_ERROR_REASON_MAX + 1];
    const char *why;
    if (pn_error_decode(f->payload, f->len, &code, reason, &why) == PN_OK)
        log_msg(lvl, "%s: %s %s: %s", who, what, pn_err_code_name(code), reason);
    else
        log_msg(lvl, "%s: %s a malformed ERROR (%s)", who, what, why);
}

uint64_t
tun_backoff_next(uint64_t *cur, uint64_t max)
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

#define UDP_WAITERS_MAX 256     /* new UDP users held while the pool is empty */

/* The first datagram of a new UDP user, held (copied) until a pooled
 * connection is free or the pool wait passes. */
struct udp_waiter {
    pn_list_t node;             /* in tun_side.udp_waiters */
    struct tun_side *sd;        /* back pointer */
    udp_table_t *t;             /* borrowed: outlives the waiter */
    pn_addr_t peer;
    ev_timer_t *timer;          /* owned */
    size_t len;
    uint8_t d[];                /* the datagram */
};

static void
udp_waiter_free(struct udp_waiter *w)
{
    pn_list_del(&w->node);
    w->sd->n_udp_waiters--;
    ev_timer_free(w->timer);
    free(w);
}

static long
on_udp_wait_timeout(ev_timer_t *t, void *arg)
{
    struct udp_waiter *w = arg;
    w->sd->in->stats.udp_drops++;
    udp_waiter_free(w);
    return EV_TIMER_STOP;
}

static int
udp_waiting(struct tun_side *sd, const pn_addr_t *peer)
{
    for (pn_list_t *p = sd->udp_waiters.next; p != &sd->udp_waiters; p = p->next)
        if (pn_addr_equal(&pn_container_of(p, struct udp_waiter, node)->peer, peer))
            return 1;
    return 0;
}

void
tun_side_init(struct tun_side *sd, pn_instance_t *in, const char *name)
{
    memset(sd, 0, sizeof(*sd));
    sd->in = in;
    sd->name = name;
    pn_instance_links(in, &sd->links, name);
    sd->udp = pn_instance_udp_group(in);
    pn_list_init(&sd->waiters);
    pn_list_init(&sd->udp_waiters);
}

void
tun_side_close(struct tun_side *sd)
{
    pn_links_close_all(&sd->links);
    udp_group_close_all(sd->udp);
}

void
tun_side_clear(struct tun_side *sd)
{
    tun_side_close(sd);
    tun_waiters_clear(&sd->waiters);
    while (!pn_list_empty(&sd->udp_waiters))
        udp_waiter_free(pn_container_of(sd->udp_waiters.next, struct udp_waiter, node));
    udp_group_free(sd->udp);
}

/* Take the oldest pooled connection for a new exchange, counting the take. */
static pn_xprt_t *
side_take(struct tun_side *sd, uint8_t id[PN_CONN_ID_LEN])
{
    pn_xprt_t *x = sd->ready && sd->pool ? tun_pool_take(sd->pool, id) : NULL;
    if (sd->on_take != NULL)
        sd->on_take(sd);
    if (x != NULL)
        sd->takes++;
    return x;
}

/* Pair a user with a pooled connection: signal the far end, then relay. */
static void
serve_user(struct tun_side *sd, pn_xprt_t *user, pn_xprt_t *data, const uint8_t *id,
           const pn_addr_t *src, const pn_addr_t *dst)
{
    if (tun_send_signal(sd->ctrl, PN_FT_TCP, id, src, dst) != PN_OK) {
        pn_xprt_free(user);
        pn_xprt_free(data);
        return;
    }
    pn_link_info_t info = { .src = *src, .dst = *dst, .user = 1 };
    pn_link_pair(&sd->links, user, data, &info);
}

void
tun_side_user(struct tun_side *sd, pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local)
{
    uint8_t id[PN_CONN_ID_LEN];
    if (!pn_links_admit(&sd->links)) {
        pn_xprt_free(x);
        return;
    }
    pn_xprt_t *data = side_take(sd, id);
    if (data == NULL) {
        tun_waiter_add(sd->in->loop, &sd->waiters, x, peer, local, sd->in->cfg->pool_wait_ms);
        return;
    }
    serve_user(sd, x, data, id, peer, local);
}

/* Start the UDP session of <peer> on the pooled connection <data> named <id>
 * and send it its first datagram. */
static void
udp_start(struct tun_side *sd, udp_table_t *t, const pn_addr_t *peer, pn_xprt_t *data,
          const uint8_t *id, const uint8_t *d, size_t len)
{
    if (tun_send_signal(sd->ctrl, PN_FT_UDP, id, peer, udp_table_local(t)) != PN_OK) {
        pn_xprt_free(data);
        return;
    }
    udp_sess_from_entry(udp_sess_new_peer(t, peer, -1, data), d, len);
}

/* A datagram from a new UDP user becomes a session on its own pooled
 * connection, as soon as one is free. */
void
tun_side_udp_peer(struct tun_side *sd, udp_table_t *t, const pn_addr_t *peer, const uint8_t *d,
                  size_t len)
{
    uint8_t id[PN_CONN_ID_LEN];
    if (!pn_links_admit(&sd->links)) {
        sd->in->stats.udp_drops++;
        return;
    }
    pn_xprt_t *data = side_take(sd, id);
    if (data == NULL) {
        /* No idle connection this instant (the pool is refilling): hold the
         * user's first datagram for the pool wait rather than drop it; a DNS
         * query would otherwise wait for its client's retry. Later datagrams
         * of a user already waiting are dropped. */
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
        w->timer = ev_timer_new(sd->in->loop, on_udp_wait_timeout, w);
        ev_timer_arm(w->timer, sd->in->cfg->pool_wait_ms);
        pn_list_add(&sd->udp_waiters, &w->node);
        sd->n_udp_waiters++;
        return;
    }
    udp_start(sd, t, peer, data, id, d, len);
}

int
tun_side_serve_waiter(struct tun_side *sd, pn_xprt_t *x, const uint8_t *id)
{
    pn_addr_t src, dst;
    pn_xprt_t *user = tun_waiter_pop(&sd->waiters, &src, &dst);
    if (user != NULL) {
        sd->takes++;
        serve_user(sd, user, x, id, &src, &dst);
        return 1;
    }
    if (pn_list_empty(&sd->udp_waiters))
        return 0;
    struct udp_waiter *w = pn_container_of(sd->udp_waiters.next, struct udp_waiter, node);
    sd->takes++;
    udp_start(sd, w->t, &w->peer, x, id, w->d, w->len);
    udp_waiter_free(w);
    return 1;
}

void
tun_side_exit(struct tun_side *sd, uint8_t type, pn_xprt_t *data, const pn_addr_t *src,
              const pn_addr_t *dst)
{
    char err[PN_ERR_LEN];
    if (!pn_links_admit(&sd->links)) {
        pn_xprt_free(data);
        return;
    }
    if (type == PN_FT_TCP) {
        pn_link_info_t info = { .src = *src, .dst = *dst, .user = 0 };
        pn_link_dial(&sd->links, data, &info);
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
    udp_sess_new_stream(sd->udp, data, fd, hdr, pn_udp_proxy_header(sd->in->cfg->proxy, src, dst, hdr));
}
