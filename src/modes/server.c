/* modes/server.c: the tunnel server (server://).
 *
 *   client --control (TLS-PSK)--> tunnel port --greet--> session
 *   client --data (pool)--------> tunnel port --greet--> pool (by id)
 *
 *   reverse: user -> target listener -> take a pooled conn, send TCP(id), relay
 *   forward: TCP(id) from the client -> take that conn, dial a target, relay
 *
 * One client at a time (as NodePass): while a session is alive, another
 * authenticated client gets ERROR(BUSY) and is closed. When the session's
 * control channel dies, its pooled and active data connections close. */
#include "modes/modes.h"
#include "core/log.h"
#include "core/mem.h"
#include "modes/common.h"
#include "modes/egress.h"
#include "modes/server.h"
#include "modes/instance.h"
#include "modes/tunnel.h"
#include "net/sock.h"
#include "relay/entry.h"
#include "relay/link.h"
#include "relay/udp.h"
#include "route/dial.h"
#include "tunnel/accept.h"
#include "tunnel/transport.h"
#include "tunnel/auth.h"

#include <stdio.h>
#include <string.h>

struct server {
    pn_instance_t in;
    const pn_config_t *cfg;     /* borrowed */
    int flow;                   /* PN_FLOW_* */
    pn_addr_t tunnel_addr;
    pn_addr_t target_addr;      /* reverse: where users connect */
    lb_set_t set;               /* forward: targets to dial; owned */
    pn_addr_t src;
    int has_src;
    uint8_t psk[TUN_PSK_LEN];
    pn_tls_ctx_t *psk_ctx;      /* owned */
    pn_tls_ctx_t *data_tls;     /* owned, NULL for tls=0 */
    uint8_t fp[PN_TLS_FP_LEN];  /* tls=1: our data certificate's fingerprint */
    tun_accept_t *tunnel;       /* owned: the tunnel port */
    pn_entry_t *user_entry;     /* owned; reverse only, unless notcp=1 */
    udp_table_t *utable;        /* owned; reverse UDP listener, unless noudp=1 */
    route_prober_t *prober;     /* owned; forward with lbs=1 */
    /* The attached client's session: side.sess.ctrl is NULL when none is attached. */
    struct pn_mode_side side;
    pn_addr_t peer;
    ev_timer_t *tick;           /* owned: per-interval pool health */
    int embedded;               /* a proxy entrance's reverse node (modes/server.h) */
    char vname[80];             /* embedded: "via rev <addr>", its log name */
};

static const char *
flow_name(int flow)
{
    return flow == PN_FLOW_REVERSE ? "reverse" : "forward";
}

static void
session_end(struct server *sv, const char *why)
{
    char s[PN_ADDRSTRLEN];
    if (sv->side.sess.ctrl == NULL)
        return;
    log_info("%s: client %s detached: %s", sv->side.name, pn_addr_str(&sv->peer, s), why);
    pn_mode_side_close(&sv->side);
    ev_timer_disarm(sv->tick);
    if (!sv->in.stopping)
        pn_instance_state(&sv->in, "connecting", "waiting for a client (the last one left: %s)",
                          why);
}

static void
on_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    struct server *sv = arg;
    pn_mode_side_user(&sv->side, x, peer, local);
}

static void
on_udp_peer(udp_table_t *t, const pn_addr_t *peer, const uint8_t *d, size_t len, void *arg)
{
    struct server *sv = arg;
    pn_mode_side_udp_peer(&sv->side, t, peer, d, len);
}

/* The session's frames beyond FLUSH, VERIFY and ERROR: forward, the client
 * names a data channel for an exchange of <type> from the user <src> to <dst>. */
static int
on_frame(tun_sess_t *ss, const pn_frame_t *f, void *arg)
{
    struct server *sv = arg;
    const uint8_t *id;
    const char *why;
    pn_sig_addr_t ssrc, sdst;
    pn_addr_t src, dst;
    char host[PN_TARGET_HOST_MAX + 1];
    uint16_t port;

    if (f->type != PN_FT_TCP && f->type != PN_FT_UDP)
        return PN_ERR;
    if (sv->flow != PN_FLOW_FORWARD || (f->type == PN_FT_TCP ? sv->cfg->notcp : sv->cfg->noudp) ||
        pn_signal_decode_addrs(f->payload, f->len, &id, &ssrc, &sdst, &why) != PN_OK ||
        pn_signal_decode_target(f->payload, f->len, host, &port, &why) != PN_OK) {
        tun_sess_kick(ss, PN_EC_PROTOCOL, "unexpected signal");
        return PN_OK;
    }
    tun_sig_to_addr(&ssrc, &src);
    tun_sig_to_addr(&sdst, &dst);
    pn_xprt_t *data = tun_sess_take_id(ss, id);
    if (data == NULL) {
        log_debug("server: signal for a connection not in the pool");
        return PN_OK;
    }
    pn_mode_side_exit_to(&sv->side, f->type, data, &src, &dst, host, port);
    return PN_OK;
}

static void
on_ended(tun_sess_t *ss, const char *why, void *arg)
{
    session_end(arg, why);
}

static long
on_tick(ev_timer_t *t, void *arg)
{
    struct server *sv = arg;
    if (sv->side.sess.ctrl == NULL)
        return EV_TIMER_STOP;
    tun_sess_check(&sv->side.sess);
    return (long)sv->cfg->report_ms;
}

/* Refuse a second client: tell it why, best effort, and close. */
static void
refuse_busy(pn_xprt_t *x, const pn_addr_t *peer)
{
    char s[PN_ADDRSTRLEN];
    uint8_t p[2 + PN_ERROR_REASON_MAX], frame[PN_FRAME_HDR + sizeof(p)];
    size_t n = pn_error_encode(PN_EC_BUSY, "another client is attached", p, sizeof(p));
    size_t len = pn_frame_encode(frame, sizeof(frame), PN_FT_ERROR, 0, 0, p, n);
    (void)x->ops->write(x, frame, len);
    log_warn("server: refused client %s: another client is attached", pn_addr_str(peer, s));
    pn_xprt_free(x);
}

/* An authenticated control connection: the client's session, unless one is attached. */
static void
on_control(pn_xprt_t *x, const pn_addr_t *peer, void *arg)
{
    struct server *sv = arg;
    char s[PN_ADDRSTRLEN];
    pn_hello_t h = {
        .flow = (uint8_t)sv->flow, .tls = (uint8_t)sv->cfg->tls,
        .proto = (uint8_t)((sv->cfg->notcp ? 0 : PN_PROTO_TCP) | (sv->cfg->noudp ? 0 : PN_PROTO_UDP)),
        .max = pn_mode_pool_max(sv->cfg), .interval_ms = (uint32_t)sv->cfg->report_ms,
    };
    tun_xport_hello(&h, sv->cfg->xtype, sv->cfg->ws_path);
    if (sv->side.sess.ctrl != NULL) {
        refuse_busy(x, peer);
        return;
    }
    if (tun_sess_attach(&sv->side.sess, x) != PN_OK)
        return;
    sv->peer = *peer;
    sv->side.sess.ready = 1;
    tun_sess_hello(&sv->side.sess, &h);
    ev_timer_arm(sv->tick, sv->cfg->report_ms);
    log_info("%s: client %s attached (flow=%s, tls=%d, max=%u)", sv->side.name, pn_addr_str(peer, s),
             flow_name(sv->flow), sv->cfg->tls, pn_mode_pool_max(sv->cfg));
    pn_instance_state(&sv->in, "connected", "serving the tunnel client at %s",
                      pn_addr_str(peer, s));
    /* Users that waited for a client get their channels as the pool fills. */
}

/* The session a data channel belongs to: the one attached. */
static tun_sess_t *
find_sess(const uint8_t *id, void *arg)
{
    struct server *sv = arg;
    return sv->side.sess.ctrl != NULL ? &sv->side.sess : NULL;
}

static void
server_refresh(pn_instance_t *in, void *arg)
{
    struct server *sv = arg;
    pn_mode_side_stats(&sv->side, &in->stats);
}

static void
server_stop(pn_instance_t *in, void *arg)
{
    struct server *sv = arg;
    tun_sess_kick(&sv->side.sess, PN_EC_SHUTDOWN, "server shutting down");
    session_end(sv, "shutting down");
    tun_accept_free(sv->tunnel);
    pn_entry_free(sv->user_entry);
    udp_table_free(sv->utable);
    route_prober_free(sv->prober);
}

/* Decide the flow: reverse when the (single) target can be bound here, or
 * when forced; forward otherwise. */
static int
choose_flow(struct server *sv, char *err)
{
    const pn_config_t *cfg = sv->cfg;
    int can_bind = 0;
    if (cfg->ntargets == 1 &&
        pn_addr_resolve(cfg->targets[0].host, cfg->targets[0].port, 1, &sv->target_addr, NULL) ==
            PN_OK)
        can_bind = pn_can_bind_tcp(&sv->target_addr);
    if (cfg->mode == 1) {
        if (cfg->ntargets != 1)
            return pn_err_set(err, "target: a reverse tunnel (mode=1) listens on exactly one "
                                   "target address");
        if (pn_addr_resolve(cfg->targets[0].host, cfg->targets[0].port, 1, &sv->target_addr,
                            err) != PN_OK)
            return PN_ERR;
        sv->flow = PN_FLOW_REVERSE;
    } else if (cfg->mode == 2 || !can_bind) {
        sv->flow = PN_FLOW_FORWARD;
    } else {
        sv->flow = PN_FLOW_REVERSE;
    }
    return PN_OK;
}

int
pn_server_run(const pn_config_t *cfg)
{
    struct server sv;
    char err[PN_ERR_LEN], s[PN_ADDRSTRLEN];
    int rc = PN_EXIT_USAGE, lfd = -1, ufd = -1, dfd = -1;

    memset(&sv, 0, sizeof(sv));
    sv.cfg = cfg;
    if (pn_addr_resolve(cfg->host, cfg->port, 1, &sv.tunnel_addr, err) != PN_OK)
        goto usage;
    if (choose_flow(&sv, err) != PN_OK)
        goto usage;
    if (sv.flow == PN_FLOW_FORWARD && pn_targets_resolve(cfg, &sv.set, err) != PN_OK)
        goto usage;
    if (sv.flow == PN_FLOW_FORWARD && pn_targets_check_loop(&sv.set, &sv.tunnel_addr, err) != PN_OK)
        goto usage;
    if (sv.flow == PN_FLOW_REVERSE && pn_addr_port(&sv.target_addr) == pn_addr_port(&sv.tunnel_addr)) {
        pn_err_set(err, "target: the target address is the tunnel address (a loop)");
        goto usage;
    }
    if (pn_mode_dial_source(cfg, &sv.src, &sv.has_src, err) != PN_OK ||
        pn_mode_tls_server(cfg, &sv.data_tls, err) != PN_OK)
        goto usage;
    if (sv.data_tls != NULL && pn_tls_ctx_fingerprint(sv.data_tls, sv.fp) != 0) {
        pn_err_set(err, "tls: cannot fingerprint the certificate");
        goto usage;
    }
    tun_psk_derive(cfg->key, cfg->port, sv.psk);
    sv.psk_ctx = pn_tls_psk_new(1, sv.psk, sizeof(sv.psk), err);
    if (sv.psk_ctx == NULL)
        goto usage;

    lfd = pn_listen_tcp(&sv.tunnel_addr, 4096, NULL, err);
    if (lfd == -1) {
        rc = pn_fail(PN_EXIT_RUNTIME, err);
        goto out;
    }
    if (sv.flow == PN_FLOW_REVERSE &&
        ((!cfg->notcp && (ufd = pn_listen_tcp(&sv.target_addr, 4096, NULL, err)) == -1) ||
         (!cfg->noudp && (dfd = pn_listen_udp(&sv.target_addr, err)) == -1))) {
        pn_close(lfd);
        pn_close(ufd);
        rc = pn_fail(PN_EXIT_RUNTIME, err);
        goto out;
    }

    pn_instance_init(&sv.in, cfg, sv.flow == PN_FLOW_REVERSE ? 1 : 2);
    sv.in.stop = server_stop;
    sv.in.refresh = server_refresh;
    sv.in.stop_ctx = &sv;
    tun_sess_opts_t so = {
        .who = "server", .peer = "client", .accepting = 1, .tls = cfg->tls, .fp = sv.fp,
        .interval_ms = cfg->report_ms, .wait_ms = cfg->pool_wait_ms, .max = pn_mode_pool_max(cfg),
    };
    tun_sess_hooks_t sh = { .ctx = &sv, .frame = on_frame, .ended = on_ended };
    pn_mode_side_init(&sv.side, &sv.in, "server", &so, &sh);
    sv.side.user_entry = &sv.user_entry;
    if (pn_mode_egress_setup(&sv.side, cfg, err) != PN_OK)
        log_error("server: egress=1 is off: %s", err);
    pn_mode_side_drains(&sv.side, &sv.in);
    sv.side.set = sv.side.sess.links.set = &sv.set;
    sv.side.src = sv.side.sess.links.src = sv.has_src ? &sv.src : NULL;
    sv.tick = ev_timer_new(sv.in.loop, on_tick, &sv);
    tun_accept_opts_t ao = {
        .who = "server", .peer = "client", .auth_hint = "wrong key?", .psk = sv.psk_ctx,
        .data_tls = sv.data_tls, .quic_key = sv.psk, .timeout_ms = cfg->handshake_ms,
        .refused = &sv.in.stats.refused,
        .ctx = &sv, .find = find_sess, .control = on_control,
        .xtype = cfg->xtype, .path = cfg->ws_path,
    };
    sv.tunnel = tun_accept_new(sv.in.loop, lfd, &ao);
    if (ufd != -1) {
        sv.user_entry = pn_entry_new(sv.in.loop, ufd, NULL, cfg->handshake_ms, on_user, &sv);
        pn_gate_live_on(pn_entry_gate(sv.user_entry));  /* live connections per source */
    }
    if (dfd != -1)
        sv.utable = udp_table_new(sv.in.loop, dfd, sv.side.udp, on_udp_peer, &sv);
    pn_instance_dns(&sv.in, &sv.set);
    if (sv.flow == PN_FLOW_FORWARD && cfg->lbs == LB_LATENCY && sv.set.n > 1)
        sv.prober = route_prober_new(sv.in.loop, &sv.set, sv.side.src, cfg->report_ms,
                                     cfg->dial_timeout_ms);
    log_info("server: listening for clients on %s (flow=%s, tls=%d, type=%d)",
             pn_addr_str(&sv.tunnel_addr, s), flow_name(sv.flow), cfg->tls,
             cfg->xtype < 0 ? 0 : cfg->xtype);
    pn_instance_state(&sv.in, "connecting", "waiting for a client on %s",
                      pn_addr_str(&sv.tunnel_addr, s));
    if (sv.flow == PN_FLOW_REVERSE)
        log_info("server: publishing the client's service on %s", pn_addr_str(&sv.target_addr, s));
    else
        for (size_t i = 0; i < sv.set.n; i++)
            log_info("server: target %zu: %s", i, pn_addr_str(&sv.set.t[i].addr, s));
    rc = pn_instance_run(&sv.in);
    server_stop(&sv.in, &sv);
    pn_mode_egress_free(&sv.side);
    pn_mode_side_clear(&sv.side);
    ev_timer_free(sv.tick);
    log_info("server: stopped");
    pn_instance_clear(&sv.in);
    goto out;
usage:
    pn_fail(PN_EXIT_USAGE, err);
out:
    pn_tls_ctx_free(sv.psk_ctx);
    pn_tls_ctx_free(sv.data_tls);
    memset(sv.psk, 0, sizeof(sv.psk));
    lb_clear(&sv.set);
    return rc;
}

/* ---- a proxy entrance's reverse node (modes/server.h) ---------------------------- */

pn_server_t *
pn_server_embed(ev_loop_t *loop, const pn_config_t *cfg, char *err)
{
    struct server *sv = xcalloc(sizeof(*sv));
    int lfd = -1;
    sv->cfg = cfg;
    sv->embedded = 1;
    sv->flow = PN_FLOW_REVERSE;
    lb_init(&sv->set, LB_ROUND_ROBIN, 0, 0);
    if (pn_addr_resolve(cfg->host, cfg->port, 1, &sv->tunnel_addr, err) != PN_OK ||
        pn_mode_tls_server(cfg, &sv->data_tls, err) != PN_OK)
        goto fail;
    if (sv->data_tls != NULL && pn_tls_ctx_fingerprint(sv->data_tls, sv->fp) != 0) {
        pn_err_set(err, "tls: cannot fingerprint the certificate");
        goto fail;
    }
    tun_psk_derive(cfg->key, cfg->port, sv->psk);
    sv->psk_ctx = pn_tls_psk_new(1, sv->psk, sizeof(sv->psk), err);
    memset(sv->psk, 0, sizeof(sv->psk));
    if (sv->psk_ctx == NULL || (lfd = pn_listen_tcp(&sv->tunnel_addr, 4096, NULL, err)) == -1)
        goto fail;
    sv->in.loop = loop;         /* borrowed: the shadow instance is never run nor cleared */
    sv->in.shadow = 1;
    sv->in.cfg = cfg;
    snprintf(sv->vname, sizeof(sv->vname), "via rev %s:%s", cfg->host ? cfg->host : "", cfg->port);
    tun_sess_opts_t so = {
        .who = sv->vname, .peer = "node", .accepting = 1, .tls = cfg->tls, .fp = sv->fp,
        .interval_ms = cfg->report_ms, .wait_ms = cfg->pool_wait_ms, .max = pn_mode_pool_max(cfg),
    };
    tun_sess_hooks_t sh = { .ctx = sv, .frame = on_frame, .ended = on_ended };
    pn_mode_side_init(&sv->side, &sv->in, sv->vname, &so, &sh);
    sv->side.set = sv->side.sess.links.set = &sv->set;
    sv->tick = ev_timer_new(loop, on_tick, sv);
    tun_accept_opts_t ao = {
        .who = sv->vname, .peer = "node", .auth_hint = "wrong key?", .psk = sv->psk_ctx,
        .data_tls = sv->data_tls, .quic_key = sv->psk, .timeout_ms = cfg->handshake_ms,
        .refused = &sv->in.stats.refused,
        .ctx = sv, .find = find_sess, .control = on_control,
        .xtype = cfg->xtype, .path = cfg->ws_path,
    };
    sv->tunnel = tun_accept_new(loop, lfd, &ao);
    return sv;
fail:
    pn_tls_ctx_free(sv->psk_ctx);
    pn_tls_ctx_free(sv->data_tls);
    lb_clear(&sv->set);
    free(sv);
    return NULL;
}

void
pn_server_unembed(pn_server_t *sv)
{
    if (sv == NULL)
        return;
    server_stop(&sv->in, sv);
    pn_mode_side_clear(&sv->side);
    ev_timer_free(sv->tick);
    pn_tls_ctx_free(sv->psk_ctx);
    pn_tls_ctx_free(sv->data_tls);
    lb_clear(&sv->set);
    free(sv);
}

int
pn_server_usable(const pn_server_t *sv, int udp)
{
    return sv->side.sess.ctrl != NULL && sv->side.sess.ready && !(udp ? sv->cfg->noudp : sv->cfg->notcp);
}

struct pn_mode_side *
pn_server_side(pn_server_t *sv)
{
    return &sv->side;
}
