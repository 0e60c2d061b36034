/* tunnel/accept.c: the accepting end's tunnel port (see accept.h). */
#include "tunnel/accept.h"
#include "core/log.h"
#include "core/mem.h"
#include "relay/entry.h"
#include "tunnel/auth.h"
#include "tunnel/guard.h"
#include "tunnel/open.h"
#include "tunnel/transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GUARD_FAILS 10
#define GUARD_WINDOW_MS 10000
#define GUARD_BAN_MS 10000
#define GUARD_PENDING 64

struct greeting {
    pn_list_t node;             /* in tun_accept.greets */
    tun_accept_t *a;            /* back pointer */
    tun_greet_t *g;             /* owned until its callback */
    pn_addr_t peer;
    pn_admit_ent_t adm;         /* in tun_accept.gate until greeted */
};

struct tun_accept {
    ev_loop_t *loop;            /* borrowed */
    tun_accept_opts_t o;
    tun_xport_t ws;             /* type=2: what a WebSocket opening needs */
    pn_entry_t *entry;          /* owned, NULL when greeting connections accepted elsewhere */
    pn_gate_t *gate;            /* the entry's, or owned when there is no entry (net/gate.h) */
    pn_list_t greets;           /* struct greeting, each owned */
    pn_list_t h2s;              /* type=3: live HTTP/2 connections (tls/h2_mux.h) */
    pn_quic_srv_t *quic;        /* owned, type=1: the UDP port of the same number (tls/quic.h) */
    tun_guard_t guard;          /* failed handshakes per source */
    pn_ratelim_t guard_log;     /* refusals noted once a second */
    pn_ratelim_t fail_log;      /* failed handshakes noted once a second */
};

/* A control handshake that failed (a wrong key, a replay) or garbage instead
 * of a preamble counts towards a ban, but not the peer going away (closed,
 * reset, silent), so a client that crashes with connections in flight does
 * not lock itself out; and not a data connection: its proof may belong to the
 * session that just ended, and its cost is bounded by the per-source cap on
 * handshakes in progress. */
static int
greet_fault(uint8_t kind, const char *err)
{
    if (kind == PN_KIND_DATA)
        return 0;
    return strstr(err, "closed") == NULL && strstr(err, "reset") == NULL &&
           strstr(err, "timed out") == NULL && strstr(err, "Broken pipe") == NULL;
}

/* A DATA_HELLO is good when its proof is right for its session's secret and
 * its id is new in that session (a recorded tls=0 hello cannot be replayed). */
static int
on_check(const uint8_t *id, const uint8_t *proof, void *arg)
{
    struct greeting *gr = arg;
    tun_sess_t *s = gr->a->o.find(id, gr->a->o.ctx);
    return s != NULL && tun_sess_admit(s, id, proof);
}

static void
refuse(tun_accept_t *a)
{
    if (a->o.refused != NULL)
        (*a->o.refused)++;
}

static void
on_greeted(uint8_t kind, pn_xprt_t *x, const uint8_t *id, const char *err, void *arg)
{
    struct greeting *gr = arg;
    tun_accept_t *a = gr->a;
    pn_addr_t peer = gr->peer;
    char s[PN_ADDRSTRLEN];
    uint64_t held;

    pn_list_del(&gr->node);
    pn_gate_leave(a->gate, &gr->adm);
    free(gr);
    if (kind == TUN_GREET_MUX) {    /* TLS done: the streams are greeted one by one */
        tun_guard_done(&a->guard, &peer, 1, pn_now_ms());
        return;
    }
    if (tun_guard_done(&a->guard, &peer, x != NULL || !greet_fault(kind, err), pn_now_ms()))
        log_warn("%s: %d failed handshakes (auth failures) from %s within %d s: refusing its "
                 "connections for %d s", a->o.who, GUARD_FAILS, pn_addr_str(&peer, s),
                 GUARD_WINDOW_MS / 1000, GUARD_BAN_MS / 1000);
    if (x == NULL) {
        refuse(a);
        if (kind == 0 || !pn_ratelim_pass(&a->fail_log, pn_now_ms(), &held))
            log_debug("%s: connection from %s closed: %s", a->o.who, pn_addr_str(&peer, s), err);
        else if (kind == PN_KIND_CONTROL && strncmp(err, "tls handshake", 13) == 0)
            log_warn("%s: %s %s failed to authenticate (%s): %s (%llu more failed handshakes "
                     "since the last note)", a->o.who, a->o.peer, pn_addr_str(&peer, s), a->o.auth_hint, err,
                     (unsigned long long)held);
        else
            log_warn("%s: %s connection from %s closed: %s (%llu more failed handshakes "
                     "since the last note)", a->o.who, kind == PN_KIND_DATA ? "data" : "control",
                     pn_addr_str(&peer, s), err, (unsigned long long)held);
        return;
    }
    if (kind == PN_KIND_CONTROL) {
        a->o.control(x, &peer, a->o.ctx);
        return;
    }
    /* A data connection with a valid proof for its session. */
    tun_sess_t *ss = a->o.find(id, a->o.ctx);
    if (ss == NULL || ss->ctrl == NULL || tun_sess_idle(ss) >= ss->o.max) {
        log_debug("%s: data connection from %s closed: %s", a->o.who, pn_addr_str(&peer, s),
                  ss == NULL || ss->ctrl == NULL ? "no session" : "the pool is full");
        refuse(a);
        pn_xprt_free(x);
        return;
    }
    tun_sess_put(ss, x, id);
}

/* The gate ends a greeting: late (its deadline covers the whole preamble,
 * TLS and hello), or making room for another. Not counted as a fault. */
static void
on_greet_kill(void *arg)
{
    struct greeting *gr = arg;
    tun_accept_t *a = gr->a;
    char s[PN_ADDRSTRLEN];
    log_debug("%s: connection from %s closed: handshake late, or evicted", a->o.who,
              pn_addr_str(&gr->peer, s));
    tun_guard_done(&a->guard, &gr->peer, 1, pn_now_ms());
    refuse(a);
    pn_list_del(&gr->node);
    tun_greet_cancel(gr->g);
    free(gr);
}

void
tun_accept_conn(tun_accept_t *a, pn_xprt_t *x, const pn_addr_t *peer)
{
    char s[PN_ADDRSTRLEN];
    uint64_t held;
    if (!tun_guard_admit(&a->guard, peer, pn_now_ms())) {
        refuse(a);
        if (pn_ratelim_pass(&a->guard_log, pn_now_ms(), &held))
            log_warn("%s: refused a connection from %s (auth failures, or too many "
                     "handshakes at once; %llu more refused since the last note)", a->o.who,
                     pn_addr_str(peer, s), (unsigned long long)held);
        pn_xprt_free(x);
        return;
    }
    struct greeting *gr = xcalloc(sizeof(*gr));
    tun_greet_opts_t go = {
        .psk = a->o.psk, .data_tls = a->o.data_tls, .check = on_check,
        .timeout_ms = a->o.timeout_ms, .ws = a->ws.type == PN_XPORT_WS || a->ws.type == PN_XPORT_H2 ? &a->ws : NULL,
    };
    gr->a = a;
    gr->peer = *peer;
    pn_list_add(&a->greets, &gr->node);
    pn_gate_enter(a->gate, &gr->adm, peer, on_greet_kill, gr);
    gr->g = tun_greet_start(a->loop, x, &go, on_greeted, gr);
}

/* A stream of an HTTP/2 connection (type=3): greeted as a connection of its
 * own (preamble, TLS for control, DATA_HELLO), its source the connection's. */
static void
on_h2_stream(pn_xprt_t *x, void *arg)
{
    pn_addr_t peer;
    memset(&peer, 0, sizeof(peer));
    peer.len = sizeof(peer.ss);
    int fd = pn_h2_mux_fd(pn_h2_mux_of(x));
    if (fd == -1 || getpeername(fd, (struct sockaddr *)&peer.ss, &peer.len) == -1) {
        pn_xprt_free(x);
        return;
    }
    tun_accept_conn(arg, x, &peer);
}

/* A stream of a QUIC connection (type=1): greeted as a connection of its own,
 * its source the connection's peer. */
static void
on_quic_stream(pn_xprt_t *x, pn_quic_conn_t *q, void *arg)
{
    pn_addr_t peer;
    memset(&peer, 0, sizeof(peer));
    peer.len = pn_quic_peer(q, &peer.ss);
    tun_accept_conn(arg, x, &peer);
}

/* type=1: a UDP socket on the address (and port number) of the TCP listener
 * <lfd>, served as QUIC. */
static void
quic_listen(tun_accept_t *a, int lfd)
{
    char err[PN_ERR_LEN] = "";
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int one = 1, fd = -1;
    if (getsockname(lfd, (struct sockaddr *)&ss, &len) == -1 ||
        (fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
        (ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
        bind(fd, (struct sockaddr *)&ss, len) == -1) {
        log_error("%s: type=1: cannot bind udp to the tunnel port: %s", a->o.who, strerror(errno));
        if (fd != -1)
            close(fd);
        return;
    }
    a->quic = pn_quic_server(a->loop, fd, a->o.data_tls, a->o.timeout_ms, on_quic_stream, a, err);
    if (a->quic == NULL)
        log_error("%s: type=1: %s", a->o.who, err);
    else if (a->o.quic_key != NULL) {
        pn_quic_server_reset_key(a->quic, a->o.quic_key, TUN_PSK_LEN);
        pn_quic_server_token_key(a->quic, a->o.quic_key, TUN_PSK_LEN);
    }
}

static void
on_conn(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    tun_accept_conn(arg, x, peer);
}

tun_accept_t *
tun_accept_new(ev_loop_t *loop, int lfd, const tun_accept_opts_t *o)
{
    tun_accept_t *a = xcalloc(sizeof(*a));
    a->loop = loop;
    a->o = *o;
    pn_list_init(&a->greets);
    tun_xport_accepting(&a->ws, o->xtype, o->path, o->data_tls);
    a->ws.h2_stream = on_h2_stream;
    a->ws.h2_ctx = a;
    pn_list_init(&a->h2s);
    a->ws.h2_set = &a->h2s;
    tun_guard_init(&a->guard, GUARD_FAILS, GUARD_WINDOW_MS, GUARD_BAN_MS, GUARD_PENDING);
    a->guard_log.interval_ms = 1000;
    a->fail_log.interval_ms = 1000;
    if (lfd != -1 && o->xtype == PN_XPORT_QUIC)
        quic_listen(a, lfd);
    if (lfd != -1) {
        a->entry = pn_entry_new(loop, lfd, NULL, o->timeout_ms, on_conn, a);
        a->gate = pn_entry_gate(a->entry);
    } else {
        pn_gate_opts_t go = { .who = o->who, .deadline_ms = o->timeout_ms };
        a->gate = pn_gate_new(loop, &go);
    }
    return a;
}

void
tun_accept_free_(tun_accept_t *a)
{
    if (a == NULL)
        return;
    while (!pn_list_empty(&a->greets)) {
        struct greeting *gr = pn_container_of(a->greets.next, struct greeting, node);
        pn_list_del(&gr->node);
        pn_gate_leave(a->gate, &gr->adm);
        tun_greet_cancel(gr->g);
        free(gr);
    }
    pn_h2_mux_close_all(&a->h2s);
    pn_quic_server_free(a->quic);
    if (a->entry == NULL)
        pn_gate_free(a->gate);
    pn_entry_free(a->entry);
    tun_guard_clear(&a->guard);
    free(a);
}
