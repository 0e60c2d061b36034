/* tunnel/open.c: connection opening, both sides, as two small state machines.
 *
 *   client: CONNECT -> PREAMBLE -> TLS -> [data: HELLO -> WAIT_OK] -> done
 *   server: PREAMBLE -> TLS -> [data: HELLO -> SEND_OK] -> done
 *
 * Reads never take more than the step needs (exact lengths), so the bytes that
 * follow the handshake stay in the socket or the TLS layer for the relay. */
#include "tunnel/open.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"
#include "tls/h2.h"
#include "tls/h2_mux.h"
#include "tls/ws.h"

#include <errno.h>
#include <string.h>

enum open_state {
    OP_ST_CONNECT = 0,          /* TCP connect in progress */
    OP_ST_WS,                   /* type=2|3: [TLS] and the WebSocket upgrade or HTTP/2 request */
    OP_ST_PREAMBLE,             /* writing the 4-byte preamble (raw) */
    OP_ST_TLS,                  /* TLS handshake */
    OP_ST_HELLO,                /* data: writing DATA_HELLO */
    OP_ST_WAIT_OK,              /* data: reading DATA_OK */
};

enum greet_state {
    GR_ST_SNIFF = 0,            /* a port with type=2|3: preamble or an HTTP opening? */
    GR_ST_PREAMBLE,             /* reading the preamble (raw, or in the WebSocket) */
    GR_ST_TLS,                  /* TLS handshake */
    GR_ST_HELLO,                /* data: reading DATA_HELLO */
    GR_ST_SEND_OK,              /* data: writing DATA_OK */
};

#define HELLO_FRAME_LEN (PN_FRAME_HDR + PN_DATA_HELLO_LEN)

/* Bytes moved in the current step, shared by both machines. */
struct step_buf {
    uint8_t b[HELLO_FRAME_LEN];
    size_t len;                 /* bytes the step needs */
    size_t done;                /* bytes moved so far */
};

struct tun_open {
    ev_loop_t *loop;            /* borrowed */
    enum open_state st;
    tun_open_opts_t o;          /* copy; pointers inside borrowed */
    uint8_t id[PN_CONN_ID_LEN], proof[PN_PROOF_LEN];
    uint8_t fp[PN_TLS_FP_LEN];
    int has_fp;
    int fd;                     /* owned until <x> exists */
    pn_xprt_t *x;               /* owned */
    ev_io_t *io;                /* owned */
    ev_timer_t *timer;          /* owned: the deadline */
    ev_defer_t *defer;          /* owned: delivers an early failure */
    tun_ws_dial_t *ws;          /* owned: type=2 opening, NULL otherwise */
    struct step_buf s;
    char err[PN_ERR_LEN];
    tun_open_cb cb;
    void *ctx;                  /* borrowed */
};

struct tun_greet {
    ev_loop_t *loop;            /* borrowed */
    enum greet_state st;
    tun_greet_opts_t o;
    uint8_t kind;
    uint8_t id[PN_CONN_ID_LEN];
    int tls;                    /* a TLS handshake after the preamble */
    int fd;                     /* owned until <x> exists */
    pn_xprt_t *x;               /* owned */
    ev_io_t *io;                /* owned */
    ev_timer_t *timer;          /* owned */
    tun_ws_acc_t *ws;           /* owned: a WebSocket opening, NULL for a preamble */
    struct step_buf s;
    char err[PN_ERR_LEN];
    tun_greet_cb cb;
    void *ctx;                  /* borrowed */
};

/* Move bytes of <s> through <x>: write when <wr>, else read. PN_OK when the
 * step is complete, PN_AGAIN (x->want says on what), PN_ERR with <why>. */
static int
step_io(pn_xprt_t *x, struct step_buf *s, int wr, const char **why)
{
    return tun_io_all(x, s->b, s->len, &s->done, wr, why);
}

static void
step_set(struct step_buf *s, size_t len)
{
    s->len = len;
    s->done = 0;
}

/* --- client side ------------------------------------------------------- */

static void
open_free(tun_open_t *op)
{
    ev_io_free(op->io);
    ev_timer_free(op->timer);
    ev_defer_free(op->defer);
    tun_ws_dial_free(op->ws);
    pn_xprt_free(op->x);
    pn_close(op->fd);
    free(op);
}

void
tun_open_cancel(tun_open_t *op)
{
    if (op != NULL)
        open_free(op);
}

static void
open_finish(tun_open_t *op, int ok)
{
    tun_open_cb cb = op->cb;
    void *ctx = op->ctx;
    pn_xprt_t *x = NULL;
    uint8_t fp[PN_TLS_FP_LEN];
    int has_fp = op->has_fp;
    char err[PN_ERR_LEN];
    if (ok) {
        x = op->x;
        op->x = NULL;
        pn_xprt_unwatch(x);     /* a stream was watched for us: the new owner watches */
    }
    memcpy(fp, op->fp, sizeof(fp));
    memcpy(err, op->err, sizeof(err));
    open_free(op);
    cb(x, has_fp ? fp : NULL, ok ? NULL : err, ctx);
}

static void
on_open_defer(void *arg)
{
    open_finish(arg, 0);
}

static void open_step(tun_open_t *op);

static void
on_open_io(int fd, int ready, void *arg)
{
    open_step(arg);
}

static void
on_open_x(pn_xprt_t *x, int ready, void *arg)
{
    open_step(arg);
}

/* Wait for what op->x wants: its socket, or for a stream of an HTTP/2 mux
 * (no fd) its computed readiness. */
static void
open_wait(tun_open_t *op)
{
    if (op->x->fd == -1) {
        if (op->io != NULL)
            ev_io_set(op->io, 0);
        pn_xprt_watch(op->x, op->loop, op->x->want, on_open_x, op);
        return;
    }
    ev_io_set(op->io, op->x->want);
}

static long
on_open_timeout(ev_timer_t *t, void *arg)
{
    tun_open_t *op = arg;
    pn_err_set(op->err, "handshake timed out");
    open_finish(op, 0);
    return EV_TIMER_STOP;
}

/* Advance as far as the sockets allow; each case falls through to the next
 * state when its step completes. */
static void
open_step(tun_open_t *op)
{
    const char *why = NULL;
    int rc = PN_ERR;

    switch (op->st) {
    case OP_ST_CONNECT: {
        int e = pn_sock_error(op->fd);
        if (e != 0) {
            pn_err_set(op->err, "connect: %s", strerror(e));
            open_finish(op, 0);
            return;
        }
        pn_sock_tune(op->fd);
        op->x = pn_raw_xprt_new(op->fd);
        op->fd = -1;
        if (op->o.xport != NULL && op->o.xport->type != PN_XPORT_TCP)
            op->ws = tun_ws_dial_new(op->o.xport, op->loop);
        op->st = OP_ST_WS;
    }
    /* fall through */
    case OP_ST_WS:
        if (op->ws != NULL) {
            rc = tun_ws_dial_step(op->ws, &op->x, &why);
            if (rc != PN_OK)
                break;
            if (tun_ws_dial_fp(op->ws, op->fp) == 0)
                op->has_fp = 1;
        }
        pn_preamble_encode(op->s.b, op->o.kind);
        step_set(&op->s, PN_PREAMBLE_LEN);
        op->st = OP_ST_PREAMBLE;
    /* fall through */
    case OP_ST_PREAMBLE:
        rc = step_io(op->x, &op->s, 1, &why);
        if (rc != PN_OK)
            break;
        if (op->o.tls != NULL) {
            SSL *ssl = pn_tls_client_ssl(op->o.tls, op->o.sni);
            if (ssl == NULL) {
                pn_err_set(op->err, "cannot start TLS");
                open_finish(op, 0);
                return;
            }
            if (op->o.kind == PN_KIND_DATA)
                pn_tls_ssl_strict_eof(ssl);     /* a killed peer is a truncation */
            if (pn_ws_xprt_is(op->x) || pn_h2_mux_of(op->x) != NULL) {
                pn_xprt_unwatch(op->x);
                op->x = pn_tls_xprt_wrap(op->x, ssl);   /* PSK inside the WebSocket */
            } else {
                /* The raw transport gives its fd to the TLS one. */
                int fd = op->x->fd;
                op->x->fd = -1;
                pn_xprt_free(op->x);
                op->x = pn_tls_xprt_new(fd, ssl);
            }
        }
        op->st = OP_ST_TLS;
    /* fall through */
    case OP_ST_TLS:
        if (op->o.tls != NULL) {
            rc = pn_tls_xprt_handshake(op->x);
            if (rc == PN_ERR) {
                /* Over an HTTP/2 stream, the stream's own failure says more (a 404). */
                pn_xprt_t *in = pn_tls_xprt_inner(op->x);
                const char *e = in != NULL && in->err != NULL ? in->err : op->x->err;
                pn_err_set(op->err, "%s%s", in != NULL && in->err != NULL ? "" : "tls handshake: ",
                           e != NULL ? e : "failed");
                open_finish(op, 0);
                return;
            }
            if (rc != PN_OK)
                break;
            if (op->o.kind == PN_KIND_DATA &&
                pn_tls_peer_fingerprint(pn_tls_xprt_ssl(op->x), op->fp) == 0)
                op->has_fp = 1;
        }
        if (op->o.pin != NULL &&
            (!op->has_fp || pn_memeq_ct(op->fp, op->o.pin, PN_TLS_FP_LEN) != 0)) {
            pn_err_set(op->err, "data channel certificate fingerprint mismatch "
                                "(a man in the middle?)");
            open_finish(op, 0);
            return;
        }
        if (op->o.kind == PN_KIND_CONTROL) {
            open_finish(op, 1);
            return;
        }
        {
            uint8_t payload[PN_DATA_HELLO_LEN];
            memcpy(payload, op->id, PN_CONN_ID_LEN);
            memcpy(payload + PN_CONN_ID_LEN, op->proof, PN_PROOF_LEN);
            pn_frame_encode(op->s.b, sizeof(op->s.b), PN_FT_DATA_HELLO, 0, 0, payload,
                            sizeof(payload));
        }
        step_set(&op->s, HELLO_FRAME_LEN);
        op->st = OP_ST_HELLO;
    /* fall through */
    case OP_ST_HELLO:
        rc = step_io(op->x, &op->s, 1, &why);
        if (rc != PN_OK)
            break;
        step_set(&op->s, PN_FRAME_HDR);
        op->st = OP_ST_WAIT_OK;
    /* fall through */
    case OP_ST_WAIT_OK: {
        rc = step_io(op->x, &op->s, 0, &why);
        if (rc != PN_OK)
            break;
        pn_frame_t f;
        size_t used;
        if (pn_frame_decode(op->s.b, PN_FRAME_HDR, &f, &used, &why) != PN_OK ||
            f.type != PN_FT_DATA_OK) {
            pn_err_set(op->err, "server refused the data connection");
            open_finish(op, 0);
            return;
        }
        open_finish(op, 1);
        return;
    }
    }
    if (rc == PN_AGAIN) {
        open_wait(op);
        return;
    }
    pn_err_set(op->err, "%s", why ? why : "failed");
    open_finish(op, 0);
}

tun_open_t *
tun_open_start(ev_loop_t *loop, const pn_addr_t *server, const tun_open_opts_t *o,
               tun_open_cb cb, void *ctx)
{
    tun_open_t *op = xcalloc(sizeof(*op));
    op->loop = loop;
    op->o = *o;
    if (o->kind == PN_KIND_DATA) {
        memcpy(op->id, o->id, PN_CONN_ID_LEN);
        memcpy(op->proof, o->proof, PN_PROOF_LEN);
    }
    op->cb = cb;
    op->ctx = ctx;
    op->st = OP_ST_CONNECT;
    op->timer = ev_timer_new(loop, on_open_timeout, op);
    op->defer = ev_defer_new(loop, on_open_defer, op);
    op->fd = -1;
    if (o->mux != NULL || o->quic != NULL) {
        /* A stream of the connection already open: the preamble at once. */
        op->x = o->mux != NULL ? pn_h2_mux_open(o->mux) : pn_quic_open(o->quic);
        if (op->x == NULL) {
            pn_err_set(op->err, o->mux != NULL ? "the http/2 connection ended"
                                               : "the quic connection ended");
            ev_defer_schedule(op->defer);
            return op;
        }
        if (o->mux_fp != NULL) {
            memcpy(op->fp, o->mux_fp, PN_TLS_FP_LEN);
            op->has_fp = 1;
        }
        op->st = OP_ST_WS;
        op->x->want = EV_WR;
        open_wait(op);
        ev_timer_arm(op->timer, o->timeout_ms);
        return op;
    }
    op->fd = pn_dial_tcp(server, NULL, op->err);
    if (op->fd == -1) {
        ev_defer_schedule(op->defer);
        return op;
    }
    op->io = ev_io_new(loop, op->fd, on_open_io, op);
    ev_io_set(op->io, EV_WR);
    ev_timer_arm(op->timer, o->timeout_ms);
    return op;
}

/* --- server side ------------------------------------------------------- */

static void
greet_free(tun_greet_t *g)
{
    ev_io_free(g->io);
    ev_timer_free(g->timer);
    tun_ws_acc_free(g->ws);
    pn_xprt_free(g->x);
    pn_close(g->fd);
    free(g);
}

void
tun_greet_cancel(tun_greet_t *g)
{
    if (g != NULL)
        greet_free(g);
}

static void
greet_finish(tun_greet_t *g, int ok)
{
    tun_greet_cb cb = g->cb;
    void *ctx = g->ctx;
    uint8_t kind = g->kind, id[PN_CONN_ID_LEN];
    pn_xprt_t *x = NULL;
    char err[PN_ERR_LEN];
    if (ok) {
        x = g->x;
        g->x = NULL;
        pn_xprt_unwatch(x);     /* a stream was watched for us: the new owner watches */
    }
    memcpy(id, g->id, sizeof(id));
    memcpy(err, g->err, sizeof(err));
    greet_free(g);
    cb(kind, x, id, ok ? NULL : err, ctx);
}

static void greet_step(tun_greet_t *g);

static void
on_greet_io(int fd, int ready, void *arg)
{
    greet_step(arg);
}

static void
on_greet_x(pn_xprt_t *x, int ready, void *arg)
{
    greet_step(arg);
}

/* As open_wait, for the greeting. */
static void
greet_wait(tun_greet_t *g)
{
    if (g->x->fd == -1) {
        if (g->io != NULL)
            ev_io_set(g->io, 0);
        pn_xprt_watch(g->x, g->loop, g->x->want, on_greet_x, g);
        return;
    }
    ev_io_set(g->io, g->x->want);
}

static long
on_greet_timeout(ev_timer_t *t, void *arg)
{
    tun_greet_t *g = arg;
    pn_err_set(g->err, "handshake timed out");
    greet_finish(g, 0);
    return EV_TIMER_STOP;
}

/* Early refusal (protocol.md §4, §8): nonzero when the first <n> bytes of a
 * DATA_HELLO frame already rule it out (version, reserved byte, type, length),
 * judged by completing them with a valid header's remaining bytes. */
static int
hello_prefix_bad(const uint8_t *b, size_t n)
{
    uint8_t h[HELLO_FRAME_LEN];
    pn_frame_t f;
    size_t used;
    const char *why;
    if (n == 0)
        return 0;
    memset(h, 0, sizeof(h));
    pn_frame_encode(h, sizeof(h), PN_FT_DATA_HELLO, 0, 0, h + PN_FRAME_HDR, PN_DATA_HELLO_LEN);
    memcpy(h, b, n < PN_FRAME_HDR ? n : PN_FRAME_HDR);
    /* Not PN_OK: a bad byte, or a length other than the hello's (more than it). */
    if (pn_frame_decode(h, sizeof(h), &f, &used, &why) != PN_OK)
        return 1;
    return f.type != PN_FT_DATA_HELLO || f.len != PN_DATA_HELLO_LEN;
}

static void
greet_step(tun_greet_t *g)
{
    const char *why = NULL;
    int rc = PN_ERR;

    switch (g->st) {
    case GR_ST_SNIFF:
        if (g->ws == NULL) {
            rc = tun_ws_sniff(g->x);
            if (rc == PN_ERR) {
                why = "connection closed by the peer";
                break;
            }
            if (rc == PN_AGAIN)
                break;
            if (rc == 1)
                g->ws = tun_ws_acc_new(g->o.ws, g->loop);
        }
        if (g->ws != NULL) {
            rc = tun_ws_acc_step(g->ws, &g->x, &why);
            if (rc != PN_OK)
                break;
            if (g->x == NULL) {     /* an HTTP/2 connection: its streams come one by one */
                g->kind = TUN_GREET_MUX;
                greet_finish(g, 1);
                return;
            }
        }
        g->st = GR_ST_PREAMBLE;
    /* fall through */
    case GR_ST_PREAMBLE: {
        rc = step_io(g->x, &g->s, 0, &why);
        if (rc != PN_OK)
            break;
        if (pn_preamble_decode(g->s.b, &g->kind, &why) != PN_OK) {
            pn_err_set(g->err, "bad preamble: %s", why);
            greet_finish(g, 0);
            return;
        }
        /* A WebSocket's (or HTTP/2 or QUIC stream's) data TLS was the one under it. */
        int stream = pn_h2_mux_of(g->x) != NULL || pn_quic_of(g->x) != NULL;
        if (g->kind == PN_KIND_CONTROL && pn_quic_of(g->x) != NULL) {
            pn_err_set(g->err, "a control channel over quic (it travels over tcp)");
            greet_finish(g, 0);
            return;
        }
        pn_tls_ctx_t *ctx = g->kind == PN_KIND_CONTROL ? g->o.psk
                          : g->ws != NULL || stream ? NULL : g->o.data_tls;
        if (ctx != NULL) {
            SSL *ssl = pn_tls_server_ssl(ctx);
            if (ssl == NULL) {
                pn_err_set(g->err, "cannot start TLS");
                greet_finish(g, 0);
                return;
            }
            if (g->kind == PN_KIND_DATA)
                pn_tls_ssl_strict_eof(ssl);     /* a killed peer is a truncation */
            if (pn_ws_xprt_is(g->x) || stream) {
                pn_xprt_unwatch(g->x);
                g->x = pn_tls_xprt_wrap(g->x, ssl);
            } else {
                int fd = g->x->fd;
                g->x->fd = -1;
                pn_xprt_free(g->x);
                g->x = pn_tls_xprt_new(fd, ssl);
            }
        }
        g->tls = ctx != NULL;
        g->st = GR_ST_TLS;
    }
    /* fall through */
    case GR_ST_TLS:
        if (g->tls) {
            rc = pn_tls_xprt_handshake(g->x);
            if (rc == PN_ERR) {
                pn_err_set(g->err, "tls handshake: %s", g->x->err ? g->x->err : "failed");
                greet_finish(g, 0);
                return;
            }
            if (rc != PN_OK)
                break;
        }
        if (g->kind == PN_KIND_CONTROL) {
            greet_finish(g, 1);
            return;
        }
        step_set(&g->s, HELLO_FRAME_LEN);
        g->st = GR_ST_HELLO;
    /* fall through */
    case GR_ST_HELLO: {
        rc = step_io(g->x, &g->s, 0, &why);
        if (rc == PN_AGAIN && hello_prefix_bad(g->s.b, g->s.done)) {
            pn_err_set(g->err, "malformed data hello");
            greet_finish(g, 0);
            return;
        }
        if (rc != PN_OK)
            break;
        pn_frame_t f;
        size_t used;
        if (pn_frame_decode(g->s.b, HELLO_FRAME_LEN, &f, &used, &why) != PN_OK ||
            f.type != PN_FT_DATA_HELLO || f.len != PN_DATA_HELLO_LEN) {
            pn_err_set(g->err, "malformed data hello");
            greet_finish(g, 0);
            return;
        }
        memcpy(g->id, f.payload, PN_CONN_ID_LEN);
        if (!g->o.check(f.payload, f.payload + PN_CONN_ID_LEN, g->ctx)) {
            pn_err_set(g->err, "bad proof");
            greet_finish(g, 0);
            return;
        }
        pn_frame_encode(g->s.b, sizeof(g->s.b), PN_FT_DATA_OK, 0, 0, NULL, 0);
        step_set(&g->s, PN_FRAME_HDR);
        g->st = GR_ST_SEND_OK;
    }
    /* fall through */
    case GR_ST_SEND_OK:
        rc = step_io(g->x, &g->s, 1, &why);
        if (rc != PN_OK)
            break;
        greet_finish(g, 1);
        return;
    }
    if (rc == PN_AGAIN) {
        greet_wait(g);
        return;
    }
    pn_err_set(g->err, "%s", why ? why : "failed");
    greet_finish(g, 0);
}

tun_greet_t *
tun_greet_start(ev_loop_t *loop, pn_xprt_t *x, const tun_greet_opts_t *o, tun_greet_cb cb,
                void *ctx)
{
    tun_greet_t *g = xcalloc(sizeof(*g));
    g->loop = loop;
    g->o = *o;
    g->cb = cb;
    g->ctx = ctx;
    g->fd = -1;
    g->x = x;
    g->st = o->ws != NULL && x->fd != -1 ? GR_ST_SNIFF : GR_ST_PREAMBLE;
    step_set(&g->s, PN_PREAMBLE_LEN);
    g->timer = ev_timer_new(loop, on_greet_timeout, g);
    if (x->fd != -1)
        g->io = ev_io_new(loop, x->fd, on_greet_io, g);
    x->want = EV_RD;
    greet_wait(g);
    ev_timer_arm(g->timer, o->timeout_ms);
    return g;
}
