/* modes/hub.c: the hub (hub://, docs/hub.md): many agents, each publishing
 * routes; users reach the hub and are carried to the agent of their route.
 *
 *   agent --control (TLS-PSK, key found by the account's identity)--> tunnel port
 *         HELLO(SESSION tag) <-- ; ROUTE_ADD --> registry (hub_reg.c) --> ROUTE_OK / ROUTE_FAIL
 *   agent --data (id = tag + random)--> tunnel port --> that session (tunnel/session.h)
 *
 *   tcp user  -> route's port  -> pick a member -> pooled conn -> TCP(id, route) -> relay
 *   udp user  -> route's port  -> pick a member -> pooled conn -> UDP(id, route) -> datagrams
 *   tls user  -> https port    -> ClientHello's SNI -> route -> likewise, ClientHello first
 *   http user -> http port     -> hub_http.c (per request, by Host)
 *
 * Accounts (hub_acct.c) come from the accounts file (re-read on SIGHUP). Every exchange is
 * counted in its account (bytes, live connections) and limited by it
 * (connections, bandwidth, HTTP request rate); routes by max_routes, allowed
 * ports and hosts. Every report interval a HUB_STATE line tells the master. */
#include "modes/hub_types.h"
#include "modes/hub_acct.h"
#include "modes/hub_h2.h"
#include "modes/hub_http.h"
#include "modes/hub_prom.h"
#include "modes/hub_qkey.h"
#include "modes/hub_peer.h"
#include "modes/hub_reg.h"
#include "modes/hub_state.h"
#include "modes/modes.h"
#include "core/log.h"
#include "core/mem.h"
#include "modes/common.h"
#include "net/sock.h"
#include "route/sni.h"
#include "tls/certs.h"
#include "tunnel/transport.h"
#include "core/url.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

/* A TLS user whose ClientHello is being read. */
struct tlsuser {
    pn_list_t node;             /* in hub.https_conns */
    struct hub *h;
    pn_xprt_t *x;               /* owned; watched until a member is chosen */
    pn_addr_t peer, local;
    pn_admit_ent_t adm;         /* in the https port's gate until the ClientHello is read */
    tun_take_t *wait;           /* waiting for a data connection */
    struct hsess *sess;         /* the session of the member chosen, while waiting
                                 * (counted in its account's tcp_pending) */
    uint32_t mid;               /* the member's route id */
    size_t len;
    uint8_t buf[PN_SNI_READ_MAX];
};

/* A TCP user waiting for a data connection of its member's session. The
 * member is found again by id when the connection comes: it may have been
 * withdrawn meanwhile (the session itself runs its waiters before it ends). */
struct tcpuser {
    pn_xprt_t *x;               /* owned */
    pn_addr_t peer, local;
    struct hsess *sess;
    uint32_t mid;
};

/* The first datagram of a new UDP user, waiting likewise. */
struct udpuser {
    pn_list_t node;             /* in hsess.udp_pending */
    struct hsess *sess;
    uint32_t mid;
    uint16_t port;              /* the route's, to spot the same user waiting twice */
    pn_addr_t peer;
    size_t len;
    uint8_t d[];
};

static void sess_end(struct hsess *s, const char *why);
static void sess_kick(struct hsess *s, const char *why);
static void tlsuser_free(struct tlsuser *u);

/* ---- accounts ---------------------------------------------------------------- */

/* The accounts file changed <a>: its agents must come back. */
static void
kick_account(struct hub *h, struct hacct *a, const char *why)
{
    for (pn_list_t *p = h->sessions.next, *n; p != &h->sessions; p = n) {
        struct hsess *s = pn_container_of(p, struct hsess, node);
        n = p->next;
        if (s->acct == a)
            sess_kick(s, why);
    }
}

static void
hub_reload(pn_instance_t *in, void *arg)
{
    struct hub *h = arg;
    char err[PN_ERR_LEN];
    pn_accounts_t fresh;
    pn_port_range_t range = { h->cfg->ports_lo, h->cfg->ports_hi };
    if (h->certs != NULL)       /* the certificates, whatever the accounts file holds */
        pn_tls_certs_reload(h->certs);
    if (pn_accounts_load(h->cfg->accounts, range.lo ? &range : NULL, &fresh, err) != PN_OK) {
        log_error("hub: reload failed, accounts unchanged: %s", err);
        return;
    }
    pn_accounts_clear(&h->accounts);
    h->accounts = fresh;
    hub_accts_sync(h, kick_account);
    log_info("hub: reloaded %s: %zu accounts", h->cfg->accounts, h->accounts.n);
}

/* The registry is about to free <r>: exchanges still running on it keep
 * going, counted no longer; the HTTP router lets go of it. */
static void
on_reg_event(hub_reg_event_t ev, struct hroute *r, struct hmember *m, void *arg)
{
    struct hub *h = arg;
    (void)m;
    if (ev != HUB_REG_GONE)
        return;
    for (pn_list_t *p = h->sessions.next; p != &h->sessions; p = p->next)
        pn_links_forget_gauge(&pn_container_of(p, struct hsess, node)->t.links, &r->conns);
    hub_http_route_gone(h, r);
}

/* ---- tcp users ------------------------------------------------------------- */

static void
on_tcp_data(pn_xprt_t *data, const uint8_t *id, void *arg)
{
    struct tcpuser *u = arg;
    struct hmember *m = data != NULL ? hub_reg_member(u->sess->hub->reg, u->sess, u->mid) : NULL;
    u->sess->hub->tcp_waiting--;
    u->sess->acct->tcp_pending--;
    if (m == NULL || hub_signal(m, PN_FT_TCP, id, &u->peer, &u->local) != PN_OK) {
        pn_xprt_free(data);
        pn_xprt_free(u->x);
        free(u);
        return;
    }
    pn_link_info_t info = { .src = u->peer, .dst = u->local, .user = 1, .gauge = &m->route->conns };
    pn_link_pair(&m->sess->t.links, u->x, data, &info);
    free(u);
}

/* Hand <x> to an agent of <r>: pick, admit, take a data connection, signal,
 * relay with <pre> (bytes already read) first. Closes <x> when it cannot. */
static void
carry_tcp(struct hroute *r, pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local)
{
    struct hmember *m = hub_reg_pick(r->hub->reg, r);
    if (m == NULL || !hub_acct_admit(m->sess->acct)) {
        if (m == NULL)
            log_debug("hub: %s route %u has no online agent: closing a user connection",
                      pn_conf_route_type_name(r->type), (unsigned)r->port);
        r->hub->refused++;
        pn_xprt_free(x);
        return;
    }
    struct tcpuser *u = xcalloc(sizeof(*u));
    u->x = x;
    u->peer = *peer;
    u->local = *local;
    u->sess = m->sess;
    u->mid = m->id;
    r->hub->tcp_waiting++;
    m->sess->acct->tcp_pending++;
    pn_sock_reset_on_close(x->fd, 1);   /* no byte yet: a reset if we die (relay.c's rule) */
    (void)tun_sess_take(&m->sess->t, on_tcp_data, u);
}

static void
on_tcp_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    carry_tcp(arg, x, peer, local);
}

/* ---- udp users ------------------------------------------------------------- */

static void
on_udp_data(pn_xprt_t *data, const uint8_t *id, void *arg)
{
    struct udpuser *u = arg;
    struct hmember *m = data != NULL ? hub_reg_member(u->sess->hub->reg, u->sess, u->mid) : NULL;
    pn_list_del(&u->node);
    if (m == NULL ||
        hub_signal(m, PN_FT_UDP, id, &u->peer, udp_table_local(m->route->utable)) != PN_OK) {
        pn_xprt_free(data);
        u->sess->acct->st.udp_drops++;
        free(u);
        return;
    }
    udp_sess_from_entry(udp_sess_new_peer(m->route->utable, &u->peer, -1, data), u->d, u->len);
    free(u);
}

static void
on_udp_peer(udp_table_t *t, const pn_addr_t *peer, const uint8_t *d, size_t len, void *arg)
{
    struct hroute *r = arg;
    struct hmember *m = hub_reg_pick(r->hub->reg, r);
    if (m == NULL || !hub_acct_admit(m->sess->acct)) {
        r->acct->st.udp_drops++;
        return;
    }
    /* While its first datagram waits for a data connection, a user's next
     * ones find no session yet: they are dropped, as a full queue would. */
    for (pn_list_t *p = r->hub->sessions.next; p != &r->hub->sessions; p = p->next) {
        struct hsess *s = pn_container_of(p, struct hsess, node);
        for (pn_list_t *q = s->udp_pending.next; q != &s->udp_pending; q = q->next) {
            struct udpuser *w = pn_container_of(q, struct udpuser, node);
            if (w->port == r->port && pn_addr_equal(&w->peer, peer)) {
                r->acct->st.udp_drops++;
                return;
            }
        }
    }
    struct udpuser *u = xmalloc(sizeof(*u) + len);
    u->sess = m->sess;
    u->mid = m->id;
    u->port = r->port;
    u->peer = *peer;
    u->len = len;
    memcpy(u->d, d, len);
    pn_list_add(&m->sess->udp_pending, &u->node);
    (void)tun_sess_take(&m->sess->t, on_udp_data, u);
}

/* ---- tls users (https=) ---------------------------------------------------- */

static void
on_tls_data(pn_xprt_t *data, const uint8_t *id, void *arg)
{
    struct tlsuser *u = arg;
    struct hmember *m = data != NULL ? hub_reg_member(u->sess->hub->reg, u->sess, u->mid) : NULL;
    u->wait = NULL;
    u->sess->acct->tcp_pending--;
    u->sess = NULL;
    if (m == NULL || hub_signal(m, PN_FT_TCP, id, &u->peer, &u->local) != PN_OK) {
        pn_xprt_free(data);
        tlsuser_free(u);
        return;
    }
    pn_link_info_t info = {
        .src = u->peer, .dst = u->local, .user = 1, .gauge = &m->route->conns,
        .pre = u->buf, .pre_len = u->len,
    };
    pn_xprt_t *x = u->x;
    u->x = NULL;
    pn_link_pair(&m->sess->t.links, x, data, &info);
    tlsuser_free(u);
}

static void
tlsuser_free(struct tlsuser *u)
{
    pn_list_del(&u->node);
    if (pn_gate_holds(&u->adm))     /* the port may be closed (a drain) once it left */
        pn_gate_leave(pn_entry_gate(u->h->https_entry), &u->adm);
    if (u->sess != NULL)
        u->sess->acct->tcp_pending--;   /* still waiting for its data connection */
    tun_take_cancel(u->wait);
    pn_xprt_free(u->x);
    free(u);
}

/* The gate ends a user whose ClientHello is late, or makes room. */
static void
on_tls_kill(void *arg)
{
    struct tlsuser *u = arg;
    log_debug("hub: https: no ClientHello in time, or evicted");
    u->h->refused++;
    tlsuser_free(u);
}

/* No pass-through route for <name>: when a certificate of certs= covers it,
 * terminate TLS here (hub_tls.c), then serve HTTP/2 or HTTP/1.1. */
static int
tls_terminate(struct tlsuser *u, const char *name)
{
    SSL *ssl = u->h->certs != NULL ? pn_tls_certs_ssl(u->h->certs, name) : NULL;
    if (ssl == NULL)
        return PN_ERR;
    pn_xprt_unwatch(u->x);
    pn_gate_leave(pn_entry_gate(u->h->https_entry), &u->adm);
    pn_xprt_t *x = u->x;
    u->x = NULL;
    hub_tls_user(u->h, x, ssl, u->buf, u->len, &u->peer, &u->local);
    tlsuser_free(u);
    return PN_OK;
}

static void
on_tls_readable(pn_xprt_t *x, int ready, void *arg)
{
    struct tlsuser *u = arg;
    struct hub *h = u->h;
    char name[PN_SNI_MAX + 1];
    const char *why;
    ssize_t n = u->x->ops->read(u->x, u->buf + u->len, sizeof(u->buf) - u->len);
    if (n == PN_AGAIN)
        return;
    if (n <= 0) {
        tlsuser_free(u);
        return;
    }
    u->len += (size_t)n;
    int rc = pn_sni_parse(u->buf, u->len, name, &why);
    if (rc == PN_AGAIN)
        return;
    struct hroute *r = rc == PN_OK && name[0] ? hub_reg_by_host(h->reg, PN_RT_HTTPS, name) : NULL;
    if (r == NULL && rc == PN_OK && name[0] && h->peer != NULL &&
        hub_peer_forward(h->peer, PN_RT_HTTPS, name, 0, u->x, u->buf, u->len, &u->peer,
                         &u->local) == PN_OK) {
        u->x = NULL;            /* another hub's route (docs/hub.md §7) */
        tlsuser_free(u);
        return;
    }
    if (r == NULL && rc == PN_OK && name[0] && tls_terminate(u, name) == PN_OK)
        return;
    struct hmember *m = r ? hub_reg_pick(h->reg, r) : NULL;
    if (m == NULL || !hub_acct_admit(m->sess->acct)) {
        h->refused++;
        log_debug("hub: https: %s: closing", rc != PN_OK ? why : name[0] == '\0' ? "no SNI"
                  : r == NULL ? "no route for the name" : "no online agent for the name");
        tlsuser_free(u);
        return;
    }
    pn_xprt_unwatch(u->x);
    pn_gate_leave(pn_entry_gate(h->https_entry), &u->adm);
    u->sess = m->sess;
    u->mid = m->id;
    m->sess->acct->tcp_pending++;       /* counted by max_conns while it waits */
    pn_sock_reset_on_close(u->x->fd, 1);    /* as a tcp route's user (carry_tcp) */
    /* on_tls_data may run (and free <u>) inside the take: NULL says it did. */
    tun_take_t *w = tun_sess_take(&m->sess->t, on_tls_data, u);
    if (w != NULL)
        u->wait = w;
}

static void
on_https_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    struct hub *h = arg;
    struct tlsuser *u = xcalloc(sizeof(*u));
    u->h = h;
    u->x = x;
    u->peer = *peer;
    u->local = *local;
    pn_list_add(&h->https_conns, &u->node);
    pn_gate_enter(pn_entry_gate(h->https_entry), &u->adm, peer, on_tls_kill, u);
    pn_xprt_watch(x, h->in.loop, EV_RD, on_tls_readable, u);
}

static void
on_http_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    hub_http_user(arg, x, peer, local, 0);
}

/* ---- sessions ---------------------------------------------------------------- */

static struct hsess *
sess_by_tag(struct hub *h, const uint8_t *tag)
{
    for (pn_list_t *p = h->sessions.next; p != &h->sessions; p = p->next) {
        struct hsess *s = pn_container_of(p, struct hsess, node);
        if (!s->ending && memcmp(s->t.tag, tag, PN_SESSION_TAG_LEN) == 0)
            return s;
    }
    return NULL;
}

/* The tunnel port asks for the session of a data channel: the tag its id starts with. */
static tun_sess_t *
find_sess(const uint8_t *id, void *arg)
{
    struct hsess *s = sess_by_tag(arg, id);
    return s != NULL ? &s->t : NULL;
}

/* End <s>: its takes waiting (run with no connection), its HTTP exchanges,
 * its routes and links; free it. From inside its own control channel's
 * callbacks too: the channel's free is deferred. */
static void
sess_end(struct hsess *s, const char *why)
{
    char a[PN_ADDRSTRLEN];
    if (s->ending)
        return;
    s->ending = 1;
    log_info("hub: agent %s (account %s, c%llu) detached: %s", pn_addr_str(&s->peer, a),
             s->acct->name, (unsigned long long)s->num, why);
    /* TLS and TCP users that chose this session while waiting were in its takes. */
    tun_sess_clear(&s->t);
    hub_http_session_end(s);
    hub_reg_release_sess(s->hub->reg, s, 1);
    s->acct->nsess--;
    pn_list_del(&s->node);
    free(s);
}

/* End <s> telling its agent why (it logs the reason, then reconnects). */
static void
sess_kick(struct hsess *s, const char *why)
{
    tun_sess_kick(&s->t, PN_EC_SHUTDOWN, why);
    sess_end(s, why);
}

/* The registry's answer to an agent's ROUTE_ADD: ROUTE_OK or ROUTE_FAIL. */
static void
on_claimed(struct hsess *s, const pn_frame_route_t *m, struct hmember *mb, uint16_t code,
           const char *reason, void *arg)
{
    pn_frame_route_t a;
    uint8_t p[512];
    uint8_t type = mb != NULL ? PN_FT_ROUTE_OK : PN_FT_ROUTE_FAIL;
    (void)arg;
    memset(&a, 0, sizeof(a));
    a.id = m->id;
    if (mb != NULL) {
        a.port = mb->route->port;
        /* An http path route's key is "<host><path>": the agent is told the host. */
        snprintf(a.host, sizeof(a.host), "%.*s", (int)strcspn(mb->route->host, "/"),
                 mb->route->host);
    } else {
        a.code = code;
        snprintf(a.reason, sizeof(a.reason), "%s", reason);
        log_info("hub: account %s: route refused (%s): %s", s->acct->name,
                 pn_frame_route_fail_name(code), reason);
        if (code == PN_RF_LIMIT || code == PN_RF_DENIED)
            s->acct->refused_routes++;
    }
    size_t n = pn_frame_route_encode(type, &a, p, sizeof(p));
    if (n > 0)
        tun_ctrl_send(s->t.ctrl, type, p, n);
}

/* The session's frames beyond FLUSH, VERIFY and ERROR: the agent's routes. */
static int
on_frame(tun_sess_t *t, const pn_frame_t *f, void *arg)
{
    struct hsess *s = arg;
    pn_frame_route_t m;
    const char *why;
    struct hmember *mb;

    switch (f->type) {
    case PN_FT_ROUTE_ADD:
        if (pn_frame_route_decode(f->type, f->payload, f->len, &m, &why) != PN_OK) {
            tun_sess_kick(t, PN_EC_PROTOCOL, why);
            return PN_OK;
        }
        if (!s->hub->in.stopping)   /* draining: unanswered, asked again next session */
            hub_reg_claim(s->hub->reg, s, &m, on_claimed, NULL);
        memset(m.group_key, 0, sizeof(m.group_key));
        return PN_OK;
    case PN_FT_ROUTE_DEL:
    case PN_FT_ROUTE_STATE:
        if (pn_frame_route_decode(f->type, f->payload, f->len, &m, &why) != PN_OK) {
            tun_sess_kick(t, PN_EC_PROTOCOL, why);
            return PN_OK;
        }
        if ((mb = hub_reg_member(s->hub->reg, s, m.id)) == NULL)
            return PN_OK;       /* refused before, or already withdrawn */
        if (f->type == PN_FT_ROUTE_STATE) {
            if (mb->online != m.online)
                log_info("hub: account %s: a member of %s %s%s is %s", s->acct->name,
                         pn_conf_route_type_name(mb->route->type), mb->route->host,
                         mb->route->port ? "" : "", m.online ? "online" : "offline");
            mb->online = m.online;
        } else {
            hub_reg_release(s->hub->reg, mb);
        }
        return PN_OK;
    default:
        return PN_ERR;
    }
}

static void
on_ended(tun_sess_t *t, const char *why, void *arg)
{
    sess_end(arg, why);
}

/* An authenticated control connection: a new session for the account whose
 * PSK identity the agent used. */
static void
on_control(pn_xprt_t *x, const pn_addr_t *peer, void *arg)
{
    struct hub *h = arg;
    char a[PN_ADDRSTRLEN];
    struct hacct *acct = hub_acct_by_ident(h, pn_tls_psk_identity(pn_tls_xprt_ssl(x)));
    if (acct == NULL) {
        pn_xprt_free(x);
        return;
    }
    struct hsess *s = xcalloc(sizeof(*s));
    tun_sess_opts_t o = {
        .who = "hub", .peer = "agent", .accepting = 1, .tls = h->cfg->tls, .fp = h->fp,
        .interval_ms = h->cfg->report_ms, .wait_ms = h->cfg->pool_wait_ms, .max = pn_mode_pool_max(h->cfg),
    };
    tun_sess_hooks_t hk = { .ctx = s, .frame = on_frame, .ended = on_ended };
    tun_sess_init(&s->t, h->in.loop, &o, &hk);
    s->t.take_hist = &h->in.take_hist;
    if (pn_random(s->t.tag, sizeof(s->t.tag)) != 0) {
        log_error("hub: cannot draw a session tag");
        pn_xprt_free(x);
        free(s);
        return;
    }
    if (tun_sess_attach(&s->t, x) != PN_OK) {
        free(s);
        return;
    }
    s->hub = h;
    s->acct = acct;
    s->num = ++h->next_sess;
    s->peer = *peer;
    s->since = time(NULL);
    pn_list_init(&s->members);
    pn_list_init(&s->https);
    pn_list_init(&s->udp_pending);
    pn_links_init(&s->t.links, h->in.loop, &acct->st, "hub");
    s->t.links.idle_ms = h->cfg->read_ms;
    s->t.links.dial_timeout_ms = h->cfg->dial_timeout_ms;
    s->t.links.limit = acct->mbps ? &acct->bw : NULL;
    s->t.ready = 1;
    pn_list_add(&h->sessions, &s->node);
    acct->nsess++;
    pn_hello_t hello = {
        .flow = PN_FLOW_REVERSE, .tls = (uint8_t)h->cfg->tls, .proto = PN_PROTO_TCP | PN_PROTO_UDP,
        .max = pn_mode_pool_max(h->cfg), .interval_ms = (uint32_t)h->cfg->report_ms, .has_session = 1,
    };
    memcpy(hello.session, s->t.tag, sizeof(s->t.tag));
    tun_xport_hello(&hello, h->cfg->xtype, h->cfg->ws_path);
    tun_sess_hello(&s->t, &hello);
    log_info("hub: agent %s attached (account %s, c%llu)", pn_addr_str(peer, a), acct->name,
             (unsigned long long)s->num);
}

/* Before each CHECK_POINT: the instance's totals are the accounts' sums. */
static void
hub_refresh(pn_instance_t *in, void *arg)
{
    struct hub *h = arg;
    uint64_t tcps = 0, udps = 0, rx = 0, tx = 0, urx = 0, utx = 0, pool = 0, drops = 0;
    uint64_t total = 0, refused = 0;
    for (pn_list_t *p = h->accts.next; p != &h->accts; p = p->next) {
        struct hacct *c = pn_container_of(p, struct hacct, node);
        tcps += c->st.tcps + c->http_live;
        udps += c->st.udps;
        rx += c->st.tcp_rx;
        tx += c->st.tcp_tx;
        urx += c->st.udp_rx;
        utx += c->st.udp_tx;
        drops += c->st.udp_drops;
        total += c->st.tcp_total + c->requests;
        refused += c->st.refused;
    }
    for (pn_list_t *p = h->sessions.next; p != &h->sessions; p = p->next)
        pool += tun_sess_idle(&pn_container_of(p, struct hsess, node)->t);
    in->stats.tcps = tcps;
    in->stats.udps = udps;
    in->stats.tcp_rx = rx;
    in->stats.tcp_tx = tx;
    in->stats.udp_rx = urx;
    in->stats.udp_tx = utx;
    in->stats.udp_drops = drops;
    in->stats.pool = pool;
    in->stats.tcp_total = total;
    in->stats.refused = h->refused + refused;
    hub_state_print(h);
}

static long
on_tick(ev_timer_t *t, void *arg)
{
    struct hub *h = arg;
    hub_reg_refresh(h->reg, pn_now_ms());
    for (pn_list_t *p = h->sessions.next; p != &h->sessions; p = p->next) {
        struct hsess *s = pn_container_of(p, struct hsess, node);
        tun_sess_check(&s->t);
    }
    return (long)h->cfg->report_ms;
}

static void
hub_stop(pn_instance_t *in, void *arg)
{
    struct hub *h = arg;
    while (!pn_list_empty(&h->sessions)) {
        struct hsess *s = pn_container_of(h->sessions.next, struct hsess, node);
        tun_sess_kick(&s->t, PN_EC_SHUTDOWN, "hub shutting down");
        sess_end(s, "shutting down");
    }
    hub_http_close_all(h);
    hub_h2_close_all(h);
    hub_tls_close_all(h);
    while (!pn_list_empty(&h->https_conns))
        tlsuser_free(pn_container_of(h->https_conns.next, struct tlsuser, node));
    hub_peer_free(h->peer);
    tun_accept_free(h->tunnel);
    pn_entry_free(h->http_entry);
    pn_entry_free(h->https_entry);
    ev_timer_free(h->tick);
    pn_tls_certs_free(h->certs);
}

/* Graceful shutdown (modes/instance.h): no new user on any port (udp routes
 * are served until the end); what is open goes on over the agents' sessions. */
static int
route_stop_accepting(struct hroute *r, void *arg)
{
    pn_entry_free(r->entry);
    return 0;
}

static void
hub_drain(pn_instance_t *in, void *arg)
{
    struct hub *h = arg;
    hub_reg_each(h->reg, route_stop_accepting, NULL);
    hub_peer_drain(h->peer);
    hub_http_drain(h);
    hub_h2_drain(h);
    hub_tls_close_all(h);
    for (pn_list_t *p = h->https_conns.next, *next; p != &h->https_conns; p = next) {
        struct tlsuser *u = pn_container_of(p, struct tlsuser, node);
        next = p->next;
        if (pn_gate_holds(&u->adm))     /* still reading its ClientHello */
            tlsuser_free(u);
    }
    pn_entry_free(h->http_entry);
    pn_entry_free(h->https_entry);
}

/* Users' connections open: relayed, in an HTTP exchange, or waiting. */
static size_t
hub_busy(pn_instance_t *in, void *arg)
{
    struct hub *h = arg;
    size_t n = h->tcp_waiting + hub_http_count(h) + hub_h2_count(h) + hub_tls_count(h) +
               hub_peer_busy(h->peer);
    for (pn_list_t *p = h->https_conns.next; p != &h->https_conns; p = p->next)
        n++;
    for (pn_list_t *p = h->sessions.next; p != &h->sessions; p = p->next)
        n += pn_container_of(p, struct hsess, node)->t.links.n;
    return n;
}

/* Listen on "[host]:port" <spec> (an http= or https= value) for <cb>. */
static int
listen_spec(struct hub *h, const char *spec, pn_entry_cb cb, pn_entry_t **out, char *err)
{
    char *host, *port;
    pn_addr_t a;
    if (spec == NULL)
        return PN_OK;
    if (pn_hostport_split(spec, &host, &port, err) != PN_OK)
        return PN_ERR;
    int rc = pn_addr_resolve(host, port, 1, &a, err);
    free(host);
    free(port);
    if (rc != PN_OK)
        return PN_ERR;
    int fd = pn_listen_tcp(&a, 4096, NULL, err);
    if (fd == -1)
        return PN_ERR;
    *out = pn_entry_new(h->in.loop, fd, NULL, h->cfg->handshake_ms, cb, h);
    pn_gate_live_on(pn_entry_gate(*out));   /* live connections per source */
    return PN_OK;
}

int
pn_hub_run(const pn_config_t *cfg)
{
    struct hub h;
    char err[PN_ERR_LEN], s[PN_ADDRSTRLEN];
    int rc = PN_EXIT_USAGE;
    pn_port_range_t range = { cfg->ports_lo, cfg->ports_hi };

    memset(&h, 0, sizeof(h));
    h.cfg = cfg;
    pn_list_init(&h.accts);
    pn_list_init(&h.sessions);
    pn_list_init(&h.https_conns);
    pn_list_init(&h.http_conns);
    pn_list_init(&h.h2_conns);
    pn_list_init(&h.tls_hs);
    if (pn_accounts_load(cfg->accounts, range.lo ? &range : NULL, &h.accounts, err) != PN_OK ||
        pn_addr_resolve(cfg->host, cfg->port, 1, &h.tunnel_addr, err) != PN_OK)
        goto usage;
    if (cfg->public_ip != NULL) {
        if (pn_addr_resolve(cfg->public_ip, "0", 1, &h.public_addr, err) != PN_OK)
            goto usage;
    } else {
        h.public_addr = h.tunnel_addr;
    }
    if (pn_mode_tls_server(cfg, &h.data_tls, err) != PN_OK)
        goto usage;
    if (h.data_tls != NULL && pn_tls_ctx_fingerprint(h.data_tls, h.fp) != 0) {
        pn_err_set(err, "tls: cannot fingerprint the certificate");
        goto usage;
    }
    h.psk_ctx = pn_tls_psk_server_lookup(hub_psk_lookup, &h, err);
    if (h.psk_ctx == NULL || hub_cluster_prepare(cfg, err) != PN_OK)
        goto usage;
    if (cfg->certs_dir != NULL &&
        (h.certs = pn_tls_certs_new(cfg->certs_dir, cfg->reload_ms, err)) == NULL)
        goto usage;

    pn_instance_init(&h.in, cfg, 2);
    hub_reg_env_t env = {
        .loop = h.in.loop, .cfg = cfg, .public_addr = h.public_addr, .hub = &h,
        .stopping = &h.in.stopping, .tcp_user = on_tcp_user, .udp_peer = on_udp_peer,
    };
    if ((h.reg = hub_reg_new(&env, err)) == NULL) {
        rc = pn_fail(PN_EXIT_RUNTIME, err);
        pn_instance_clear(&h.in);
        goto out;
    }
    (void)hub_reg_watch(h.reg, on_reg_event, &h);
    if (cfg->cluster != NULL && cfg->cluster->peer != NULL) {
        hub_peer_env_t penv = {
            .loop = h.in.loop, .cfg = cfg, .reg = h.reg, .public_addr = h.public_addr,
            .http_user = on_http_user, .https_user = on_https_user, .tcp_user = on_tcp_user,
            .hub = &h,
        };
        h.peer = hub_peer_new(&penv, (const uint8_t *)cfg->cluster->secret,
                              strlen(cfg->cluster->secret), err);
        if (h.peer == NULL)
            goto runtime;
        hub_reg_remote_watch(h.reg, hub_peer_remote, h.peer);
    }
    h.in.stop = hub_stop;
    h.in.drain = hub_drain;
    h.in.busy = hub_busy;
    h.in.refresh = hub_refresh;
    h.in.metrics = hub_prom_write;
    h.in.metrics_ctx = &h;
    h.in.has_take_hist = 1;
    h.in.stop_ctx = &h;
    hub_accts_sync(&h, kick_account);
    int lfd = pn_listen_tcp(&h.tunnel_addr, 4096, NULL, err);
    if (lfd == -1)
        goto runtime;
    tun_accept_opts_t ao = {
        .who = "hub", .peer = "agent", .auth_hint = "unknown or wrong token", .psk = h.psk_ctx,
        .data_tls = h.data_tls, .timeout_ms = cfg->handshake_ms, .refused = &h.refused, .ctx = &h,
        .find = find_sess, .control = on_control, .xtype = cfg->xtype, .path = cfg->ws_path,
        .quic_key = hub_quic_key(&h),
    };
    h.tunnel = tun_accept_new(h.in.loop, lfd, &ao);
    if (listen_spec(&h, cfg->http_listen, on_http_user, &h.http_entry, err) != PN_OK ||
        listen_spec(&h, cfg->https_listen, on_https_user, &h.https_entry, err) != PN_OK)
        goto runtime;
    h.tick = ev_timer_new(h.in.loop, on_tick, &h);
    ev_timer_arm(h.tick, cfg->report_ms);
    h.in.reload = hub_reload;
    h.in.reload_ctx = &h;
    log_info("hub: listening for agents on %s (tls=%d, type=%d, %zu accounts)",
             pn_addr_str(&h.tunnel_addr, s), cfg->tls, cfg->xtype < 0 ? 0 : cfg->xtype,
             h.accounts.n);
    pn_instance_state(&h.in, "connected", "listening for agents on %s",
                      pn_addr_str(&h.tunnel_addr, s));
    if (cfg->http_listen)
        log_info("hub: http users on %s (routed by Host)", cfg->http_listen);
    if (cfg->https_listen)
        log_info("hub: https users on %s (routed by SNI%s)", cfg->https_listen,
                 h.certs ? "; terminated with certs= for names without a pass-through route" : "");
    if (h.certs)
        log_info("hub: %zu certificates from %s", pn_tls_certs_count(h.certs), cfg->certs_dir);
    if (cfg->ports_lo)
        log_info("hub: tcp/udp routes on ports %u-%u", (unsigned)cfg->ports_lo,
                 (unsigned)cfg->ports_hi);
    rc = pn_instance_run(&h.in);
    hub_stop(&h.in, &h);
    goto done;
runtime:
    rc = pn_fail(PN_EXIT_RUNTIME, err);
    hub_stop(&h.in, &h);
done:
    hub_reg_free(h.reg);
    hub_accts_free(&h);
    log_info("hub: stopped");
    pn_instance_clear(&h.in);
    goto out;
usage:
    pn_fail(PN_EXIT_USAGE, err);
out:
    pn_tls_ctx_free(h.psk_ctx);
    pn_tls_ctx_free(h.data_tls);
    pn_accounts_clear(&h.accounts);
    return rc;
}
