/* modes/client.c: the tunnel client (client:// facing a server).
 *
 *   connect control (TLS-PSK) -> HELLO (+VERIFY) -> fill the pool -> serve
 *
 *   reverse: TCP(id) from the server -> take that conn, dial our target, relay
 *   forward: user -> our listener -> take a pooled conn, send TCP(id), relay
 *
 * The pool keeps <target> idle data connections, between min and the server's
 * max: it doubles when at least half of it was used in an interval and halves
 * (not below min) after an interval without use. Refills run every
 * POSTERN_POOL_MIN_INTERVAL (100 ms) while connections are missing, every
 * POSTERN_POOL_MAX_INTERVAL (1 s) otherwise, and at once after a use. When the
 * control channel dies the session's connections close and the client reconnects with
 * exponential backoff (1 s doubling to POSTERN_BACKOFF_MAX, plus jitter). */
#include "modes/modes.h"
#include "modes/client.h"
#include "modes/client_priv.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/url.h"
#include "modes/common.h"
#include "modes/egress.h"
#include "modes/instance.h"
#include "modes/tunnel.h"
#include "net/dns.h"
#include "net/sock.h"
#include "relay/entry.h"
#include "relay/link.h"
#include "relay/udp.h"
#include "route/dial.h"
#include "tunnel/auth.h"
#include "tunnel/open.h"
#include "tunnel/transport.h"

#include <stdio.h>
#include <string.h>

#define OPEN_BURST 32           /* data connections started per refill */
#define POOL_MIN 64             /* the pool floor without min= */
#define POOL_MIN_MUX 8          /* ... for a hub agent over type=3 (HTTP/2 streams) */


/* The STATE of a session that is up (docs/master.md "States"): degraded while
 * the pool is empty and data connections fail, or while the agent reports a
 * problem of its routes; connected otherwise. */
static void
client_health(struct client *cl)
{
    char s[PN_ADDRSTRLEN];
    if (!cl->side.sess.ready)
        return;
    if (cl->open_fails > 0 && tun_sess_idle(&cl->side.sess) == 0)
        pn_instance_state(&cl->in, "degraded", "pool empty: data connections to %s fail: %s",
                          pn_addr_str(&cl->server_addr, s), cl->open_err);
    else if (cl->issue[0] != '\0')
        pn_instance_state(&cl->in, "degraded", "%s", cl->issue);
    else
        pn_instance_state(&cl->in, "connected", "connected to %s",
                          pn_addr_str(&cl->server_addr, s));
}

void
pn_client_degraded(pn_client_t *cl, const char *reason)
{
    snprintf(cl->issue, sizeof(cl->issue), "%s", reason != NULL ? reason : "");
    client_health(cl);
}

/* Fail the run with <code>; an embedded client ends its session instead (and
 * reconnects): one node's trouble must not stop the entrance. */
static void
client_fail(struct client *cl, int code)
{
    if (cl->embedded)
        tun_sess_kick(&cl->side.sess, PN_EC_INTERNAL, "node unusable");
    else
        pn_instance_fail(&cl->in, code);
}

static const char *
flow_name(int flow)
{
    return flow == PN_FLOW_REVERSE ? "reverse" : "forward";
}

static void
cancel_opens(struct client *cl)
{
    while (!pn_list_empty(&cl->opens)) {
        struct opening *o = pn_container_of(cl->opens.next, struct opening, node);
        pn_list_del(&o->node);
        tun_open_cancel(o->op);
        free(o);
    }
    cl->nopens = 0;
}

/* Close what belongs to the session and plan the next attempt. */
void
client_session_end(struct client *cl, const char *why)
{
    int had = cl->side.sess.ctrl != NULL;
    tun_open_cancel(cl->ctrl_open);
    cl->ctrl_open = NULL;
    pn_dns_cancel(cl->lookup);
    cl->lookup = NULL;
    cancel_opens(cl);
    pn_mode_side_close(&cl->side);
    tun_xport_client_drop(&cl->xc);
    cl->has_pin = cl->verify_sent = 0;
    ev_timer_disarm(cl->refill);
    ev_timer_disarm(cl->tick);
    if (had && cl->hooks.ended != NULL)
        cl->hooks.ended(cl, cl->hooks.ctx);
    if (cl->in.stopping)
        return;
    uint64_t delay = pn_mode_backoff_next(&cl->backoff_ms, cl->cfg->backoff_max_ms);
    if (cl->naddrs > 1) {
        /* Several hubs (hubs=): the next one, at once after a session that was up. */
        char a[PN_ADDRSTRLEN];
        cl->cur = (cl->cur + 1) % cl->naddrs;
        cl->server_addr = cl->addrs[cl->cur];
        if (had)
            delay = 100;
        log_info("%s: next hub: %s", cl->side.name, pn_addr_str(&cl->server_addr, a));
    }
    if (had && cl->xc.moved) {
        delay = 0;          /* the control channel moves (tun_xport_client_learn) */
        log_info("%s: %s; reconnecting at once", cl->side.name, why);
    } else if (had) {
        log_warn("%s: session ended: %s; reconnecting in %llu ms", cl->side.name, why,
                 (unsigned long long)delay);
        pn_instance_state(&cl->in, "connecting", "session ended: %s; reconnecting", why);
    } else {
        log_warn("%s: %s; retrying in %llu ms", cl->side.name, why, (unsigned long long)delay);
        pn_instance_state(&cl->in, "error", "cannot connect to %s:%s: %s; retrying",
                          cl->cfg->host, cl->cfg->port, why);
    }
    ev_timer_arm(cl->reconnect, delay);
}

/* Any use of the pool: refill it soon. */
static void
on_take(tun_sess_t *ss, void *arg)
{
    struct client *cl = arg;
    if (ss->dchan != NULL)
        ev_timer_arm(cl->refill, 0);
}

static void
on_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    struct client *cl = arg;
    pn_mode_side_user(&cl->side, x, peer, local);
}

static void
on_udp_peer(udp_table_t *t, const pn_addr_t *peer, const uint8_t *d, size_t len, void *arg)
{
    struct client *cl = arg;
    pn_mode_side_udp_peer(&cl->side, t, peer, d, len);
}

/* The far end of an exchange: the agent's route, or the client's target. */
static void
client_exit(struct client *cl, uint32_t route, uint8_t type, pn_xprt_t *x, const pn_addr_t *src,
            const pn_addr_t *dst)
{
    if (cl->side.draining)
        pn_mode_side_exit(&cl->side, type, x, src, dst);    /* refused there */
    else if (cl->hooks.exit != NULL)
        cl->hooks.exit(cl, route, type, x, src, dst, cl->hooks.ctx);
    else
        pn_mode_side_exit(&cl->side, type, x, src, dst);
}

static struct opening *
find_opening(struct client *cl, const uint8_t *id)
{
    for (pn_list_t *p = cl->opens.next; p != &cl->opens; p = p->next) {
        struct opening *o = pn_container_of(p, struct opening, node);
        if (memcmp(o->id, id, PN_CONN_ID_LEN) == 0)
            return o;
    }
    return NULL;
}

static void
on_data_open(pn_xprt_t *x, const uint8_t *fp, const char *err, void *arg)
{
    struct opening *o = arg;
    struct client *cl = o->cl;
    uint8_t id[PN_CONN_ID_LEN];
    uint8_t claimed = o->claimed;
    uint32_t route = o->route;
    pn_addr_t src = o->src, dst = o->dst;
    char host[PN_TARGET_HOST_MAX + 1];
    uint16_t port = o->port;

    memcpy(host, o->host, sizeof(host));
    memcpy(id, o->id, sizeof(id));
    pn_list_del(&o->node);
    free(o);
    cl->nopens--;
    if (x == NULL) {
        if (strstr(err, "fingerprint") != NULL) {
            log_error("client: %s", err);
            tun_sess_kick(&cl->side.sess, PN_EC_VERIFY_FAILED, "certificate fingerprint mismatch");
            return;
        }
        if (cl->hello.tls == 2 && strncmp(err, "tls handshake", 13) == 0) {
            log_error("client: data channel certificate verification failed: %s", err);
            tun_sess_kick(&cl->side.sess, PN_EC_VERIFY_FAILED, "certificate verification failed");
            return;
        }
        log_debug("client: data connection failed: %s", err);
        cl->open_fails++;
        snprintf(cl->open_err, sizeof(cl->open_err), "%s", err);
        return;
    }
    if (tun_xport_client_mux(&cl->xc, NULL) == NULL) {
        /* type=3: the next streams open on this connection. */
        tun_xport_client_keep(&cl->xc, x, fp);
        if (tun_xport_client_mux(&cl->xc, NULL) != NULL)
            ev_timer_arm(cl->refill, 0);
    }
    if (cl->hello.tls == 1 && !cl->verify_sent && fp != NULL) {
        /* Tell the server what we saw, so a mismatch is caught on both ends. */
        tun_ctrl_send(cl->side.sess.ctrl, PN_FT_VERIFY, fp, PN_TLS_FP_LEN);
        cl->verify_sent = 1;
    }
    if (claimed && host[0] != '\0') {
        pn_mode_side_exit_to(&cl->side, claimed, x, &src, &dst, host, port);
        return;
    }
    if (claimed) {
        client_exit(cl, route, claimed, x, &src, &dst);
        return;
    }
    tun_sess_put(&cl->side.sess, x, id);
}

static void
open_data(struct client *cl)
{
    const tun_xport_t *xd = tun_xport_client_data(&cl->xc, &cl->hello, cl->data_tls);
    const uint8_t *mux_fp = NULL;
    pn_h2_mux_t *mux = xd != NULL && xd->type == PN_XPORT_H2
                     ? tun_xport_client_mux(&cl->xc, &mux_fp) : NULL;
    pn_quic_conn_t *quic = tun_xport_client_quic(&cl->xc, xd, cl->in.loop, &cl->server_addr,
                                                 cl->hello.tls, cl->pin, cl->cfg->handshake_ms, &mux_fp);
    /* type=3: while its one connection is being made, the other opens wait (the refill
     * comes back); type=1: no QUIC socket (logged), the next refill tries again. */
    if (xd != NULL && ((xd->type == PN_XPORT_H2 && mux == NULL && cl->nopens > 0) ||
                       (xd->type == PN_XPORT_QUIC && quic == NULL)))
        return;
    struct opening *o = xcalloc(sizeof(*o));
    uint8_t proof[PN_PROOF_LEN];
    o->cl = cl;
    pn_random(o->id, sizeof(o->id));
    /* A hub finds the session of a data connection by the tag its id starts with. */
    if (cl->hello.has_session)
        memcpy(o->id, cl->hello.session, PN_SESSION_TAG_LEN);
    tun_sess_proof(&cl->side.sess, o->id, proof);
    tun_open_opts_t opts = {
        .kind = PN_KIND_DATA, .tls = xd != NULL ? NULL : cl->data_tls, .sni = cl->sni,
        .pin = cl->hello.tls == 1 ? cl->pin : NULL, .id = o->id, .proof = proof,
        .timeout_ms = cl->cfg->handshake_ms, .xport = xd, .mux = mux, .mux_fp = mux_fp, .quic = quic,
    };
    pn_list_add(&cl->opens, &o->node);
    cl->nopens++;
    o->op = tun_open_start(cl->in.loop, &cl->server_addr, &opts, on_data_open, o);
}

static long
on_refill(ev_timer_t *t, void *arg)
{
    struct client *cl = arg;
    tun_sess_t *ss = &cl->side.sess;
    if (!ss->ready)
        return EV_TIMER_STOP;
    size_t want = tun_dchan_want(ss->dchan, cl->target);
    want = want > cl->nopens ? want - cl->nopens : 0;
    if (want > OPEN_BURST)
        want = OPEN_BURST;
    for (size_t i = 0; i < want; i++)
        open_data(cl);
    int missing = tun_dchan_want(ss->dchan, cl->target) > cl->nopens;
    log_debug("%s: pool refill: %zu opened, %zu idle, next in %llu ms", cl->side.name, want,
              tun_sess_idle(ss), (unsigned long long)(missing ? cl->cfg->pool_min_ms
                                                                : cl->cfg->pool_max_ms));
    return (long)(missing ? cl->cfg->pool_min_ms : cl->cfg->pool_max_ms);
}

static long
on_tick(ev_timer_t *t, void *arg)
{
    struct client *cl = arg;
    size_t min = cl->min;
    if (!cl->side.sess.ready)
        return EV_TIMER_STOP;
    uint64_t takes = cl->side.sess.takes;
    tun_sess_check(&cl->side.sess);
    if (!cl->side.sess.ready)
        return EV_TIMER_STOP;
    client_health(cl);
    cl->open_fails = 0;
    if (takes * 2 >= cl->target) {
        size_t grown = cl->target * 2;
        cl->target = grown > cl->hello.max ? cl->hello.max : grown;
    } else if (takes == 0 && cl->target > min) {
        cl->target = cl->target / 2 < min ? min : cl->target / 2;
        tun_dchan_trim(cl->side.sess.dchan, cl->target);
    }
    ev_timer_arm(cl->refill, 0);
    return (long)cl->cfg->report_ms;
}

/* HELLO (and, for tls=1, the server's fingerprint) received: set the session up. */
static void
session_ready(struct client *cl)
{
    char s[PN_ADDRSTRLEN], err[PN_ERR_LEN];
    if (cl->data_tls_mode != cl->hello.tls) {
        pn_tls_ctx_free(cl->data_tls);
        cl->data_tls_mode = -1;
        pn_tls_ktls_quiet(cl->hello.tls == 0);    /* the server's word, not our URL's */
        if (cl->hello.tls != 0) {
            cl->data_tls = pn_tls_client_new(cl->hello.tls == 2, cl->cfg->ca, err);
            if (cl->data_tls == NULL) {
                log_error("client: %s", err);
                client_fail(cl, PN_EXIT_USAGE);
                return;
            }
        }
        cl->data_tls_mode = cl->hello.tls;
    }
    if (tun_xport_client_learn(&cl->xc, &cl->hello, cl->data_tls)) {
        /* Given no type=: one connection for all when the server has type=3. */
        tun_sess_kick(&cl->side.sess, PN_EC_SHUTDOWN, cl->hello.transport == PN_XPORT_H2
                      ? "control channel moves onto HTTP/2" : "control channel moves to type=0");
        return;
    }
    int tcp = (cl->hello.proto & PN_PROTO_TCP) && !cl->cfg->notcp;
    int udp = (cl->hello.proto & PN_PROTO_UDP) && !cl->cfg->noudp;
    if (cl->embedded && (cl->hello.flow != PN_FLOW_FORWARD || !tcp))
        log_warn("%s: %s is not a forward TCP tunnel (start the node with mode=2): not used",
                 cl->side.name, pn_addr_str(&cl->server_addr, s));
    if (cl->hello.flow == PN_FLOW_FORWARD && tcp && cl->user_entry == NULL &&
        !cl->side.draining && !cl->embedded) {
        int fd = pn_listen_tcp(&cl->listen_addr, 4096, NULL, err);
        if (fd == -1) {
            log_error("client: %s", err);
            pn_instance_fail(&cl->in, PN_EXIT_RUNTIME);
            return;
        }
        cl->user_entry = pn_entry_new(cl->in.loop, fd, NULL, cl->cfg->handshake_ms, on_user, cl);
        pn_gate_live_on(pn_entry_gate(cl->user_entry)); /* live connections per source */
        log_info("client: listening for users on %s (tcp)", pn_addr_str(&cl->listen_addr, s));
    }
    if (cl->hello.flow == PN_FLOW_FORWARD && udp && cl->utable == NULL && !cl->embedded) {
        int fd = pn_listen_udp(&cl->listen_addr, err);
        if (fd == -1) {
            log_error("client: %s", err);
            pn_instance_fail(&cl->in, PN_EXIT_RUNTIME);
            return;
        }
        cl->utable = udp_table_new(cl->in.loop, fd, cl->side.udp, on_udp_peer, cl);
        log_info("client: listening for users on %s (udp)", pn_addr_str(&cl->listen_addr, s));
    }
    cl->side.sess.ready = 1;
    cl->backoff_ms = BACKOFF_MIN_MS;
    cl->in.report_mode = 2;
    /* The pool never holds more than a quarter of our descriptors: the
     * exchanges it serves need theirs (a target each), or out of descriptors
     * the idle pool would keep every one and no user be served again. */
    uint64_t cap = pn_sock_nofile() / 4 < 4 ? 4 : pn_sock_nofile() / 4;
    if (cl->hello.max > cap) {
        log_info("%s: pool capped at %llu (a quarter of ulimit -n) instead of %u",
                 cl->side.name, (unsigned long long)cap, cl->hello.max);
        cl->hello.max = (uint32_t)cap;
    }
    const tun_xport_t *xd = tun_xport_client_data(&cl->xc, &cl->hello, cl->data_tls);
    /* Without min=: 64, but a hub's agent over type=3 keeps POOL_MIN_MUX: its
     * idle streams cost the hub memory per agent, and one more opens on the
     * connection already there (the pool grows under load, on_tick). */
    size_t min = cl->cfg->min != 0 ? cl->cfg->min
                 : cl->hello.has_session && xd != NULL && xd->type == 3 ? POOL_MIN_MUX : POOL_MIN;
    if (min > cl->hello.max)
        min = cl->hello.max;
    cl->min = min;
    cl->target = min;
    log_info("%s: connected to %s, flow=%s, tls=%d, type=%d, pool %zu-%u", cl->side.name,
             pn_addr_str(&cl->server_addr, s), flow_name(cl->hello.flow), cl->hello.tls,
             xd != NULL ? xd->type : 0, min, cl->hello.max);
    ev_timer_arm(cl->refill, 0);
    ev_timer_arm(cl->tick, cl->cfg->report_ms);
    cl->open_fails = 0;
    client_health(cl);
    if (cl->hooks.ready != NULL)
        cl->hooks.ready(cl, cl->side.sess.ctrl, cl->hooks.ctx);
}

/* The session's frames beyond FLUSH and ERROR: HELLO, VERIFY (the server's
 * fingerprint), signals, and an agent's frames. */
static int
on_frame(tun_sess_t *ss, const pn_frame_t *f, void *arg)
{
    struct client *cl = arg;
    tun_ctrl_t *c = ss->ctrl;
    const uint8_t *id;
    const char *why;
    pn_sig_addr_t ssrc, sdst;
    pn_addr_t src, dst;
    uint32_t route;
    char host[PN_TARGET_HOST_MAX + 1];
    uint16_t port;

    switch (f->type) {
    case PN_FT_HELLO:
        if (cl->hello.max != 0 || pn_hello_decode(f->payload, f->len, &cl->hello, &why) != PN_OK ||
            (cl->hooks.exit != NULL && (cl->hello.flow != PN_FLOW_REVERSE || !cl->hello.has_session))) {
            tun_ctrl_fail(c, PN_EC_PROTOCOL, "bad HELLO");
            return PN_OK;
        }
        ss->epoch_s = cl->hello.epoch_s;    /* data proofs name their epoch */
        ss->hello_ms = pn_now_ms();
        if (cl->hello.tls != 1)
            session_ready(cl);
        return PN_OK;
    case PN_FT_VERIFY:
        if (cl->hello.tls != 1 || cl->has_pin || f->len != PN_TLS_FP_LEN) {
            tun_ctrl_fail(c, PN_EC_PROTOCOL, "unexpected VERIFY");
            return PN_OK;
        }
        memcpy(cl->pin, f->payload, PN_TLS_FP_LEN);
        cl->has_pin = 1;
        session_ready(cl);
        return PN_OK;
    case PN_FT_TCP:
    case PN_FT_UDP:
        if (!ss->ready || cl->hello.flow != PN_FLOW_REVERSE ||
            !(cl->hello.proto & (f->type == PN_FT_TCP ? PN_PROTO_TCP : PN_PROTO_UDP)) ||
            pn_signal_decode_route(f->payload, f->len, &id, &ssrc, &sdst, &route, &why) != PN_OK ||
            pn_signal_decode_target(f->payload, f->len, host, &port, &why) != PN_OK) {
            tun_ctrl_fail(c, PN_EC_PROTOCOL, "unexpected signal");
            return PN_OK;
        }
        tun_sig_to_addr(&ssrc, &src);
        tun_sig_to_addr(&sdst, &dst);
        ev_timer_arm(cl->refill, 0);
        /* The server registers a connection before we read its DATA_OK, and may
         * use it at once: the signal can overtake the DATA_OK. */
        struct opening *o = find_opening(cl, id);
        if (o != NULL) {
            ss->takes++;
            o->claimed = f->type;
            o->route = route;
            o->src = src;
            o->dst = dst;
            memcpy(o->host, host, sizeof(host));
            o->port = port;
            return PN_OK;
        }
        pn_xprt_t *data = tun_sess_take_id(ss, id);
        if (data != NULL && host[0] != '\0')
            pn_mode_side_exit_to(&cl->side, f->type, data, &src, &dst, host, port);
        else if (data != NULL)
            client_exit(cl, route, f->type, data, &src, &dst);
        else
            log_debug("client: TCP signal for a connection not in the pool");
        return PN_OK;
    default:
        if (cl->hooks.frame != NULL && ss->ready && cl->hooks.frame(cl, f, cl->hooks.ctx) == PN_OK)
            return PN_OK;
        return PN_ERR;
    }
}

static void
on_ended(tun_sess_t *ss, const char *why, void *arg)
{
    client_session_end(arg, why);
}

/* Whether the handshake error <err> is the server's refusal of our PSK: the
 * alert a postern server sends for a wrong key (illegal parameter, or decrypt
 * error from older OpenSSL), or a hub for an unknown token (handshake failure).
 * A timeout or a reset is not: those are retried. */
static int
key_refused(const char *err)
{
    static const char *const alerts[] = {
        "alert illegal parameter", "alert decrypt error", "alert handshake failure",
    };
    if (strncmp(err, "tls handshake", 13) != 0)
        return 0;
    for (size_t i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++)
        if (strstr(err, alerts[i]) != NULL)
            return 1;
    return 0;
}

static void
on_ctrl_open(pn_xprt_t *x, const uint8_t *fp, const char *err, void *arg)
{
    struct client *cl = arg;
    char s[PN_ADDRSTRLEN];
    cl->ctrl_open = NULL;
    if (x == NULL) {
        const char *what = cl->hooks.exit ? "wrong token" : "wrong key";
        if (key_refused(err) && !cl->embedded) {
            /* Final: retrying with the same key cannot succeed. */
            log_error("%s: " PN_FINAL_MARK " authentication failed with %s: %s; stopping",
                      cl->side.name, pn_addr_str(&cl->server_addr, s), what);
            pn_instance_state(&cl->in, "error", "authentication failed with %s: %s",
                              pn_addr_str(&cl->server_addr, s), what);
            pn_instance_fail(&cl->in, PN_EXIT_RUNTIME);
            return;
        }
        if (strncmp(err, "tls handshake", 13) == 0)
            log_error("%s: authentication failed with %s (%s?): %s", cl->side.name,
                      pn_addr_str(&cl->server_addr, s), what, err);
        tun_xport_client_forget(&cl->xc);  /* type=0 again, until a HELLO says 3 */
        client_session_end(cl, err);
        return;
    }
    memset(&cl->hello, 0, sizeof(cl->hello));
    tun_xport_client_keep(&cl->xc, x, fp);     /* type=3: data streams join its connection */
    if (tun_sess_attach(&cl->side.sess, x) != PN_OK)
        client_session_end(cl, "cannot derive the session secret");
}

static void
open_control(struct client *cl)
{
    tun_open_opts_t o = {
        .kind = PN_KIND_CONTROL, .tls = cl->psk_ctx, .timeout_ms = cl->cfg->handshake_ms,
        .xport = tun_xport_client_ctrl(&cl->xc),
    };
    cl->ctrl_open = tun_open_start(cl->in.loop, &cl->server_addr, &o, on_ctrl_open, cl);
}

static void
on_server_resolved(const pn_addr_t *addr, const char *err, void *arg)
{
    struct client *cl = arg;
    char a[PN_ADDRSTRLEN];
    cl->lookup = NULL;
    if (addr != NULL) {
        pn_addr_t n = *addr;
        pn_addr_set_port(&n, pn_addr_port(&cl->server_addr));
        if (!pn_addr_equal(&n, &cl->server_addr))
            log_info("client: %s now resolves to %s", cl->cfg->host, pn_addr_str(&n, a));
        cl->server_addr = n;
    } else {
        log_warn("client: %s does not resolve (%s); trying %s", cl->cfg->host, err,
                 pn_addr_str(&cl->server_addr, a));
    }
    open_control(cl);
}

/* (Re)connect. A server given by name is resolved again first, without
 * blocking, so a client follows a server that moved while it was away. */
void
client_connect(struct client *cl)
{
    if (cl->in.dns != NULL && cl->cur == 0 && !pn_dns_is_literal(cl->cfg->host)) {
        /* NULL when answered at once: on_server_resolved has run already. */
        cl->lookup = pn_dns_resolve(cl->in.dns, cl->cfg->host, cl->cfg->port,
                                    on_server_resolved, cl);
        return;
    }
    open_control(cl);
}

static long
on_reconnect(ev_timer_t *t, void *arg)
{
    client_connect(arg);
    return EV_TIMER_STOP;
}

static void
client_refresh(pn_instance_t *in, void *arg)
{
    struct client *cl = arg;
    pn_mode_side_stats(&cl->side, &in->stats);
}

static void
client_stop(pn_instance_t *in, void *arg)
{
    struct client *cl = arg;
    tun_sess_kick(&cl->side.sess, PN_EC_SHUTDOWN, "client shutting down");
    client_session_end(cl, "shutting down");
    ev_timer_disarm(cl->reconnect);
    pn_entry_free(cl->user_entry);
    udp_table_free(cl->utable);
    if (cl->hooks.stop != NULL) {
        cl->hooks.stop(cl, cl->hooks.ctx);
        cl->hooks.stop = NULL;
    }
}

pn_instance_t *
pn_client_instance(pn_client_t *cl)
{
    return &cl->in;
}

void
pn_client_reload(pn_client_t *cl)
{
    tun_xport_client_rebind(&cl->xc);
}

static void
client_reload(pn_instance_t *in, void *arg)
{
    pn_client_reload(arg);
}

struct pn_mode_side *
pn_client_side(pn_client_t *cl)
{
    return &cl->side;
}

/* ---- set-up shared by the tunnel client, the agent and an entrance's node ------- */

void
client_timers(struct client *cl, ev_loop_t *loop)
{
    cl->refill = ev_timer_new(loop, on_refill, cl);
    cl->tick = ev_timer_new(loop, on_tick, cl);
    cl->reconnect = ev_timer_new(loop, on_reconnect, cl);
}

void
client_timers_free(struct client *cl)
{
    ev_timer_free(cl->refill);
    ev_timer_free(cl->tick);
    ev_timer_free(cl->reconnect);
}

/* agent hubs=: resolve the other hubs (at start-up) after the URL's own. */
static int
client_hubs(struct client *cl, char *err)
{
    char *list, *save = NULL, *host, *port;
    if (cl->cfg->hubs == NULL)
        return PN_OK;
    list = xstrdup(cl->cfg->hubs);
    cl->addrs = xcalloc(17 * sizeof(*cl->addrs));
    cl->addrs[cl->naddrs++] = cl->server_addr;
    int rc = PN_OK;
    for (char *item = strtok_r(list, ",", &save); item != NULL && rc == PN_OK && cl->naddrs < 17;
         item = strtok_r(NULL, ",", &save)) {
        rc = pn_hostport_split(item, &host, &port, err);
        if (rc != PN_OK)
            break;
        rc = pn_addr_resolve(host, port, 0, &cl->addrs[cl->naddrs], err);
        free(host);
        free(port);
        if (rc == PN_OK)
            cl->naddrs++;
    }
    free(list);
    return rc;
}

void
client_side(struct client *cl, const char *who, const char *peer)
{
    tun_sess_opts_t so = {
        .who = who, .peer = peer, .interval_ms = cl->cfg->report_ms, .wait_ms = cl->cfg->pool_wait_ms,
    };
    tun_sess_hooks_t sh = { .ctx = cl, .frame = on_frame, .ended = on_ended, .taken = on_take };
    pn_mode_side_init(&cl->side, &cl->in, who, &so, &sh);
}

static int
client_loop(struct client *cl)
{
    const pn_config_t *cfg = cl->cfg;
    pn_instance_init(&cl->in, cfg, 2);
    cl->in.stop = client_stop;
    cl->in.refresh = client_refresh;
    cl->in.stop_ctx = cl;
    cl->in.reload = client_reload;      /* an agent's hook_start puts its own, which calls it */
    cl->in.reload_ctx = cl;
    client_side(cl, cl->hooks.exit != NULL ? "agent" : "client", "server");
    cl->side.user_entry = &cl->user_entry;
    pn_mode_side_drains(&cl->side, &cl->in);
    char err[PN_ERR_LEN];
    if (pn_mode_egress_setup(&cl->side, cfg, err) != PN_OK)
        log_error("%s: egress=1 is off: %s", cl->side.name, err);
    cl->side.set = cl->side.sess.links.set = &cl->set;
    cl->side.src = cl->side.sess.links.src = cl->has_src ? &cl->src : NULL;
    client_timers(cl, cl->in.loop);
    pn_instance_dns(&cl->in, &cl->set);
    if (cl->hooks.start != NULL)
        cl->hooks.start(cl, cl->hooks.ctx);
    log_info("%s: %s for %s:%s", cl->side.name, cl->hooks.exit != NULL ? "hub agent" : "tunnel client",
             cfg->host, cfg->port);
    pn_instance_state(&cl->in, "connecting", "connecting to %s:%s", cfg->host, cfg->port);
    client_connect(cl);
    int rc = pn_instance_run(&cl->in);
    client_stop(&cl->in, cl);
    pn_mode_egress_free(&cl->side);
    pn_mode_side_clear(&cl->side);
    client_timers_free(cl);
    log_info("%s: stopped", cl->side.name);
    pn_instance_clear(&cl->in);
    return rc;
}

int
pn_client_run_hooked(const pn_config_t *cfg, pn_tls_ctx_t *psk, const pn_client_hooks_t *h)
{
    struct client cl;
    char err[PN_ERR_LEN];
    int rc;

    memset(&cl, 0, sizeof(cl));
    client_init(&cl, cfg);
    cl.hooks = *h;
    cl.psk_ctx = psk;
    lb_init(&cl.set, LB_ROUND_ROBIN, 0, 0);
    if (pn_addr_resolve(cfg->host, cfg->port, 0, &cl.server_addr, err) != PN_OK ||
        client_hubs(&cl, err) != PN_OK ||
        pn_mode_dial_source(cfg, &cl.src, &cl.has_src, err) != PN_OK) {
        rc = pn_fail(PN_EXIT_USAGE, err);
        goto out;
    }
    rc = client_xport(&cl, err) != PN_OK ? pn_fail(PN_EXIT_USAGE, err) : client_loop(&cl);
out:
    client_clear(&cl);
    return rc;
}

int
pn_client_run(const pn_config_t *cfg)
{
    struct client cl;
    char err[PN_ERR_LEN];
    int rc = PN_EXIT_USAGE;

    memset(&cl, 0, sizeof(cl));
    client_init(&cl, cfg);
    if (pn_addr_resolve(cfg->host, cfg->port, 0, &cl.server_addr, err) != PN_OK)
        return pn_fail(PN_EXIT_USAGE, err);
    /* Reverse: the targets are what we dial. Forward: the first is where we
     * listen. Which one applies is the server's word, so prepare both. */
    if (pn_targets_resolve(cfg, &cl.set, err) != PN_OK)
        return pn_fail(PN_EXIT_USAGE, err);
    /* The forward flow's listen address; in the reverse flow a target name
     * that does not resolve yet is the DNS cache's to retry, not an error. */
    if (pn_addr_resolve(cfg->targets[0].host, cfg->targets[0].port, 1, &cl.listen_addr, err) !=
        PN_OK) {
        if (pn_dns_is_literal(cfg->targets[0].host))
            goto usage;
        memset(&cl.listen_addr, 0, sizeof(cl.listen_addr));
    }
    if (pn_mode_dial_source(cfg, &cl.src, &cl.has_src, err) != PN_OK)
        goto usage;
    if (cfg->ca != NULL) {
        /* Fail now, with the field named, rather than at the first data connection. */
        pn_tls_ctx_t *probe = pn_tls_client_new(1, cfg->ca, err);
        if (probe == NULL) {
            char sub[PN_ERR_LEN];
            memcpy(sub, err, sizeof(sub));
            pn_err_set(err, "ca: %s", sub);
            goto usage;
        }
        pn_tls_ctx_free(probe);
    }
    if (client_xport(&cl, err) != PN_OK)
        goto usage;
    tun_psk_derive(cfg->key, cfg->port, cl.psk);
    cl.psk_ctx = pn_tls_psk_new(0, cl.psk, sizeof(cl.psk), err);
    if (cl.psk_ctx == NULL)
        goto usage;

    rc = client_loop(&cl);
    goto out;
usage:
    pn_fail(PN_EXIT_USAGE, err);
out:
    client_clear(&cl);
    return rc;
}
