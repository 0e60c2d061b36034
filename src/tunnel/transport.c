/* tunnel/transport.c: the transport table and the WebSocket opening, both
 * sides (see transport.h). */
#include "tunnel/transport.h"
#include "core/log.h"
#include "core/mem.h"
#include "tls/h2.h"
#include "tls/ws.h"
#include "tunnel/ws_head.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const struct xport_info {
    const char *name;
    int built;
} xports[PN_XPORT_MAX + 1] = {
    [PN_XPORT_TCP] = { "tcp", 1 },
    [PN_XPORT_QUIC] = { "quic", 1 },    /* tls/quic.h: data streams of one QUIC connection */
    [PN_XPORT_WS] = { "ws", 1 },
    [PN_XPORT_H2] = { "h2", 1 },
};

const char *
tun_xport_name(int type)
{
    return type >= 0 && type <= PN_XPORT_MAX ? xports[type].name : "?";
}

int
tun_xport_check(int type, char *err)
{
    if (type < 0 || type > PN_XPORT_MAX)
        return pn_err_set(err, "type: \"%d\" is not 0, 1, 2 or 3", type);
    if (!xports[type].built)
        return pn_err_set(err, "type=%d is not built yet", type);
    return PN_OK;
}

void
tun_xport_accepting(tun_xport_t *t, int type, const char *path, pn_tls_ctx_t *data_tls)
{
    *t = (tun_xport_t){
        .type = type < 0 ? PN_XPORT_TCP : type, .path = path != NULL ? path : "/", .tls = data_tls,
    };
}

void
tun_xport_hello(pn_hello_t *h, int type, const char *path)
{
    if (type <= PN_XPORT_TCP)
        return;
    h->transport = (uint8_t)type;
    snprintf(h->path, sizeof(h->path), "%s", path != NULL ? path : "/");
}

int
tun_xport_client_init(tun_xport_client_t *c, int given, int tls, const char *ca,
                      const char *path, const char *host, const char *addr_host,
                      const char *port, const char *sni, char *err)
{
    memset(c, 0, sizeof(*c));
    /* type=1 cannot cross an HTTP proxy: the control connection is TCP and
     * HELLO says QUIC, given or not. */
    if (given == PN_XPORT_QUIC)
        given = -1;
    c->given = given;
    snprintf(c->path, sizeof(c->path), "%s", path != NULL ? path : "/");
    if (host != NULL)
        snprintf(c->host, sizeof(c->host), "%s", host);
    else
        snprintf(c->host, sizeof(c->host), strchr(addr_host, ':') ? "[%s]:%s" : "%s:%s",
                 addr_host, port);
    if ((given == PN_XPORT_WS || given == PN_XPORT_H2) && tls != 0) {
        c->own_tls = pn_tls_client_new(tls == 2, ca, err);
        if (c->own_tls == NULL)
            return PN_ERR;
    }
    c->ca = ca;
    c->ctrl = (tun_xport_t){
        .type = given < 0 ? PN_XPORT_TCP : given, .path = c->path, .host = c->host,
        .tls = c->own_tls, .sni = sni,
    };
    c->data = c->ctrl;
    return PN_OK;
}

const tun_xport_t *
tun_xport_client_ctrl(tun_xport_client_t *c)
{
    return c->ctrl.type == PN_XPORT_TCP ? NULL : &c->ctrl;
}

const tun_xport_t *
tun_xport_client_data(tun_xport_client_t *c, const pn_hello_t *h, pn_tls_ctx_t *data_tls)
{
    if (c->given >= 0)
        return c->given == PN_XPORT_TCP ? NULL : &c->data;
    if (h->transport == PN_XPORT_TCP)
        return NULL;
    snprintf(c->path, sizeof(c->path), "%s", h->path);
    c->data.type = h->transport;
    c->data.tls = data_tls;
    return &c->data;
}

/* A client given no type=, told by HELLO <h> which transport the server
 * chose: with type=3 its control channel belongs on the HTTP/2 connection its
 * data streams use (one connection in all), with the data TLS <data_tls>
 * (borrowed, kept by the caller across sessions); with another type, on type=0
 * again. Return 1 when the control channel in use is not there (the caller
 * ends the session and reconnects at once), 0 otherwise. A HELLO read on a
 * channel that just moved asks for no move back (a server whose HELLO changes
 * with the transport would make the client move for ever); a moved channel
 * that could not be opened (tun_xport_client_forget) may move again. */
int
tun_xport_client_learn(tun_xport_client_t *c, const pn_hello_t *h, pn_tls_ctx_t *data_tls)
{
    int want = h->transport == PN_XPORT_H2 ? PN_XPORT_H2 : PN_XPORT_TCP;
    int moved = c->moved;
    c->moved = 0;
    if (c->given >= 0)
        return 0;
    if (c->ctrl.type == PN_XPORT_H2)
        c->ctrl.tls = data_tls;     /* the caller may have made it anew */
    if (want == c->ctrl.type || moved)
        return 0;
    if (want == PN_XPORT_H2)
        snprintf(c->path, sizeof(c->path), "%s", h->path);
    c->ctrl.type = want;
    c->ctrl.tls = want == PN_XPORT_H2 ? data_tls : NULL;
    c->moved = 1;
    return 1;
}

/* The control connection that <c> learned (tun_xport_client_learn) failed:
 * back to type=0, which every tunnel port accepts. */
void
tun_xport_client_forget(tun_xport_client_t *c)
{
    if (c->given >= 0)
        return;
    c->ctrl.type = PN_XPORT_TCP;
    c->ctrl.tls = NULL;
    c->moved = 0;
}

void
tun_xport_client_clear(tun_xport_client_t *c)
{
    tun_xport_client_drop(c);
    pn_tls_ctx_free(c->own_tls);
}

/* Keep the HTTP/2 connection under <x> as <c>'s carrier (a reference), unless
 * a live one is kept already (see transport.h). */
void
tun_xport_client_keep(tun_xport_client_t *c, pn_xprt_t *x, const uint8_t *fp)
{
    pn_h2_mux_t *m = pn_h2_mux_of(x);
    if (m == NULL)
        m = pn_h2_mux_of(pn_tls_xprt_inner(x));
    if (m == NULL || m == c->mux || tun_xport_client_mux(c, NULL) != NULL)
        return;
    pn_h2_mux_ref(m);
    c->mux = m;
    c->mux_has_fp = fp != NULL;
    if (fp != NULL)
        memcpy(c->mux_fp, fp, PN_TLS_FP_LEN);
}

/* The live carrier of <c> or NULL (a dead one is let go first). */
pn_h2_mux_t *
tun_xport_client_mux(tun_xport_client_t *c, const uint8_t **fp)
{
    if (c->mux != NULL && !pn_h2_mux_alive(c->mux))
        tun_xport_client_drop(c);
    if (fp != NULL)
        *fp = c->mux_has_fp ? c->mux_fp : NULL;
    return c->mux;
}

/* Let <c>'s carrier go: the connection closes once its streams are gone. */
void
tun_xport_client_drop(tun_xport_client_t *c)
{
    pn_quic_unref(c->quic);
    c->quic = NULL;
    pn_h2_mux_unref(c->mux);
    c->mux = NULL;
    c->mux_has_fp = 0;
}

void
tun_xport_client_rebind(tun_xport_client_t *c)
{
    if (pn_quic_alive(c->quic))
        (void)pn_quic_rebind(c->quic);     /* it says why when it cannot */
}

pn_quic_conn_t *
tun_xport_client_quic(tun_xport_client_t *c, const tun_xport_t *t, ev_loop_t *loop,
                      const pn_addr_t *to, int tls, const uint8_t *pin, uint64_t handshake_ms,
                      const uint8_t **fp)
{
    if (t == NULL || t->type != PN_XPORT_QUIC)
        return NULL;
    if (c->quic != NULL && !pn_quic_alive(c->quic)) {
        pn_quic_unref(c->quic);     /* it died: a new connection */
        c->quic = NULL;
    }
    if (c->quic == NULL) {
        char err[PN_ERR_LEN];
        pn_quic_client_opts_t o = {
            .handshake_ms = handshake_ms, .verify = tls, .ca = c->ca, .sni = c->ctrl.sni, .pin = pin,
        };
        c->quic = pn_quic_client(loop, (const struct sockaddr *)&to->ss, to->len, &o, err);
        if (c->quic == NULL)
            log_warn("client: data channel: %s", err);
    }
    /* The pin, checked by the QUIC handshake before any stream carries a byte. */
    *fp = tls == 1 ? pin : NULL;
    return c->quic;
}

/* Bytes moved in one step. */
struct wbuf {
    char b[TUN_WS_HEAD_MAX];
    size_t len, done;
};

int
tun_io_all(pn_xprt_t *x, void *buf, size_t len, size_t *done, int wr, const char **why)
{
    while (*done < len) {
        ssize_t n = wr ? x->ops->write(x, (uint8_t *)buf + *done, len - *done)
                       : x->ops->read(x, (uint8_t *)buf + *done, len - *done);
        if (n == PN_AGAIN)
            return PN_AGAIN;
        if (n == 0) {
            *why = "connection closed by the peer";
            return PN_ERR;
        }
        if (n < 0) {
            *why = x->err ? x->err : "i/o error";
            return PN_ERR;
        }
        *done += (size_t)n;
    }
    return PN_OK;
}

static int
write_all(pn_xprt_t *x, struct wbuf *w, const char **why)
{
    return tun_io_all(x, w->b, w->len, &w->done, 1, why);
}

/* Read what is there into <w> (up to its size): PN_OK when bytes came. */
static int
read_some(pn_xprt_t *x, struct wbuf *w, const char **why)
{
    ssize_t n = x->ops->read(x, w->b + w->len, sizeof(w->b) - w->len);
    if (n == PN_AGAIN)
        return PN_AGAIN;
    if (n == 0) {
        *why = "connection closed by the peer";
        return PN_ERR;
    }
    if (n < 0) {
        *why = x->err != NULL ? x->err : "i/o error";
        return PN_ERR;
    }
    w->len += (size_t)n;
    return PN_OK;
}

/* Drive a TLS handshake on *<x>, wrapping the raw transport first. */
static int
tls_step(pn_xprt_t **x, SSL **pending, const char **why)
{
    if (*pending != NULL) {
        int fd = (*x)->fd;
        (*x)->fd = -1;
        pn_xprt_free(*x);
        *x = pn_tls_xprt_new(fd, *pending);
        *pending = NULL;
    }
    int rc = pn_tls_xprt_handshake(*x);
    if (rc == PN_ERR)
        *why = (*x)->err != NULL ? (*x)->err : "tls handshake failed";
    return rc;
}

/* --- client side ----------------------------------------------------------- */

enum { WD_TLS = 0, WD_REQ, WD_RESP };

struct tun_ws_dial {
    const tun_xport_t *t;       /* borrowed */
    ev_loop_t *loop;            /* borrowed */
    int st;
    SSL *ssl;                   /* owned until wrapped */
    int started;
    uint8_t fp[PN_TLS_FP_LEN];
    int has_fp;
    char accept[TUN_WS_ACCEPT_LEN + 1];
    struct wbuf w;
};

tun_ws_dial_t *
tun_ws_dial_new(const tun_xport_t *t, ev_loop_t *loop)
{
    tun_ws_dial_t *d = xcalloc(sizeof(*d));
    d->t = t;
    d->loop = loop;
    return d;
}

void
tun_ws_dial_free(tun_ws_dial_t *d)
{
    if (d == NULL)
        return;
    pn_tls_ssl_free(d->ssl);
    free(d);
}

int
tun_ws_dial_fp(const tun_ws_dial_t *d, uint8_t fp[PN_TLS_FP_LEN])
{
    if (!d->has_fp)
        return -1;
    memcpy(fp, d->fp, PN_TLS_FP_LEN);
    return 0;
}

int
tun_ws_dial_step(tun_ws_dial_t *d, pn_xprt_t **x, const char **why)
{
    int rc;
    switch (d->st) {
    case WD_TLS:
        if (d->t->tls != NULL) {
            if (!d->started) {
                d->started = 1;
                d->ssl = pn_tls_client_ssl(d->t->tls, d->t->sni);
                if (d->ssl == NULL ||
                    (d->t->type == PN_XPORT_H2 && pn_h2_alpn_offer(d->ssl) != PN_OK)) {
                    *why = "cannot start TLS";
                    return PN_ERR;
                }
            }
            if ((rc = tls_step(x, &d->ssl, why)) != PN_OK)
                return rc;
            if (pn_tls_peer_fingerprint(pn_tls_xprt_ssl(*x), d->fp) == 0)
                d->has_fp = 1;
        }
        if (d->t->type == PN_XPORT_H2) {
            /* HTTP/2: the request goes with the first bytes, no round trip. */
            SSL *ssl = pn_tls_xprt_ssl(*x);
            if (ssl != NULL && !pn_h2_alpn_chosen(ssl)) {
                *why = "the server did not choose ALPN h2 (not an HTTP/2 server?)";
                return PN_ERR;
            }
            pn_h2_mux_t *m = pn_h2_mux_client(d->loop, *x, d->t->path, d->t->host, ssl != NULL);
            *x = pn_h2_mux_open(m);     /* holds the connection now */
            pn_h2_mux_unref(m);
            if (*x == NULL) {
                *why = "cannot open an http/2 stream";
                return PN_ERR;
            }
            return PN_OK;
        }
        {
            char key[TUN_WS_KEY_LEN + 1];
            if (pn_ws_new_key(key) != 0) {
                *why = "no random bytes for the websocket key";
                return PN_ERR;
            }
            pn_ws_accept(key, d->accept);
            int n = snprintf(d->w.b, sizeof(d->w.b),
                             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                             "Sec-WebSocket-Version: 13\r\nUser-Agent: postern\r\n\r\n",
                             d->t->path, d->t->host, key);
            if (n <= 0 || (size_t)n >= sizeof(d->w.b)) {
                *why = "websocket request too long";
                return PN_ERR;
            }
            d->w.len = (size_t)n;
            d->w.done = 0;
        }
        d->st = WD_REQ;
    /* fall through */
    case WD_REQ:
        if ((rc = write_all(*x, &d->w, why)) != PN_OK)
            return rc;
        d->w.len = d->w.done = 0;
        d->st = WD_RESP;
    /* fall through */
    case WD_RESP:
        for (;;) {
            if ((rc = read_some(*x, &d->w, why)) != PN_OK)
                return rc;
            size_t used = 0;
            int status = 0;
            rc = tun_ws_resp_parse((const uint8_t *)d->w.b, d->w.len, d->accept, &used, &status,
                                   why);
            if (rc == PN_AGAIN)
                continue;
            if (rc != PN_OK) {
                if (status == 404)
                    *why = "the server answered 404: no websocket on that path (path=?)";
                return PN_ERR;
            }
            *x = pn_ws_xprt_new(*x, 0, (const uint8_t *)d->w.b + used, d->w.len - used);
            return PN_OK;
        }
    }
    *why = "bad websocket state";
    return PN_ERR;
}

/* --- accepting side -------------------------------------------------------- */

enum { WA_TLS = 0, WA_HEAD, WA_RESP };

struct tun_ws_acc {
    const tun_xport_t *t;       /* borrowed */
    ev_loop_t *loop;            /* borrowed */
    int st;
    SSL *ssl;                   /* owned until wrapped */
    int started;
    struct wbuf in, out;
    char why[160];
};

int
tun_ws_sniff(pn_xprt_t *x)
{
    unsigned char c[2];
    ssize_t n = recv(x->fd, c, 2, MSG_PEEK | MSG_DONTWAIT);
    /* 'P' then 'N' is the preamble; POST, PUT, PATCH, PRI are HTTP (a lone
     * 'P' is taken for the preamble: waiting on it would spin). */
    if (n >= 1)
        return c[0] == 0x16 || (c[0] >= 'A' && c[0] <= 'Z' && !(c[0] == 'P' && (n == 1 || c[1] == 'N')))
               ? 1 : 0;
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        x->want = EV_RD;
        return PN_AGAIN;
    }
    return PN_ERR;
}

tun_ws_acc_t *
tun_ws_acc_new(const tun_xport_t *t, ev_loop_t *loop)
{
    tun_ws_acc_t *a = xcalloc(sizeof(*a));
    a->t = t;
    a->loop = loop;
    return a;
}

void
tun_ws_acc_free(tun_ws_acc_t *a)
{
    if (a == NULL)
        return;
    pn_tls_ssl_free(a->ssl);
    free(a);
}

/* Answer a refused opening with a short page (one write, best effort: the
 * connection closes next) and fail. */
static int
refuse(tun_ws_acc_t *a, pn_xprt_t *x, int status, const char *why, const char **out)
{
    const char *reason = status == 404 ? "Not Found" : status == 405 ? "Method Not Allowed"
                       : status == 426 ? "Upgrade Required" : "Bad Request";
    const char *extra = status == 426 ? "Sec-WebSocket-Version: 13\r\n"
                      : status == 405 ? "Allow: GET\r\n" : "";
    char body[200];
    int nb = snprintf(body, sizeof(body), "%d %s: %s\n", status, reason, why);
    int n = snprintf(a->out.b, sizeof(a->out.b),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     "%sConnection: close\r\n\r\n%s", status, reason, nb, extra, body);
    if (n > 0 && (size_t)n < sizeof(a->out.b))
        (void)x->ops->write(x, a->out.b, (size_t)n);
    snprintf(a->why, sizeof(a->why), "websocket: %s (answered %d)", why, status);
    *out = a->why;
    return PN_ERR;
}

int
tun_ws_acc_step(tun_ws_acc_t *a, pn_xprt_t **x, const char **why)
{
    int rc;
    switch (a->st) {
    case WA_TLS:
        if (!a->started) {
            unsigned char c = 0;
            a->started = 1;
            if (recv((*x)->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1 && c == 0x16) {
                if (a->t->tls == NULL) {
                    *why = "tls on a websocket port without tls= (tls=1|2 on the server?)";
                    return PN_ERR;
                }
                a->ssl = pn_tls_server_ssl(a->t->tls);
                if (a->ssl == NULL) {
                    *why = "cannot start TLS";
                    return PN_ERR;
                }
            }
        }
        if (a->ssl != NULL || pn_tls_xprt_ssl(*x) != NULL) {
            if ((rc = tls_step(x, &a->ssl, why)) != PN_OK)
                return rc;
        }
        if (a->t->type == PN_XPORT_H2) {
            if (a->t->tls != NULL && pn_tls_xprt_ssl(*x) == NULL) {
                *why = "http/2: cleartext (h2c) on a port that takes TLS only";
                return PN_ERR;
            }
            pn_h2_mux_server(a->loop, *x, a->t->path, a->t->h2_stream, a->t->h2_ctx, a->t->h2_set);
            *x = NULL;
            return PN_OK;
        }
        a->st = WA_HEAD;
    /* fall through */
    case WA_HEAD:
        for (;;) {
            if ((rc = read_some(*x, &a->in, why)) != PN_OK)
                return rc;
            tun_ws_req_t r;
            rc = tun_ws_req_parse((const uint8_t *)a->in.b, a->in.len, a->t->path, &r);
            if (rc == PN_AGAIN)
                continue;
            if (rc != PN_OK)
                return refuse(a, *x, r.status, r.why, why);
            if (a->t->tls != NULL && pn_tls_xprt_ssl(*x) == NULL)
                return refuse(a, *x, 400, "this websocket port takes TLS only (wss://)", why);
            char acc[TUN_WS_ACCEPT_LEN + 1];
            pn_ws_accept(r.key, acc);
            int n = snprintf(a->out.b, sizeof(a->out.b),
                             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
            a->out.len = (size_t)n;
            a->out.done = 0;
            /* What followed the head stays for the WebSocket. */
            memmove(a->in.b, a->in.b + r.used, a->in.len - r.used);
            a->in.len -= r.used;
            break;
        }
        a->st = WA_RESP;
    /* fall through */
    case WA_RESP:
        if ((rc = write_all(*x, &a->out, why)) != PN_OK)
            return rc;
        *x = pn_ws_xprt_new(*x, 1, (const uint8_t *)a->in.b, a->in.len);
        return PN_OK;
    }
    *why = "bad websocket state";
    return PN_ERR;
}
