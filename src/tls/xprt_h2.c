/* tls/xprt_h2.c: the HTTP/2 transport (see h2.h). nghttp2 does the framing,
 * HPACK, flow control and the protocol's checks; this file adds the one
 * stream's rules and the accounting of what is buffered ahead of the socket.
 *
 *   read:  inner --> nghttp2_session_mem_recv --on_data_chunk--> rbuf --> caller
 *                                              (consume: WINDOW_UPDATE as read)
 *   write: caller --> wbuf --data provider--> nghttp2_session_mem_send --> obuf --> inner */
#include "tls/h2.h"
#include "core/log.h"
#include "core/mem.h"

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H2_STAGE (16 * 1024)        /* the socket is read in blocks this large */
#define H2_PATH_MAX 256

typedef struct xprt_h2 {
    pn_xprt_t base;                 /* first */
    pn_xprt_t *inner;               /* owned: tcp or tls */
    nghttp2_session *s;             /* owned */
    int server;
    const char *path;               /* borrowed, server: the tunnel's path */
    int32_t sid;                    /* the tunnel's stream, 0 before it exists */
    /* server: the first request's head */
    int32_t req_sid;
    char req_path[H2_PATH_MAX + 1];
    char req_method[8];
    int status;                     /* client: the answer's :status; server: the refusal's */
    const char *refusal;            /* server: the static body of a refusal answered */
    size_t refusal_off;
    /* input: DATA of the stream, not read yet (bounded by the window) */
    uint8_t *rbuf;                  /* owned, NULL when empty */
    size_t rlen, roff, rcap;
    /* output: the caller's bytes given to nghttp2, and frames not on the socket */
    uint8_t *wbuf;                  /* owned, NULL when empty */
    size_t wlen, woff;
    size_t wpend;                   /* bytes of the last write accepted, not yet reported */
    uint8_t *obuf;                  /* owned */
    size_t olen, ooff, ocap;
    unsigned head_done : 1, accepted : 1, peer_eof : 1, closed : 1, wr_eof : 1, eof_sent : 1,
             inner_eof : 1, end_told : 1, deferred : 1, wr_blocked : 1, kick_due : 1;
    /* A write waiting for WINDOW_UPDATE (wr_blocked) while a read takes the
     * frames off the socket would wait on a socket that stays quiet: the read
     * then calls the subscriber back through <kick>, from a deferred event.
     * The call is owed (kick_due) until a subscriber gets it: a read before
     * the first watch (the relay's first step on a connection handed over
     * without ever being watched) or while nobody watches does not lose it. */
    ev_defer_t *kick;               /* owned, made on the first watch */
    ev_loop_t *kick_loop;
    const char *fault;              /* the connection is done */
    char why[96];                   /* a fault's text when it carries a number */
} xprt_h2_t;

static const struct pn_xprt_ops h2_ops;

/* The deferred call back of a write that a read unblocked (see wr_blocked). */
static void
on_kick(void *arg)
{
    pn_xprt_t *x = arg;
    xprt_h2_t *h = arg;
    if (x->sub.cb != NULL && x->sub.mask != 0) {
        h->kick_due = 0;
        x->sub.cb(x, x->sub.mask, x->sub.arg);      /* may free <x> */
    }
}

/* After input was taken in: a blocked write may go on now. */
static void
kick_writer(xprt_h2_t *h)
{
    if (!h->wr_blocked)
        return;
    h->wr_blocked = 0;
    h->kick_due = 1;
    if (h->kick != NULL)
        ev_defer_schedule(h->kick);
}

/* ops->watch: the socket, and the kick on the subscriber's loop (a kick
 * owed, or one scheduled on a loop given up, is made again there). */
static void
h2_watch(pn_xprt_t *x)
{
    xprt_h2_t *h = (xprt_h2_t *)x;
    if (h->kick_loop != x->sub.loop) {
        ev_defer_free(h->kick);
        h->kick_loop = x->sub.loop;
        if (h->kick_loop != NULL)
            h->kick = ev_defer_new(h->kick_loop, on_kick, x);
    }
    if (h->kick_due && h->kick != NULL && x->sub.mask != 0)
        ev_defer_schedule(h->kick);
    pn_xprt_fd_watch(x);
}

/* A fault ends the connection, said once in the log (rate limited). */
static int
h2_fault(xprt_h2_t *h, const char *why)
{
    static pn_ratelim_t lim = { .interval_ms = 1000 };
    uint64_t held;
    if (h->fault == NULL && pn_ratelim_pass(&lim, pn_now_ms(), &held))
        log_warn("http/2: closing a connection: %s (%llu more since the last note)", why,
                 (unsigned long long)held);
    if (h->fault == NULL)
        h->fault = why;
    h->base.err = h->fault;
    return PN_ERR;
}

/* --- nghttp2 callbacks ----------------------------------------------------- */

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    xprt_h2_t *h = arg;
    if (!h->server || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (h->req_sid == 0)
        h->req_sid = f->hd.stream_id;
    else
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
    return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
          const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
    xprt_h2_t *h = arg;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (h->server && f->hd.stream_id == h->req_sid && !h->head_done) {
        if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
            if (vlen > H2_PATH_MAX)
                vlen = H2_PATH_MAX;     /* longer than any path= : cannot match */
            memcpy(h->req_path, value, vlen);
            h->req_path[vlen] = '\0';
            if (memchr(value, '\0', vlen) != NULL)
                h->req_path[0] = '\0';
        } else if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
            size_t n = vlen < sizeof(h->req_method) - 1 ? vlen : sizeof(h->req_method) - 1;
            memcpy(h->req_method, value, n);
            h->req_method[n] = '\0';
        }
    } else if (!h->server && f->hd.stream_id == h->sid && nlen == 7 &&
               memcmp(name, ":status", 7) == 0 && h->status == 0) {
        int st = 0;
        for (size_t i = 0; i < vlen && i < 3; i++)
            st = st * 10 + (value[i] - '0');
        h->status = vlen == 3 ? st : 999;
    }
    return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    xprt_h2_t *h = arg;
    int32_t mine = h->server && !h->accepted ? h->req_sid : h->sid;
    if (f->hd.stream_id == 0 || f->hd.stream_id != mine)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS) {
        if (h->server && !h->head_done)
            h->head_done = 1;
        else if (!h->server && f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
            if (h->status == 404) {
                h2_fault(h, "the server answered 404: no tunnel on that path (path=?)");
            } else if (h->status != 200) {
                snprintf(h->why, sizeof(h->why), "the server answered %d to the tunnel's request",
                         h->status);
                h2_fault(h, h->why);
            }
        }
    }
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        h->peer_eof = 1;
    return 0;
}

static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
              void *arg)
{
    xprt_h2_t *h = arg;
    int32_t mine = h->server && !h->accepted ? h->req_sid : h->sid;
    if (sid != mine || (!h->server && h->status != 200)) {
        nghttp2_session_consume(s, sid, len);   /* not the tunnel's: a refusal's page */
        return 0;
    }
    if (h->roff > 0 && h->roff == h->rlen)
        h->roff = h->rlen = 0;
    if (h->rlen + len > h->rcap) {
        if (h->roff > 0) {
            memmove(h->rbuf, h->rbuf + h->roff, h->rlen - h->roff);
            h->rlen -= h->roff;
            h->roff = 0;
        }
        if (h->rlen + len > h->rcap) {
            size_t cap = h->rcap ? h->rcap : 16 * 1024;
            while (cap < h->rlen + len)
                cap *= 2;
            h->rbuf = xrealloc(h->rbuf, cap);
            h->rcap = cap;
        }
    }
    memcpy(h->rbuf + h->rlen, data, len);
    h->rlen += len;
    return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *arg)
{
    xprt_h2_t *h = arg;
    int32_t mine = h->server && !h->accepted ? h->req_sid : h->sid;
    if (sid != mine || sid == 0)
        return 0;
    h->closed = 1;
    if (code != NGHTTP2_NO_ERROR && !(h->peer_eof && h->eof_sent)) {
        snprintf(h->why, sizeof(h->why), "http/2 stream reset (%s)", nghttp2_http2_strerror(code));
        h2_fault(h, h->why);
    }
    return 0;
}

/* The tunnel stream's body: the caller's bytes, then END_STREAM once shut. */
static ssize_t
on_read_data(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
             nghttp2_data_source *src, void *arg)
{
    xprt_h2_t *h = arg;
    if (h->woff < h->wlen) {
        size_t n = h->wlen - h->woff < len ? h->wlen - h->woff : len;
        memcpy(buf, h->wbuf + h->woff, n);
        h->woff += n;
        if (h->woff == h->wlen)
            h->woff = h->wlen = 0;
        return (ssize_t)n;
    }
    if (h->wr_eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        h->eof_sent = 1;
        return 0;
    }
    h->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
}

/* A refusal's short text body. */
static ssize_t
on_read_refusal(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                nghttp2_data_source *src, void *arg)
{
    xprt_h2_t *h = arg;
    size_t left = strlen(h->refusal) - h->refusal_off;
    size_t n = left < len ? left : len;
    memcpy(buf, h->refusal + h->refusal_off, n);
    h->refusal_off += n;
    if (h->refusal_off == strlen(h->refusal))
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* --- moving bytes ---------------------------------------------------------- */

/* Put nghttp2's output on the socket: PN_OK when all went, PN_AGAIN (want
 * set), PN_ERR (a fault). Frames go through obuf, so that a retried write
 * passes the inner transport the same bytes. */
static int
flush_out(xprt_h2_t *h)
{
    pn_xprt_t *x = &h->base;
    for (;;) {
        while (h->ooff < h->olen) {
            ssize_t n = h->inner->ops->write(h->inner, h->obuf + h->ooff, h->olen - h->ooff);
            if (n == PN_AGAIN) {
                x->want = h->inner->want;
                return PN_AGAIN;
            }
            if (n <= 0)
                return h2_fault(h, h->inner->err != NULL ? h->inner->err : "write failed");
            h->ooff += (size_t)n;
        }
        h->ooff = h->olen = 0;
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(h->s, &p);
        if (n < 0)
            return h2_fault(h, nghttp2_strerror((int)n));
        if (n == 0)     /* a stream reset we sent ends it too (on_stream_close) */
            return h->fault != NULL ? PN_ERR : PN_OK;
        if ((size_t)n > h->ocap) {
            h->obuf = xrealloc(h->obuf, (size_t)n);
            h->ocap = (size_t)n;
        }
        memcpy(h->obuf, p, (size_t)n);
        h->olen = (size_t)n;
    }
}

/* Read the socket into nghttp2 until it would block or ended; a reader
 * (<all> 0) stops as soon as DATA of the stream waits or the stream ended, a
 * writer waiting for WINDOW_UPDATE (<all> 1) reads on (what rbuf takes is
 * bounded by the window). Then flush what nghttp2 has to say. PN_OK
 * (something to report), PN_AGAIN (want set: socket readability, and
 * writability when output waits), PN_ERR (a fault). */
static int
pump_in(xprt_h2_t *h, int all)
{
    pn_xprt_t *x = &h->base;
    uint8_t stage[H2_STAGE];
    int rd_want = 0;
    for (;;) {
        if (h->fault != NULL)
            return PN_ERR;
        if (h->inner_eof)
            break;
        if (!all && (h->rlen > h->roff || h->peer_eof || h->closed ||
                     (h->server && !h->accepted && h->head_done)))
            break;
        ssize_t n = h->inner->ops->read(h->inner, stage, sizeof(stage));
        if (n == PN_AGAIN) {
            rd_want = h->inner->want;
            break;
        }
        if (n == 0) {
            h->inner_eof = 1;
            break;
        }
        if (n < 0)
            return h2_fault(h, h->inner->err != NULL ? h->inner->err : "read failed");
        ssize_t r = nghttp2_session_mem_recv(h->s, stage, (size_t)n);
        if (r == NGHTTP2_ERR_BAD_CLIENT_MAGIC && h->server) {
            static const char page[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                                       "Content-Length: 58\r\nConnection: close\r\n\r\n"
                                       "400 Bad Request: this port speaks HTTP/2 only (h2c or h2)\n";
            (void)h->inner->ops->write(h->inner, page, sizeof(page) - 1);
            return h2_fault(h, "not an HTTP/2 connection preface (answered an HTTP/1.1 400)");
        }
        if (r < 0)
            return h2_fault(h, nghttp2_strerror((int)r));
        if (!all)
            kick_writer(h);
    }
    int rc = flush_out(h);
    if (rc == PN_ERR)
        return PN_ERR;
    if (rd_want != 0 && (all || (h->rlen == h->roff && !h->peer_eof && !h->closed))) {
        x->want = rd_want | (rc == PN_AGAIN ? x->want : 0);
        return PN_AGAIN;
    }
    return PN_OK;
}

/* Hand out decoded bytes and give the window back for them. */
static ssize_t
serve(xprt_h2_t *h, void *buf, size_t len)
{
    size_t n = h->rlen - h->roff < len ? h->rlen - h->roff : len;
    memcpy(buf, h->rbuf + h->roff, n);
    h->roff += n;
    if (h->roff == h->rlen) {
        h->roff = h->rlen = 0;
        if (h->rcap > 64 * 1024) {      /* idle connections hold no large buffer */
            free(h->rbuf);
            h->rbuf = NULL;
            h->rcap = 0;
        }
    }
    nghttp2_session_consume(h->s, h->sid, n);
    (void)flush_out(h);                 /* WINDOW_UPDATE; PN_AGAIN: with the next call */
    return (ssize_t)n;
}

/* What the end of the stream reads as: 0 after END_STREAM, else an error. */
static ssize_t
read_end(xprt_h2_t *h)
{
    h->end_told = 1;
    if (h->fault != NULL) {
        h->base.err = h->fault;
        return PN_ERR;
    }
    if (h->peer_eof)
        return 0;
    h->base.err = h->closed ? "http/2 stream closed without END_STREAM"
                            : "connection closed inside an http/2 stream";
    return PN_ERR;
}

static ssize_t
h2_read(pn_xprt_t *x, void *buf, size_t len)
{
    xprt_h2_t *h = (xprt_h2_t *)x;
    if (h->rlen > h->roff)
        return serve(h, buf, len);
    if (h->fault == NULL && !h->peer_eof && !h->closed && !h->inner_eof) {
        int rc = pump_in(h, 0);
        if (rc == PN_AGAIN)
            return PN_AGAIN;
        if (h->rlen > h->roff)
            return serve(h, buf, len);
    }
    return read_end(h);
}

/* What the peer lets us send now on the stream. */
static int32_t
send_window(xprt_h2_t *h)
{
    int32_t win = nghttp2_session_get_stream_remote_window_size(h->s, h->sid);
    int32_t cwin = nghttp2_session_get_remote_window_size(h->s);
    return cwin < win ? cwin : win;
}

static ssize_t
h2_write(pn_xprt_t *x, const void *buf, size_t len)
{
    xprt_h2_t *h = (xprt_h2_t *)x;
    if (h->fault != NULL) {
        x->err = h->fault;
        return PN_ERR;
    }
    if (h->wr_eof || h->closed) {
        x->err = h->wr_eof ? "http/2: write after shutdown" : "http/2 stream closed";
        return PN_ERR;
    }
    if (len == 0)
        return 0;
    int rc = flush_out(h);
    if (rc != PN_OK)
        return rc;
    if (h->wpend > 0) {
        if (h->wlen > h->woff) {        /* nghttp2 still holds some: the window shut */
            if ((rc = pump_in(h, 1)) == PN_ERR)
                return PN_ERR;
            if ((rc = flush_out(h)) != PN_OK)
                return rc;
            if (h->wlen > h->woff) {
                x->want = EV_RD;
                h->wr_blocked = 1;
                return PN_AGAIN;
            }
        }
        size_t n = h->wpend < len ? h->wpend : len;
        h->wpend = 0;
        return (ssize_t)n;
    }
    int32_t win = send_window(h);
    if (win <= 0) {
        /* Wait for WINDOW_UPDATE: read (DATA read on the way waits in rbuf,
         * pending() tells the reader), then look again. */
        if (pump_in(h, 1) == PN_ERR)
            return PN_ERR;
        win = send_window(h);
        if (win <= 0) {
            /* and writability while frames (a WINDOW_UPDATE, an ACK) wait */
            x->want = EV_RD | (h->olen > h->ooff ? h->inner->want : 0);
            h->wr_blocked = 1;
            return PN_AGAIN;
        }
    }
    size_t k = len < (size_t)win ? len : (size_t)win;
    if (k > PN_H2_CHUNK)
        k = PN_H2_CHUNK;
    if (h->wbuf == NULL)
        h->wbuf = xmalloc(PN_H2_CHUNK);
    memcpy(h->wbuf, buf, k);
    h->wlen = k;
    h->woff = 0;
    if (h->deferred) {
        h->deferred = 0;
        nghttp2_session_resume_data(h->s, h->sid);
    }
    rc = flush_out(h);
    if (rc == PN_OK && h->wlen == 0)
        return (ssize_t)k;
    if (rc == PN_ERR)
        return PN_ERR;
    h->wpend = k;
    if (rc == PN_OK) {
        x->want = EV_RD;                /* the window shut under us */
        h->wr_blocked = 1;
    }
    return PN_AGAIN;
}

/* Half-close: END_STREAM, the stream left open for the peer's rest. */
static int
h2_shutdown_wr(pn_xprt_t *x)
{
    xprt_h2_t *h = (xprt_h2_t *)x;
    if (h->fault != NULL) {
        x->err = h->fault;
        return PN_ERR;
    }
    if (h->eof_sent && h->olen == h->ooff)
        return PN_OK;
    if (h->wlen > h->woff || h->wpend > 0) {
        x->err = "http/2: shutdown inside a write";
        return PN_ERR;
    }
    if (h->closed && !h->eof_sent) {
        x->err = "http/2 stream closed";
        return PN_ERR;
    }
    h->wr_eof = 1;
    if (h->deferred) {
        h->deferred = 0;
        nghttp2_session_resume_data(h->s, h->sid);
    }
    int rc = flush_out(h);
    if (rc != PN_OK)
        return rc;
    if (!h->eof_sent && !h->closed) {
        x->want = EV_WR;
        return PN_AGAIN;
    }
    return PN_OK;
}

static size_t
h2_pending(pn_xprt_t *x)
{
    xprt_h2_t *h = (xprt_h2_t *)x;
    size_t ended = !h->end_told && (h->fault != NULL || h->peer_eof || h->closed || h->inner_eof);
    return (h->rlen - h->roff) + ended + h->inner->ops->pending(h->inner);
}

static int
h2_peek(pn_xprt_t *x)
{
    xprt_h2_t *h = (xprt_h2_t *)x;
    if (h->rlen == h->roff && h->fault == NULL && !h->peer_eof && !h->closed && !h->inner_eof)
        (void)pump_in(h, 1);
    if (h->rlen > h->roff)
        return 1;
    if (h->fault != NULL || h->peer_eof || h->closed || h->inner_eof)
        return 0;
    return PN_AGAIN;
}

static void
h2_free(pn_xprt_t *x)
{
    xprt_h2_t *h = (xprt_h2_t *)x;
    ev_defer_free(h->kick);
    nghttp2_session_del(h->s);
    pn_xprt_free(h->inner);
    free(h->rbuf);
    free(h->wbuf);
    free(h->obuf);
    free(h);
}

static const struct pn_xprt_ops h2_ops = {
    .name = "h2",
    .read = h2_read,
    .write = h2_write,
    .shutdown_wr = h2_shutdown_wr,
    .pending = h2_pending,
    .watch = h2_watch,
    .peek = h2_peek,
    .free = h2_free,
};

/* --- opening --------------------------------------------------------------- */

static xprt_h2_t *
h2_new(pn_xprt_t *inner, int server)
{
    static nghttp2_session_callbacks *cbs;
    static nghttp2_option *opt;
    if (cbs == NULL) {
        if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0)
            abort();
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        nghttp2_option_set_no_auto_window_update(opt, 1);
    }
    xprt_h2_t *h = xcalloc(sizeof(*h));
    h->base.ops = &h2_ops;
    h->base.fd = inner->fd;             /* borrowed from <inner>, which closes it */
    h->inner = inner;
    h->server = server;
    int rc = server ? nghttp2_session_server_new2(&h->s, cbs, h, opt)
                    : nghttp2_session_client_new2(&h->s, cbs, h, opt);
    if (rc != 0)
        abort();
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, PN_H2_WINDOW },
        { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, server ? 4 : 1 },
    };
    if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
        nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, PN_H2_WINDOW) != 0)
        abort();
    return h;
}

pn_xprt_t *
pn_h2_xprt_client(pn_xprt_t *inner, const char *path, const char *authority, int https)
{
    xprt_h2_t *h = h2_new(inner, 0);
#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }
    nghttp2_nv hdrs[] = {
        NV(":method", "POST"), NV(":scheme", https ? "https" : "http"),
        NV(":authority", authority), NV(":path", path),
        NV("content-type", "application/octet-stream"), NV("user-agent", "postern"),
    };
    nghttp2_data_provider prd = { .read_callback = on_read_data };
    h->sid = nghttp2_submit_request(h->s, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &prd, NULL);
    if (h->sid < 0)
        abort();
    h->accepted = 1;
    return &h->base;
}

pn_xprt_t *
pn_h2_xprt_server(pn_xprt_t *inner, const char *path)
{
    xprt_h2_t *h = h2_new(inner, 1);
    h->path = path;
    return &h->base;
}

/* Answer the first request <status> with a short text body, then GOAWAY. */
static int
refuse(xprt_h2_t *h, int status, const char *body, const char *why)
{
    char st[4];
    snprintf(st, sizeof(st), "%d", status);
    nghttp2_nv hdrs[] = { NV(":status", st), NV("content-type", "text/plain") };
    nghttp2_data_provider prd = { .read_callback = on_read_refusal };
    h->refusal = body;
    nghttp2_submit_response(h->s, h->req_sid, hdrs, 2, &prd);
    nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, h->req_sid, NGHTTP2_NO_ERROR, NULL, 0);
    (void)flush_out(h);
    snprintf(h->why, sizeof(h->why), "http/2: %s (answered %d)", why, status);
    h->fault = h->why;
    h->base.err = h->fault;
    return PN_ERR;
#undef NV
}

int
pn_h2_xprt_accept(pn_xprt_t *x)
{
    xprt_h2_t *h = (xprt_h2_t *)x;
    if (h->accepted)
        return flush_out(h);
    while (!h->head_done) {
        int rc = pump_in(h, 0);
        if (h->head_done)
            break;
        if (rc != PN_OK)
            return rc;
        if (h->inner_eof || h->closed || h->peer_eof) {
            x->err = "connection closed before the http/2 request";
            return PN_ERR;
        }
    }
    if (h->fault != NULL)
        return PN_ERR;
    if (h->closed) {
        x->err = "http/2 request stream closed before it was answered";
        return PN_ERR;
    }
    if (strcmp(h->req_path, h->path) != 0)
        return refuse(h, 404, "404 Not Found\n", "a request on another path");
    if (strcmp(h->req_method, "POST") != 0)
        return refuse(h, 405, "405 Method Not Allowed: the tunnel takes POST\n",
                      "a request that is not a POST");
    if (h->peer_eof)
        return refuse(h, 400, "400 Bad Request: the request ended\n", "a request without body");
    nghttp2_nv hdrs[] = {
        { (uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE },
        { (uint8_t *)"content-type", (uint8_t *)"application/octet-stream", 12, 24,
          NGHTTP2_NV_FLAG_NONE },
    };
    nghttp2_data_provider prd = { .read_callback = on_read_data };
    if (nghttp2_submit_response(h->s, h->req_sid, hdrs, 2, &prd) != 0)
        return h2_fault(h, "cannot answer the http/2 request");
    h->sid = h->req_sid;
    h->accepted = 1;
    return flush_out(h);
}

int
pn_h2_xprt_is(const pn_xprt_t *x)
{
    return x != NULL && x->ops == &h2_ops;
}

int
pn_h2_alpn_offer(SSL *ssl)
{
    static const unsigned char h2[] = { 2, 'h', '2' };
    return SSL_set_alpn_protos(ssl, h2, sizeof(h2)) == 0 ? PN_OK : PN_ERR;
}

int
pn_h2_alpn_chosen(SSL *ssl)
{
    const unsigned char *p = NULL;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}
