/* modes/proxy_udp_via.c: a SOCKS5 UDP association's datagrams through a node
 * (via=, docs/proxy.md §6). Each destination the user names gets a tunnel UDP
 * session of its own: a data channel of a node picked by lbs=, the UDP signal
 * with the destination in its TARGET TLV, the node's RESULT (§6.5), then the
 * datagrams length-framed both ways (docs/protocol.md §6.4). Answers reach the
 * user with the SOCKS header of the destination as the user named it.
 *
 *   user --[hdr|data]--> association --(dest: its session)--> [len|data] --> node
 *   user <--[hdr|data]-- association <--------------------- [len|data] <-- node
 *
 * Bounded: at most PROXY_UDP_VIA_MAX sessions per association (a datagram for
 * one more destination is dropped), VIA_OUT_MAX bytes queued towards a node
 * (more is dropped, as a congested network would), the RESULT under the dial
 * deadline, and a session ends after POSTERN_UDP_IDLE without a datagram. A
 * session holds buffers only while bytes wait in them. */
#include "core/log.h"
#include "core/mem.h"
#include "modes/proxy_priv.h"
#include "tunnel/frame.h"
#include "tunnel/session.h"

#include <string.h>

#define VIA_OUT_MAX (256 * 1024)    /* bytes queued towards the node, frames included */
#define VIA_IN_MAX (2 + 65535)      /* one whole frame from the node */

struct vudp {
    pn_list_t node;             /* in the association's list */
    pconn_t *c;                 /* borrowed: the association's connection (user, counters) */
    proxy_udp_reply_fn reply;   /* answers the user */
    void *ctx;                  /* borrowed: its argument */
    char host[256];             /* the destination as the user named it */
    uint16_t port;
    uint8_t hdr[259];           /* the address of answers: ATYP ADDR PORT */
    size_t hl;
    struct tun_sess *sess;      /* borrowed: the node's session */
    struct tun_take *take;      /* owned: the data channel being taken */
    pn_xprt_t *x;               /* owned: the data channel */
    int ready;                  /* the node said OK: datagrams flow */
    uint8_t res[PN_RESULT_MAX];
    size_t res_n;
    uint8_t *out;               /* owned: frames towards the node, NULL when none wait */
    size_t out_len, out_off, out_cap;
    uint8_t *in;                /* owned: a frame from the node as it arrives, NULL between */
    size_t in_len;
    ev_timer_t *timer;          /* owned: the RESULT's deadline, then the idle check */
    uint64_t last_ms;           /* the last datagram either way */
};

static void
vudp_free(struct vudp *v)
{
    pn_list_del(&v->node);
    tun_take_cancel(v->take);
    pn_xprt_free(v->x);
    ev_timer_free(v->timer);
    free(v->out);
    free(v->in);
    free(v);
}

void
proxy_udp_via_close(pn_list_t *sessions)
{
    while (!pn_list_empty(sessions))
        vudp_free(pn_container_of(sessions->next, struct vudp, node));
}

static void
vudp_end(struct vudp *v, const char *why)
{
    char s[PN_ADDRSTRLEN];
    log_info("proxy: %s user %s: udp via node to %s:%u: %s", pn_addr_str(&v->c->peer, s),
             v->c->u->spec.name, v->host, v->port, why);
    vudp_free(v);
}

/* A whole datagram from the node: to the user with the destination's address. */
static void
to_user(struct vudp *v, const uint8_t *d, size_t n)
{
    pconn_t *c = v->c;
    if (c->u->limit != NULL && !pn_bucket_take_all(c->u->limit, n, pn_now_us())) {
        c->p->in.stats.udp_drops++;
        return;
    }
    v->reply(v->ctx, v->hdr, v->hl, d, n);
    c->u->down += n;
}

/* Write what is queued, read and deliver whole frames until the channel has
 * no more; PN_ERR when it ended. */
static int
pump(struct vudp *v)
{
    pn_xprt_t *x = v->x;
    while (v->out_off < v->out_len) {
        ssize_t w = x->ops->write(x, v->out + v->out_off, v->out_len - v->out_off);
        if (w == PN_AGAIN)
            break;
        if (w < 0)
            return PN_ERR;
        v->out_off += (size_t)w;
    }
    if (v->out_off == v->out_len) {
        xfree(v->out);
        v->out_off = v->out_len = v->out_cap = 0;
    }
    if (v->in == NULL)
        v->in = xmalloc(VIA_IN_MAX);
    /* Until PN_AGAIN: each frame is delivered as it completes, nothing piles up. */
    for (;;) {
        size_t want = v->in_len < 2 ? 2 : 2 + ((size_t)v->in[0] << 8 | v->in[1]);
        if (v->in_len >= 2 && v->in_len == want) {
            to_user(v, v->in + 2, want - 2);
            v->last_ms = pn_now_ms();
            v->in_len = 0;
            continue;
        }
        ssize_t r = x->ops->read(x, v->in + v->in_len, want - v->in_len);
        if (r == PN_AGAIN) {
            if (v->in_len == 0)
                xfree(v->in);
            return PN_OK;
        }
        if (r <= 0)
            return PN_ERR;
        v->in_len += (size_t)r;
    }
}

static void on_io(pn_xprt_t *x, int ready, void *arg);

static void
rewatch(struct vudp *v)
{
    int mask = v->ready ? EV_RD | (v->out_len > v->out_off ? EV_WR : 0)
                        : (v->x->want ? v->x->want : EV_RD);
    pn_xprt_watch(v->x, v->c->p->in.loop, mask, on_io, v);
}

static void
on_io(pn_xprt_t *x, int ready, void *arg)
{
    struct vudp *v = arg;
    if (!v->ready) {
        uint8_t code = 0;
        char reason[PN_RESULT_REASON_MAX + 1];
        const char *why = NULL;
        int rc = proxy_result_read(x, v->res, &v->res_n, &code, reason, &why);
        if (rc == PN_AGAIN) {
            rewatch(v);
            return;
        }
        if (rc == PN_ERR || code != PN_RC_OK) {
            if (code == PN_RC_NOT_ALLOWED)
                v->c->u->refused++;
            vudp_end(v, rc == PN_ERR ? why : reason);
            return;
        }
        v->ready = 1;
        v->last_ms = pn_now_ms();
        ev_timer_arm(v->timer, v->c->p->in.cfg->udp_idle_ms);
    }
    if (pump(v) != PN_OK) {
        vudp_end(v, "the node ended the session");
        return;
    }
    rewatch(v);
}

static long
on_timer(ev_timer_t *t, void *arg)
{
    struct vudp *v = arg;
    uint64_t idle = v->c->p->in.cfg->udp_idle_ms, now = pn_now_ms();
    if (!v->ready) {
        v->c->p->in.stats.dial_fail++;
        vudp_end(v, "no answer from the node in time");
        return EV_TIMER_STOP;
    }
    if (now - v->last_ms >= idle) {
        vudp_free(v);
        return EV_TIMER_STOP;
    }
    return (long)(idle - (now - v->last_ms));
}

static void
on_channel(pn_xprt_t *data, const uint8_t *id, void *arg)
{
    struct vudp *v = arg;
    v->take = NULL;
    if (data == NULL) {
        vudp_end(v, "no data channel from the node in time");
        return;
    }
    v->x = data;
    if (tun_sess_signal_target(v->sess, PN_FT_UDP, id, &v->c->peer, &v->c->local, v->host, v->port) !=
        PN_OK) {
        vudp_end(v, "the destination cannot be sent to the node");
        return;
    }
    on_io(data, EV_RD, v);
}

static struct vudp *
vudp_new(pconn_t *c, pn_list_t *sessions, proxy_udp_reply_fn reply, void *ctx, const socks_dest_t *d)
{
    size_t n = 0;
    for (pn_list_t *l = sessions->next; l != sessions; l = l->next)
        n++;
    if (n >= PROXY_UDP_VIA_MAX)
        return NULL;
    struct vudp *v = xcalloc(sizeof(*v));
    v->c = c;
    v->reply = reply;
    v->ctx = ctx;
    memcpy(v->host, d->host, sizeof(v->host));
    v->port = d->port;
    /* Answers carry the destination as it was named: a name stays a name. */
    if (d->atyp == SOCKS_ATYP_NAME) {
        size_t hl = strlen(d->host);
        v->hdr[0] = SOCKS_ATYP_NAME;
        v->hdr[1] = (uint8_t)hl;
        memcpy(v->hdr + 2, d->host, hl);
        v->hdr[2 + hl] = (uint8_t)(d->port >> 8);
        v->hdr[3 + hl] = (uint8_t)d->port;
        v->hl = 4 + hl;
    } else {
        v->hl = socks_write_addr(v->hdr, &d->addr);
    }
    v->timer = ev_timer_new(c->p->in.loop, on_timer, v);
    ev_timer_arm(v->timer, c->p->in.cfg->dial_timeout_ms);
    pn_list_add(sessions, &v->node);
    return v;
}

void
proxy_udp_via_send(pconn_t *c, pn_list_t *sessions, proxy_udp_reply_fn reply, void *ctx,
                   const socks_dest_t *d, const uint8_t *p, size_t n)
{
    struct vudp *v = NULL;
    for (pn_list_t *l = sessions->next; l != sessions && v == NULL; l = l->next) {
        struct vudp *w = pn_container_of(l, struct vudp, node);
        if (w->port == d->port && strcmp(w->host, d->host) == 0)
            v = w;
    }
    if (v != NULL && v->out_off > 0) {     /* what went out makes room (the same bytes lead) */
        memmove(v->out, v->out + v->out_off, v->out_len - v->out_off);
        v->out_len -= v->out_off;
        v->out_off = 0;
    }
    if ((v == NULL && (v = vudp_new(c, sessions, reply, ctx, d)) == NULL) ||
        v->out_len + 2 + n > VIA_OUT_MAX ||
        (c->u->limit != NULL && !pn_bucket_take_all(c->u->limit, n, pn_now_us()))) {
        c->p->in.stats.udp_drops++;
        return;
    }
    if (v->out_len + 2 + n > v->out_cap) {
        size_t cap = v->out_cap ? v->out_cap : 2048;
        while (cap < v->out_len + 2 + n)
            cap *= 2;
        v->out_cap = cap < VIA_OUT_MAX ? cap : VIA_OUT_MAX;
        v->out = xrealloc(v->out, v->out_cap);
    }
    v->out[v->out_len] = (uint8_t)(n >> 8);
    v->out[v->out_len + 1] = (uint8_t)n;
    memcpy(v->out + v->out_len + 2, p, n);
    v->out_len += 2 + n;
    v->last_ms = pn_now_ms();
    c->u->up += n;
    if (v->ready) {
        rewatch(v);
    } else if (v->x == NULL && v->take == NULL) {
        /* New: what is queued waits for the channel and the node's OK. The
         * last use of <v> here: the callback may run (and end it) inside. */
        if (c->p->via_take(c->p, 1, &v->sess, &v->take, on_channel, v) != PN_OK)
            vudp_end(v, "no node's tunnel is up");
    }
}
