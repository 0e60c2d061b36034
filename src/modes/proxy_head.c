/* modes/proxy_head.c: a proxy user's connection from accept to its relay:
 * the first byte tells SOCKS5 (0x05) from HTTP; the head is read under the
 * handshake deadline into a bounded buffer and parsed by route/socks.c or
 * route/hproxy.c; then the destination is resolved (without blocking),
 * checked against allow=, dialed and relayed (relay/relay.c, splice).
 *
 *   GREET --0x05--> (method 2) AUTH --ok--> REQ --CONNECT--> DIAL --> RELAY
 *         \--else--> HTTP --auth--> DIAL --> RELAY     \--UDP--> UDP */
#include "core/log.h"
#include "core/mem.h"
#include "modes/proxy_priv.h"
#include "net/sock.h"
#include "route/hproxy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define HEAD_BUF HPROXY_HEAD_MAX    /* SOCKS5 messages are far shorter */

static const char RESP_200[] = "HTTP/1.1 200 Connection established\r\n\r\n";

/* A status page for the HTTP side; the connection closes after it. */
static int
http_status(char *out, size_t cap, int code)
{
    const char *reason = code == 400 ? "Bad Request" : code == 403 ? "Forbidden"
                       : code == 407 ? "Proxy Authentication Required"
                       : code == 504 ? "Gateway Timeout" : "Bad Gateway";
    return snprintf(out, cap, "HTTP/1.1 %d %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n",
                    code, reason, code == 407 ? "Proxy-Authenticate: Basic realm=\"postern\"\r\n" : "");
}

/* Write a short reply whole on the fresh socket, or fail. */
static int
head_write(pconn_t *c, const void *d, size_t n)
{
    ssize_t w = c->x->ops->write(c->x, d, n);
    return w == (ssize_t)n ? PN_OK : PN_ERR;
}

/* Refuse <c>: the SOCKS reply <rep> (once the request was read) or the HTTP
 * status <code>, a log line with <why>, and close. */
static void
refuse(pconn_t *c, int rep, int code, const char *why)
{
    char s[PN_ADDRSTRLEN], page[256];
    if (c->x != NULL && !c->ss) {
        if (c->http && code != 0) {
            head_write(c, page, (size_t)http_status(page, sizeof(page), code));
        } else if (!c->http && rep >= 0) {
            uint8_t r[32];
            head_write(c, r, socks_write_reply(r, rep, NULL));
        }
        c->x->ops->shutdown_wr(c->x);
    }
    log_info("proxy: %s%s%s: %s: %s", pn_addr_str(&c->peer, s), c->auth ? " user " : "",
             c->auth ? c->auth->spec.name : "", c->ss ? "ss" : c->http ? "http" : "socks5", why);
    pconn_free(c);
}

static void
on_relay_done(relay_t *r, const char *err, void *arg)
{
    pconn_t *c = arg;
    c->relay = NULL;                /* freed by the relay after this returns */
    pconn_free(c);
}

static void
start_relay(pconn_t *c)
{
    proxy_t *p = c->p;
    uint8_t rep[32];
    relay_opts_t o = {
        .idle_ms = p->in.cfg->read_ms, .rx = &c->u->up, .tx = &c->u->down, .limit = c->u->limit,
        .exit_hdr = c->fwd, .exit_hdr_len = c->fwd_len,
    };
    if (c->ss) {
        /* The stream goes on sealed; what came after the first chunk is read first. */
        c->x = pn_ss_xprt_new(c->x, p->ss_method, c->u->ss_key, c->ss_dec, c->buf, c->n);
        c->ss_dec = NULL;
    } else if (!c->http) {
        pn_addr_t bnd = { .len = sizeof(bnd.ss) };
        if (getsockname(c->dfd, (struct sockaddr *)&bnd.ss, &bnd.len) == -1)
            bnd.ss.ss_family = AF_UNSPEC;
        o.entry_hdr = rep;
        o.entry_hdr_len = socks_write_reply(rep, SOCKS_REP_OK, bnd.ss.ss_family ? &bnd : NULL);
    } else if (c->http == 2) {
        o.entry_hdr = (const uint8_t *)RESP_200;
        o.entry_hdr_len = sizeof(RESP_200) - 1;
    }
    ev_io_free(c->dio);
    ev_timer_disarm(c->deadline);
    if (c->buf != NULL)
        memset(c->buf, 0, c->n);
    pn_xprt_t *exit_ = c->via_x != NULL ? c->via_x : pn_raw_xprt_new(c->dfd);
    c->via_x = NULL;
    c->dfd = -1;
    pn_xprt_unwatch(c->x);
    c->st = PC_RELAY;
    p->in.stats.tcps++;
    xfree(c->buf);
    c->n = 0;
    c->relay = relay_new(p->in.loop, c->x, exit_, &o, on_relay_done, c);
    c->x = NULL;
}

static void
on_dial_io(int fd, int ready, void *arg)
{
    pconn_t *c = arg;
    int e = pn_sock_error(fd);
    if (e == 0) {
        start_relay(c);
        return;
    }
    c->p->in.stats.dial_fail++;
    refuse(c, e == ECONNREFUSED ? SOCKS_REP_REFUSED : e == ENETUNREACH ? SOCKS_REP_NET_UNREACH
              : SOCKS_REP_HOST_UNREACH, 502, strerror(e));
}

static void
connect_addr(pconn_t *c, const pn_addr_t *a)
{
    char err[PN_ERR_LEN];
    if (!proxy_dest_allowed(c->p, a)) {
        c->u->refused++;
        refuse(c, SOCKS_REP_NOT_ALLOWED, 403, "destination is internal (not in allow=)");
        return;
    }
    c->dfd = pn_dial_tcp(a, NULL, err);
    if (c->dfd == -1) {
        c->p->in.stats.dial_fail++;
        refuse(c, SOCKS_REP_NET_UNREACH, 502, err);
        return;
    }
    c->dio = ev_io_new(c->p->in.loop, c->dfd, on_dial_io, c);
    ev_io_set(c->dio, EV_WR);
}

static void
on_resolved(const pn_addr_t *addr, const char *err, void *arg)
{
    pconn_t *c = arg;
    c->dns = NULL;
    if (addr == NULL) {
        refuse(c, SOCKS_REP_HOST_UNREACH, 502, err ? err : "name not resolved");
        return;
    }
    pn_addr_t a = *addr;
    pn_addr_set_port(&a, c->dest.port);
    connect_addr(c, &a);
}

/* The user is admitted: go to the destination. May free <c>. */
static void
start_connect(pconn_t *c)
{
    char port[8];
    c->st = PC_DIAL;
    pn_xprt_unwatch(c->x);
    ev_timer_arm(c->deadline, c->p->in.cfg->dial_timeout_ms);
    if (c->p->via != NULL) {
        c->p->via_dial(c);
        return;
    }
    if (c->dest.atyp != SOCKS_ATYP_NAME) {
        connect_addr(c, &c->dest.addr);
        return;
    }
    snprintf(port, sizeof(port), "%u", c->dest.port);
    pn_dns_req_t *r = pn_dns_resolve(c->p->dns, c->dest.host, port, on_resolved, c);
    if (r != NULL)
        c->dns = r;                 /* otherwise <c> was answered (and may be gone) */
}

/* Admit the authenticated user and keep the bytes after the head (<rest>,
 * <n>) for the destination after <pre> (<pn>). PN_ERR when refused (freed). */
static int
admit(pconn_t *c, const uint8_t *pre, size_t pn, const uint8_t *rest, size_t n)
{
    const char *why = proxy_admit(c->p, c->auth);
    if (why != NULL) {
        refuse(c, SOCKS_REP_NOT_ALLOWED, 403, why);
        return PN_ERR;
    }
    c->u = c->auth;
    pn_gate_leave(c->gate, &c->adm);    /* the head is done */
    pn_list_del(&c->link);
    pn_list_add(&c->u->conns, &c->link);
    if (pn + n > 0) {
        c->fwd = xmalloc(pn + n);
        if (pn > 0)
            memcpy(c->fwd, pre, pn);
        if (n > 0)
            memcpy(c->fwd + pn, rest, n);
        c->fwd_len = pn + n;
    }
    return PN_OK;
}

static void
consume(pconn_t *c, size_t k)
{
    memmove(c->buf, c->buf + k, c->n - k);
    c->n -= k;
}

/* HTTP: the whole head, then CONNECT or an absolute-URI request. */
static void
http_step(pconn_t *c)
{
    hproxy_req_t req;
    size_t out_len;
    uint8_t *out = xmalloc(HPROXY_OUT_MAX);
    int rc = hproxy_parse(c->buf, c->n, &req, out, &out_len);
    if (rc == PN_AGAIN) {
        free(out);
        return;
    }
    if (rc != PN_OK || (!req.connect && out_len == 0)) {
        free(out);
        refuse(c, -1, 400, "malformed request head");
        return;
    }
    if (!req.has_auth) {
        free(out);
        refuse(c, -1, 407, "no credentials");
        return;
    }
    c->auth = proxy_auth(c->p, c, req.user, req.pass);
    memset(req.pass, 0, sizeof(req.pass));
    if (c->auth == NULL) {
        free(out);
        refuse(c, -1, 407, "authentication failed");
        return;
    }
    c->http = req.connect ? 2 : 1;
    socks_dest_t *d = &c->dest;
    memcpy(d->host, req.host, sizeof(d->host));
    d->port = req.port;
    d->atyp = SOCKS_ATYP_NAME;
    if (pn_addr_parse_ip(req.host, &d->addr) == PN_OK) {
        d->atyp = d->addr.ss.ss_family == AF_INET ? SOCKS_ATYP_V4 : SOCKS_ATYP_V6;
        pn_addr_set_port(&d->addr, req.port);
    }
    int ok = admit(c, out, req.connect ? 0 : out_len, c->buf + req.head_len, c->n - req.head_len);
    free(out);
    if (ok == PN_OK)
        start_connect(c);
}

/* SOCKS5: as far as the bytes go. May free <c>. */
static void
socks_step(pconn_t *c)
{
    char user[256], pass[256];
    static const uint8_t m_userpass[2] = { 5, 2 }, m_none[2] = { 5, 0xff };
    static const uint8_t a_ok[2] = { 1, 0 }, a_fail[2] = { 1, 1 };
    int userpass, cmd, k;
    for (;;) {
        if (c->st == PC_GREET) {
            if ((k = socks_parse_greeting(c->buf, c->n, &userpass)) == PN_AGAIN)
                return;
            if (k < 0)
                { refuse(c, -1, 0, "malformed greeting"); return; }
            if (!userpass) {
                head_write(c, m_none, 2);
                { refuse(c, -1, 0, "no username/password method offered"); return; }
            }
            if (head_write(c, m_userpass, 2) != PN_OK)
                { refuse(c, -1, 0, "write failed"); return; }
            consume(c, (size_t)k);
            c->st = PC_AUTH;
        } else if (c->st == PC_AUTH) {
            if ((k = socks_parse_auth(c->buf, c->n, user, pass)) == PN_AGAIN)
                return;
            if (k < 0)
                { refuse(c, -1, 0, "malformed username/password request"); return; }
            c->auth = proxy_auth(c->p, c, user, pass);
            memset(pass, 0, sizeof(pass));
            consume(c, (size_t)k);
            if (c->auth == NULL) {
                head_write(c, a_fail, 2);
                { refuse(c, -1, 0, "authentication failed"); return; }
            }
            if (head_write(c, a_ok, 2) != PN_OK)
                { refuse(c, -1, 0, "write failed"); return; }
            c->st = PC_REQ;
        } else {
            if ((k = socks_parse_request(c->buf, c->n, &cmd, &c->dest)) == PN_AGAIN)
                return;
            if (k < 0)
                { refuse(c, SOCKS_REP_FAIL, 0, "malformed request"); return; }
            if (cmd != SOCKS_CMD_CONNECT && cmd != SOCKS_CMD_UDP)
                { refuse(c, SOCKS_REP_CMD, 0, "command not supported"); return; }
            if (admit(c, NULL, 0, c->buf + k, c->n - (size_t)k) != PN_OK)
                return;
            if (cmd == SOCKS_CMD_CONNECT)
                { start_connect(c); return; }
            pn_xprt_unwatch(c->x);
            ev_timer_disarm(c->deadline);
            if (proxy_udp_start(c) != PN_OK)
                { refuse(c, SOCKS_REP_FAIL, 0, "udp associate failed"); return; }
            return;
        }
    }
}

static void
on_head_io(pn_xprt_t *x, int ready, void *arg)
{
    pconn_t *c = arg;
    if (c->n == HEAD_BUF)
        { refuse(c, -1, 400, "head too long"); return; }
    ssize_t r = x->ops->read(x, c->buf + c->n, HEAD_BUF - c->n);
    if (r == PN_AGAIN)
        { pn_xprt_watch(x, c->p->in.loop, x->want, on_head_io, c); return; }
    if (r <= 0) {
        char s[PN_ADDRSTRLEN];
        log_debug("proxy: %s: closed during the head", pn_addr_str(&c->peer, s));
        { pconn_free(c); return; }
    }
    c->n += (size_t)r;
    if (c->st == PC_GREET && c->buf[0] != 5) {
        c->st = PC_HTTP;
        c->http = 1;
    }
    if (c->st == PC_HTTP)
        http_step(c);
    else
        socks_step(c);
}

static long
on_deadline(ev_timer_t *t, void *arg)
{
    pconn_t *c = arg;
    if (c->st == PC_DIAL)
        refuse(c, SOCKS_REP_TTL, 504, "destination did not answer in time");
    else
        refuse(c, -1, 0, "head deadline passed");
    return EV_TIMER_STOP;
}

/* The port's gate ends a head that is late or makes room for another's
 * (a source's oldest, or the heaviest source's: net/gate.h; it logs). */
static void
on_gate_kill(void *arg)
{
    pconn_t *c = arg;
    char s[PN_ADDRSTRLEN];
    log_debug("proxy: %s: no whole head in time, or evicted: closing", pn_addr_str(&c->peer, s));
    pconn_free(c);
}

pconn_t *
proxy_conn_new(proxy_t *p, pn_gate_t *gate, pn_xprt_t *x, const pn_addr_t *peer,
               const pn_addr_t *local)
{
    if (!tun_guard_admit(&p->guard, peer, pn_now_ms())) {
        p->in.stats.refused++;
        pn_xprt_free(x);
        return NULL;
    }
    p->in.stats.tcp_total++;
    pconn_t *c = xcalloc(sizeof(*c));
    c->p = p;
    c->x = x;
    c->peer = *peer;
    c->local = *local;
    c->dfd = -1;
    c->guarded = 1;
    c->buf = xmalloc(HEAD_BUF);
    pn_list_add(&p->heads, &c->link);
    c->deadline = ev_timer_new(p->in.loop, on_deadline, c);
    ev_timer_arm(c->deadline, p->in.cfg->handshake_ms);
    c->gate = gate;
    pn_gate_enter(gate, &c->adm, peer, on_gate_kill, c);
    return c;
}

int
proxy_conn_admit(pconn_t *c, const uint8_t *rest, size_t n)
{
    return admit(c, NULL, 0, rest, n);
}

void
proxy_conn_connect(pconn_t *c)
{
    start_connect(c);
}

void
proxy_conn_fail(pconn_t *c, int rep, int code, const char *why)
{
    refuse(c, rep, code, why);
}

void
proxy_conn_relay(pconn_t *c)
{
    start_relay(c);
}

void
proxy_conn_refuse(pconn_t *c, const char *why)
{
    refuse(c, -1, 0, why);
}

void
proxy_on_user(pn_xprt_t *x, const pn_addr_t *peer, const pn_addr_t *local, void *arg)
{
    proxy_t *p = arg;
    pconn_t *c = proxy_conn_new(p, pn_entry_gate(p->entry), x, peer, local);
    if (c != NULL)
        pn_xprt_watch(x, c->p->in.loop, EV_RD, on_head_io, c);
}
