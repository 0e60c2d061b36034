/* modes/proxy_egress.c: via= (docs/proxy.md): the entrance sends each user's
 * connection through a tunnel to one of its nodes instead of dialing it. Each
 * node is a tunnel client embedded on the entrance's loop (modes/client.h),
 * dialing the node's tunnel server (forward flow, the node started with
 * mode=2&egress=1); the destination travels in the signal's TARGET TLV and
 * the node dials it (docs/protocol.md §5.2).
 *
 *   admitted pconn --pick a node (lbs=; skip nodes whose tunnel is down)-->
 *       take a data channel --signal TCP(id, TARGET)--> the node's RESULT
 *       (§6.5, under the dial deadline) --OK--> reply + relay (the user's counters)
 *                                       \--code--> the protocol's own error */
#include "conf/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "modes/client.h"
#include "modes/server.h"
#include "modes/proxy_priv.h"
#include "tunnel/frame.h"
#include "tunnel/session.h"

#include <stdio.h>
#include <string.h>

struct proxy_via {
    pn_config_t *cfgs;          /* owned array of <n>: each node's tunnel client */
    pn_client_t **nodes;        /* owned array of <n>: relay path (we dial), or NULL */
    pn_server_t **revs;         /* owned array of <n>: reverse path (the node dials), or NULL */
    size_t n;
    enum lb_policy policy;      /* lbs= */
    size_t cursor;              /* round robin: the next node to try first */
};

static void via_dial(pconn_t *c);
static int via_take(proxy_t *p, int udp, struct tun_sess **sess, struct tun_take **take,
                    void (*cb)(pn_xprt_t *data, const uint8_t *id, void *arg), void *arg);

int
proxy_via_start(proxy_t *p, char *err)
{
    const pn_config_t *cfg = p->in.cfg;
    if (cfg->via == NULL)
        return PN_OK;
    struct proxy_via *v = xcalloc(sizeof(*v));
    size_t n = 1;
    for (const char *c = cfg->via; *c; c++)
        n += *c == ',';
    v->cfgs = xcalloc(n * sizeof(*v->cfgs));
    v->nodes = xcalloc(n * sizeof(*v->nodes));
    v->revs = xcalloc(n * sizeof(*v->revs));
    v->policy = cfg->lbs;
    p->via = v;
    p->via_dial = via_dial;
    p->via_take = via_take;
    for (size_t i = 0; i < n; i++) {
        pn_config_t *nc = &v->cfgs[i];
        if (pn_config_via_node(cfg->via, i, nc, err) != PN_OK)
            return PN_ERR;
        v->n++;
        /* The entrance's tunables (POSTERN_*) apply to its nodes' tunnels. */
        nc->report_ms = cfg->report_ms;
        nc->dial_timeout_ms = cfg->dial_timeout_ms;
        nc->handshake_ms = cfg->handshake_ms;
        nc->pool_wait_ms = cfg->pool_wait_ms;
        nc->backoff_max_ms = cfg->backoff_max_ms;
        nc->udp_idle_ms = cfg->udp_idle_ms;
        nc->read_ms = cfg->read_ms;
        if (nc->role == PN_ROLE_SERVER)
            v->revs[i] = pn_server_embed(p->in.loop, nc, err);
        else
            v->nodes[i] = pn_client_embed(p->in.loop, nc, err);
        if (v->nodes[i] == NULL && v->revs[i] == NULL)
            return PN_ERR;
        log_info("proxy: via node %zu: %s %s:%s", i + 1,
                 v->revs[i] != NULL ? "waits for the node on" : "dials", nc->host ? nc->host : "",
                 nc->port);
    }
    return PN_OK;
}

void
proxy_via_free(proxy_t *p)
{
    struct proxy_via *v = p->via;
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++) {
        pn_client_unembed(v->nodes[i]);
        pn_server_unembed(v->revs[i]);
        pn_config_clear(&v->cfgs[i]);
    }
    free(v->nodes);
    free(v->revs);
    free(v->cfgs);
    free(v);
    p->via = NULL;
}

static int
usable(const struct proxy_via *v, size_t i, int udp)
{
    return v->revs[i] != NULL ? pn_server_usable(v->revs[i], udp) : pn_client_usable(v->nodes[i], udp);
}

static tun_sess_t *
node_sess(const struct proxy_via *v, size_t i)
{
    return v->revs[i] != NULL ? &pn_server_side(v->revs[i])->sess : &pn_client_side(v->nodes[i])->sess;
}

/* The node for a new connection (a UDP session when <udp>) by lbs=, among
 * those whose tunnel is up and carries it; -1 when none. */
static long
pick(struct proxy_via *v, int udp)
{
    long best = -1;
    uint64_t best_rtt = UINT64_MAX;
    for (size_t k = 0; k < v->n; k++) {
        size_t i = v->policy == LB_ROUND_ROBIN ? (v->cursor + k) % v->n : k;
        if (!usable(v, i, udp))
            continue;
        if (v->policy != LB_LATENCY) {
            best = (long)i;
            break;
        }
        /* Lowest latency: the control channel's last round trip (0 = not yet measured). */
        uint64_t rtt = tun_sess_rtt(node_sess(v, i));
        if (rtt == 0)
            rtt = UINT64_MAX - 1;
        if (best == -1 || rtt < best_rtt) {
            best = (long)i;
            best_rtt = rtt;
        }
    }
    if (best != -1 && v->policy == LB_ROUND_ROBIN)
        v->cursor = (size_t)best + 1;
    return best;
}

/* The node's RESULT code as the user's protocol says it: a SOCKS5 reply and an HTTP status. */
static void
result_reply(pconn_t *c, uint8_t code, const char *reason)
{
    static const struct { uint8_t rep; int http; } as[] = {
        [PN_RC_NOT_ALLOWED] = { SOCKS_REP_NOT_ALLOWED, 403 },
        [PN_RC_NET_UNREACH] = { SOCKS_REP_NET_UNREACH, 502 },
        [PN_RC_HOST_UNREACH] = { SOCKS_REP_HOST_UNREACH, 502 },
        [PN_RC_REFUSED] = { SOCKS_REP_REFUSED, 502 },
        [PN_RC_TIMEOUT] = { SOCKS_REP_TTL, 504 },
    };
    char why[PN_RESULT_REASON_MAX + 32];
    snprintf(why, sizeof(why), "the node: %s", reason[0] ? reason : "refused");
    if (code == PN_RC_NOT_ALLOWED)
        c->u->refused++;
    if (code >= sizeof(as) / sizeof(as[0]) || as[code].http == 0)
        proxy_conn_fail(c, SOCKS_REP_FAIL, 502, why);       /* a code not known here */
    else
        proxy_conn_fail(c, as[code].rep, as[code].http, why);
}

/* The node's RESULT, read under the dial deadline armed when the user was
 * admitted: OK relays, a code refuses. May free <c>. */
static void
on_result(pn_xprt_t *x, int ready, void *arg)
{
    pconn_t *c = arg;
    char reason[PN_RESULT_REASON_MAX + 1];
    uint8_t code = 0;
    const char *why = NULL;
    int rc = proxy_result_read(x, c->res, &c->res_n, &code, reason, &why);
    if (rc == PN_AGAIN) {
        pn_xprt_watch(x, c->p->in.loop, x->want, on_result, c);
        return;
    }
    if (rc == PN_ERR) {
        proxy_conn_fail(c, SOCKS_REP_FAIL, 502, why);
        return;
    }
    pn_xprt_unwatch(x);
    xfree(c->res);
    if (code == PN_RC_OK)
        proxy_conn_relay(c);
    else
        result_reply(c, code, reason);
}

static void
on_channel(pn_xprt_t *data, const uint8_t *id, void *arg)
{
    pconn_t *c = arg;
    c->take = NULL;
    if (data == NULL) {
        proxy_conn_fail(c, SOCKS_REP_NET_UNREACH, 502, "no data channel from the node in time");
        return;
    }
    tun_sess_t *s = c->via_sess;
    if (tun_sess_signal_target(s, PN_FT_TCP, id, &c->peer, &c->local, c->dest.host, c->dest.port) !=
        PN_OK) {
        pn_xprt_free(data);
        proxy_conn_fail(c, SOCKS_REP_FAIL, 502, "the destination cannot be sent to the node");
        return;
    }
    c->via_x = data;
    c->res = xmalloc(PN_RESULT_MAX);
    c->res_n = 0;
    on_result(data, EV_RD, c);
}

static int
via_take(proxy_t *p, int udp, struct tun_sess **sess, struct tun_take **take,
         void (*cb)(pn_xprt_t *data, const uint8_t *id, void *arg), void *arg)
{
    long i = pick(p->via, udp);
    if (i < 0)
        return PN_ERR;
    *sess = node_sess(p->via, (size_t)i);
    *take = NULL;
    tun_take_t *t = tun_sess_take(*sess, cb, arg);
    if (t != NULL)
        *take = t;              /* otherwise <cb> ran: <arg> may be gone */
    return PN_OK;
}

/* Send the admitted <c> through a node (lbs=), then relay. May free <c>. */
static void
via_dial(pconn_t *c)
{
    if (via_take(c->p, 0, &c->via_sess, &c->take, on_channel, c) != PN_OK)
        proxy_conn_fail(c, SOCKS_REP_NET_UNREACH, 502, "no node's tunnel is up");
}
