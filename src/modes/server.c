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
#include "relay/entry.h"
#include "modes/instance.h"
#include "relay/link.h"
#include "modes/tunnel.h"
#include "net/sock.h"
#include "relay/udp.h"
#include "route/dial.h"
#include "tunnel/auth.h"
#include "tunnel/ctrl.h"
#include "tunnel/open.h"
#include "tunnel/pool.h"
#include "tunnel/guard.h"
#include "tunnel/seen.h"

#include <string.h>

/* Handshakes that fail from one source: 10 within 10 s earn a 10 s ban at
 * accept; at most 64 handshakes in progress per source. */
#define GUARD_FAILS 10
#define GUARD_WINDOW_MS 10000
#define GUARD_BAN_MS 10000
#define GUARD_PENDING 64

struct greeting {
    pn_list_t node;             /* in server.greets */
    struct server *sv;          /* back pointer */
    tun_greet_t *g;             /* owned until its callback */
    pn_addr_t peer;
};

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
    pn_entry_t *tunnel_entry;   /* owned */
    pn_entry_t *user_entry;     /* owned; reverse only, unless notcp=1 */
    udp_table_t *utable;        /* owned; reverse UDP listener, unless noudp=1 */
    route_prober_t *prober;     /* owned; forward with lbs=1 */
    pn_list_t greets;           /* struct greeting, each owned */
    tun_guard_t guard;          /* failed handshakes per source */
    pn_ratelim_t guard_log;     /* refusals noted once a second */
    pn_ratelim_t fail_log;      /* failed handshakes noted once a second */
    /* The attached client's session: side.ctrl and side.pool (owned here) are
     * NULL when none is attached. */
    struct tun_side side;
    pn_addr_t peer;
    uint8_t secret[PN_DATA_SECRET_LEN];
    tun_seen_t seen;            /* data connection ids accepted in this session */
    int verified;               /* the client's VERIFY arrived (one per session) */
    ev_timer_t *tick;           /* owned: per-interval pool health */
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
    if (sv->side.ctrl == NULL)
        return;
    log_info("server: client %s detached: %s", pn_addr_str(&sv->peer, s), why);
    tun_ctrl_free(sv->side.ctrl);
    sv->side.ready = 0;
    tun_pool_free(sv->side.pool);
    tun_seen_clear(&sv->seen);
    tun_side_close(&sv->side);
    memset(sv->secret, 0, sizeof(sv->secret));
    ev_timer_disarm(sv->tick);
}

static void
on_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    struct server *sv = arg;
    tun_side_user(&sv->side, x, peer, local);
}

static void
on_udp_peer(udp_table_t *t, const pn_addr_t *peer, const uint8_t *d, size_t len, void *arg)
{
    struct server *sv = arg;
    tun_side_udp_peer(&sv->side, t, peer, d, len);
}

/* Forward: the client named pooled connection <id> for an exchange of <type>
 * from the user <src> to <dst>. */
static void
take_signal(struct server *sv, uint8_t type, const uint8_t *id, const pn_addr_t *src,
            const pn_addr_t *dst)
{
    sv->side.takes++;
    pn_xprt_t *data = tun_pool_take_id(sv->side.pool, id);
    if (data == NULL) {
        sv->side.fails++;
        log_debug("server: signal for a connection not in the pool");
        return;
    }
    tun_side_exit(&sv->side, type, data, src, dst);
}

static void
on_frame(tun_ctrl_t *c, const pn_frame_t *f, void *arg)
{
    struct server *sv = arg;
    const uint8_t *id;
    const char *why;
    pn_sig_addr_t ssrc, sdst;
    pn_addr_t src, dst;

    switch (f->type) {
    case PN_FT_TCP:
    case PN_FT_UDP:
        if (sv->flow != PN_FLOW_FORWARD || (f->type == PN_FT_TCP ? sv->cfg->notcp : sv->cfg->noudp) ||
            pn_signal_decode_addrs(f->payload, f->len, &id, &ssrc, &sdst, &why) != PN_OK) {
            tun_ctrl_fail(c, PN_EC_PROTOCOL, "unexpected signal");
            return;
        }
        tun_sig_to_addr(&ssrc, &src);
        tun_sig_to_addr(&sdst, &dst);
        take_signal(sv, f->type, id, &src, &dst);
        return;
    case PN_FT_FLUSH:
        tun_pool_trim(sv->side.pool, 0);
        return;
    case PN_FT_VERIFY:
        tun_verify_check(c, f, sv->cfg->tls, &sv->verified, sv->fp, "server: the client");
        return;
    case PN_FT_ERROR:
        tun_log_peer_error(f, LOG_WARN, "server", "client reported");
        session_end(sv, "error from the client");
        return;
    default:
        tun_ctrl_fail(c, PN_EC_PROTOCOL, "unexpected frame");
        return;
    }
}

static void
on_ctrl_close(tun_ctrl_t *c, const char *err, void *arg)
{
    session_end(arg, err ? err : "closed");
}

static long
on_tick(ev_timer_t *t, void *arg)
{
    struct server *sv = arg;
    if (sv->side.ctrl == NULL)
        return EV_TIMER_STOP;
    tun_pool_check(sv->side.ctrl, sv->side.pool, &sv->side.takes, &sv->side.fails, "server");
    return (long)sv->cfg->report_ms;
}

static void
session_start(struct server *sv, pn_xprt_t *x, const pn_addr_t *peer)
{
    char s[PN_ADDRSTRLEN];
    uint8_t p[64];
    pn_hello_t h = {
        .flow = (uint8_t)sv->flow, .tls = (uint8_t)sv->cfg->tls,
        .proto = (uint8_t)((sv->cfg->notcp ? 0 : PN_PROTO_TCP) | (sv->cfg->noudp ? 0 : PN_PROTO_UDP)),
        .max = sv->cfg->max, .interval_ms = (uint32_t)sv->cfg->report_ms,
    };
    if (tun_data_secret(x, sv->secret) != 0) {
        log_error("server: cannot derive the session secret");
        pn_xprt_free(x);
        return;
    }
    sv->peer = *peer;
    sv->side.ctrl = tun_ctrl_new(sv->in.loop, x, sv->cfg->report_ms, on_frame, on_ctrl_close, sv);
    sv->side.pool = tun_pool_new(sv->in.loop);
    sv->side.takes = sv->side.fails = 0;
    sv->side.ready = 1;
    sv->verified = 0;
    tun_ctrl_send(sv->side.ctrl, PN_FT_HELLO, p, pn_hello_encode(&h, p, sizeof(p)));
    if (sv->cfg->tls == 1)
        tun_ctrl_send(sv->side.ctrl, PN_FT_VERIFY, sv->fp, PN_TLS_FP_LEN);
    ev_timer_arm(sv->tick, sv->cfg->report_ms);
    log_info("server: client %s attached (flow=%s, tls=%d, max=%u)", pn_addr_str(peer, s),
             flow_name(sv->flow), sv->cfg->tls, sv->cfg->max);
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

/* A DATA_HELLO is good when its proof is right for this session's secret and
 * its id is new in this session (a recorded tls=0 hello cannot be replayed). */
static int
on_check(const uint8_t *id, const uint8_t *proof, void *arg)
{
    struct greeting *gr = arg;
    struct server *sv = gr->sv;
    return sv->side.ctrl != NULL && tun_data_admit(sv->side.ctrl, sv->secret, &sv->seen, id, proof);
}

static void
on_greeted(uint8_t kind, pn_xprt_t *x, const uint8_t *id, const char *err, void *arg)
{
    struct greeting *gr = arg;
    struct server *sv = gr->sv;
    pn_addr_t peer = gr->peer;
    char s[PN_ADDRSTRLEN];

    pn_list_del(&gr->node);
    free(gr);
    if (tun_guard_done(&sv->guard, &peer, x != NULL || !tun_greet_fault(kind, err), pn_now_ms()))
        log_warn("server: %d failed handshakes (auth failures) from %s within %d s: refusing its "
                 "connections for %d s", GUARD_FAILS, pn_addr_str(&peer, s), GUARD_WINDOW_MS / 1000,
                 GUARD_BAN_MS / 1000);
    if (x == NULL) {
        uint64_t held;
        sv->in.stats.refused++;
        if (kind == 0 || !pn_ratelim_pass(&sv->fail_log, pn_now_ms(), &held))
            log_debug("server: connection from %s closed: %s", pn_addr_str(&peer, s), err);
        else if (kind == PN_KIND_CONTROL && strncmp(err, "tls handshake", 13) == 0)
            log_warn("server: client %s failed to authenticate (wrong key?): %s "
                     "(%llu more failed handshakes since the last note)", pn_addr_str(&peer, s), err,
                     (unsigned long long)held);
        else
            log_warn("server: %s connection from %s closed: %s (%llu more failed handshakes "
                     "since the last note)", kind == PN_KIND_DATA ? "data" : "control",
                     pn_addr_str(&peer, s), err, (unsigned long long)held);
        return;
    }
    if (kind == PN_KIND_CONTROL) {
        if (sv->side.ctrl != NULL)
            refuse_busy(x, &peer);
        else
            session_start(sv, x, &peer);
        return;
    }
    /* A data connection with a valid proof for the current session. */
    if (sv->side.ctrl == NULL || tun_pool_size(sv->side.pool) >= sv->cfg->max) {
        sv->in.stats.refused++;
        pn_xprt_free(x);
        return;
    }
    if (!tun_side_serve_waiter(&sv->side, x, id))
        tun_pool_add(sv->side.pool, id, x);
}

static void
on_tunnel_conn(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    struct server *sv = arg;
    char s[PN_ADDRSTRLEN];
    uint64_t held;
    if (!tun_guard_admit(&sv->guard, peer, pn_now_ms())) {
        sv->in.stats.refused++;
        if (pn_ratelim_pass(&sv->guard_log, pn_now_ms(), &held))
            log_warn("server: refused a connection from %s (auth failures, or too many "
                     "handshakes at once; %llu more refused since the last note)",
                     pn_addr_str(peer, s), (unsigned long long)held);
        pn_xprt_free(x);
        return;
    }
    struct greeting *gr = xcalloc(sizeof(*gr));
    tun_greet_opts_t o = {
        .psk = sv->psk_ctx, .data_tls = sv->data_tls, .check = on_check,
        .timeout_ms = sv->cfg->handshake_ms,
    };
    gr->sv = sv;
    gr->peer = *peer;
    pn_list_add(&sv->greets, &gr->node);
    gr->g = tun_greet_start(sv->in.loop, x, &o, on_greeted, gr);
}

static void
server_refresh(pn_instance_t *in, void *arg)
{
    struct server *sv = arg;
    tun_stats_refresh(&in->stats, sv->side.pool, sv->side.ctrl);
}

static void
server_stop(pn_instance_t *in, void *arg)
{
    struct server *sv = arg;
    if (sv->side.ctrl != NULL)
        tun_ctrl_fail(sv->side.ctrl, PN_EC_SHUTDOWN, "server shutting down");
    session_end(sv, "shutting down");
    pn_entry_free(sv->tunnel_entry);
    pn_entry_free(sv->user_entry);
    udp_table_free(sv->utable);
    route_prober_free(sv->prober);
    while (!pn_list_empty(&sv->greets)) {
        struct greeting *gr = pn_container_of(sv->greets.next, struct greeting, node);
        pn_list_del(&gr->node);
        tun_greet_cancel(gr->g);
        free(gr);
    }
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
    pn_list_init(&sv.greets);
    tun_guard_init(&sv.guard, GUARD_FAILS, GUARD_WINDOW_MS, GUARD_BAN_MS, GUARD_PENDING);
    sv.guard_log.interval_ms = 1000;
    sv.fail_log.interval_ms = 1000;
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
    if (pn_dial_source(cfg, &sv.src, &sv.has_src, err) != PN_OK ||
        pn_tls_server_from_config(cfg, &sv.data_tls, err) != PN_OK)
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
    tun_side_init(&sv.side, &sv.in, "server");
    sv.side.set = sv.side.links.set = &sv.set;
    sv.side.src = sv.side.links.src = sv.has_src ? &sv.src : NULL;
    sv.tick = ev_timer_new(sv.in.loop, on_tick, &sv);
    sv.tunnel_entry = pn_entry_new(sv.in.loop, lfd, NULL, cfg->handshake_ms, on_tunnel_conn, &sv);
    if (ufd != -1)
        sv.user_entry = pn_entry_new(sv.in.loop, ufd, NULL, cfg->handshake_ms, on_user, &sv);
    if (dfd != -1)
        sv.utable = udp_table_new(sv.in.loop, dfd, sv.side.udp, on_udp_peer, &sv);
    pn_instance_dns(&sv.in, &sv.set);
    if (sv.flow == PN_FLOW_FORWARD && cfg->lbs == LB_LATENCY && sv.set.n > 1)
        sv.prober = route_prober_new(sv.in.loop, &sv.set, sv.side.src, cfg->report_ms,
                                     cfg->dial_timeout_ms);
    log_info("server: listening for clients on %s (flow=%s, tls=%d)",
             pn_addr_str(&sv.tunnel_addr, s), flow_name(sv.flow), cfg->tls);
    if (sv.flow == PN_FLOW_REVERSE)
        log_info("server: publishing the client's service on %s", pn_addr_str(&sv.target_addr, s));
    else
        for (size_t i = 0; i < sv.set.n; i++)
            log_info("server: target %zu: %s", i, pn_addr_str(&sv.set.t[i].addr, s));
    rc = pn_instance_run(&sv.in);
    server_stop(&sv.in, &sv);
    tun_side_clear(&sv.side);
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
    tun_guard_clear(&sv.guard);
    lb_clear(&sv.set);
    return rc;
}
