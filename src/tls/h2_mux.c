/* tls/h2_mux.c: many streams over one HTTP/2 connection (see h2_mux.h).
 * nghttp2 does the framing, HPACK, flow control and the protocol's checks;
 * this file holds the connection: nghttp2's callbacks, the requests' judging,
 * the pump of the socket and the lifetime. The streams are in h2_stream.c. */
#include "tls/h2_mux.h"
#include "core/list.h"
#include "core/log.h"
#include "core/mem.h"
#include "tls/h2.h"
#include "tls/h2_data.h"
#include "tls/h2_priv.h"

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MUX_STAGE (64 * 1024)       /* the socket is read in blocks this large: a 64 KiB
                                     * response in one read, not four */
#define MUX_READS 64                /* blocks read per readiness (then others run) */
#define MUX_OBUF (256 * 1024)       /* obuf's size: frames gathered into one write */

static void mux_pump(pn_h2_mux_t *m, int rd);
static const struct pn_xprt_ops stream_ops;

/* --- streams' lifetime (their I/O is in h2_stream.c) --------------------- */

static pn_h2s_t *
stream_new(pn_h2_mux_t *m)
{
    pn_h2s_t *st = xcalloc(sizeof(*st));
    st->base.ops = &stream_ops;
    st->base.fd = -1;
    st->m = m;
    m->refs++;
    pn_list_add(&m->streams, &st->node);
    m->nstreams++;
    if (m->idle != NULL)
        ev_timer_disarm(m->idle);
    return st;
}

static void
stream_destroy(pn_h2s_t *st)
{
    pn_h2_mux_t *m = st->m;
    free(st->rbuf);
    free(st->wbuf);
    free(st);
    pn_h2_mux_unref(m);
}

static void
h2_stream_free(pn_xprt_t *x)
{
    pn_h2s_t *st = (pn_h2s_t *)x;
    pn_h2_mux_t *m = st->m;
    if (!st->closed && m->inner != NULL) {
        /* Bytes received and not read: their room back to the windows. */
        size_t unread = st->rlen - st->roff;
        if (unread > 0)
            nghttp2_session_consume(m->s, st->sid, unread);
        if (st->wr_eof && st->err == NULL && unread == 0 && !(st->peer_eof && st->eof_sent)) {
            /* Closed as a TCP socket closes with a FIN: its owner shut it for
             * writing and left nothing unread. The bytes written and
             * END_STREAM still leave; the stream is freed once the peer ends
             * it too (or the connection). Should the peer send more, nobody
             * reads it: the stream is reset then (on_data_chunk), as TCP
             * answers data to a closed socket. One freed with bytes unread
             * or after an error is reset below at once (a user's reset after
             * its half-close, a relay cut short). */
            st->owned = 0;
            st->orphan = 1;
            free(st->rbuf);
            st->rbuf = NULL;
            st->rlen = st->roff = st->rcap = 0;
            pn_h2_schedule(m);
            return;
        }
        nghttp2_session_set_stream_user_data(m->s, st->sid, NULL);
        if (!(st->peer_eof && st->eof_sent))
            nghttp2_submit_rst_stream(m->s, NGHTTP2_FLAG_NONE, st->sid, NGHTTP2_CANCEL);
        pn_h2_stream_unlink(st);
        pn_h2_schedule(m);
    }
    stream_destroy(st);
}

static const struct pn_xprt_ops stream_ops = {
    .name = "h2",
    .read = pn_h2_stream_read,
    .write = pn_h2_stream_write,
    .shutdown_wr = pn_h2_stream_shutdown_wr,
    .pending = pn_h2_stream_pending,
    .watch = pn_xprt_wake_watch,
    .ready = pn_h2_stream_ready,
    .peek = pn_h2_stream_peek,
    .free = h2_stream_free,
};


/* A fault ends the connection, said once in the log (rate limited). */
static void
mux_fault(pn_h2_mux_t *m, const char *why)
{
    static pn_ratelim_t lim = { .interval_ms = 1000 };
    uint64_t held;
    if (m->fault != NULL)
        return;
    if (pn_ratelim_pass(&lim, pn_now_ms(), &held))
        log_warn("http/2: closing a connection: %s (%llu more since the last note)", why,
                 (unsigned long long)held);
    m->fault = why;
}





/* --- nghttp2 callbacks ----------------------------------------------------- */


static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    pn_h2_mux_t *m = arg;
    if (!m->server || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    pn_h2s_t *st = stream_new(m);
    st->sid = f->hd.stream_id;
    nghttp2_session_set_stream_user_data(s, st->sid, st);
    return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
          const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
    pn_h2_mux_t *m = arg;
    pn_h2s_t *st = f->hd.type == NGHTTP2_HEADERS ? pn_h2_stream_of(m, f->hd.stream_id) : NULL;
    if (st == NULL)
        return 0;
    if (m->server) {
        /* Judged as they come: an idle stream keeps no copy of its head. */
        if (nlen == 5 && memcmp(name, ":path", 5) == 0)
            st->path_ok = vlen == strlen(m->path) && memcmp(value, m->path, vlen) == 0;
        else if (nlen == 7 && memcmp(name, ":method", 7) == 0)
            st->post = vlen == 4 && memcmp(value, "POST", 4) == 0;
    } else if (nlen == 7 && memcmp(name, ":status", 7) == 0 && st->status == 0) {
        int code = 0;
        for (size_t i = 0; i < vlen && i < 3; i++)
            code = code * 10 + (value[i] - '0');
        st->status = vlen == 3 ? code : 999;
    }
    return 0;
}

static ssize_t
on_read_refusal(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                nghttp2_data_source *src, void *arg)
{
    pn_h2s_t *st = src->ptr;
    size_t left = strlen(st->refusal) - st->refusal_off;
    size_t n = left < len ? left : len;
    memcpy(buf, st->refusal + st->refusal_off, n);
    st->refusal_off += n;
    if (st->refusal_off == strlen(st->refusal))
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }

/* Server: judge a request's head; answer 200 and queue the stream for the
 * callback, or answer a refusal on that stream only. */
static void
judge_request(pn_h2_mux_t *m, pn_h2s_t *st, int ended)
{
    static pn_ratelim_t lim = { .interval_ms = 1000 };
    uint64_t held;
    int status = 200;
    const char *body = NULL;
    if (!st->path_ok) {
        status = 404;
        body = "404 Not Found\n";
    } else if (!st->post) {
        status = 405;
        body = "405 Method Not Allowed: the tunnel takes POST\n";
    } else if (ended) {
        status = 400;
        body = "400 Bad Request: the request ended\n";
    }
    if (body != NULL) {
        char code[4];
        snprintf(code, sizeof(code), "%d", status);
        nghttp2_nv hdrs[] = { NV(":status", code), NV("content-type", "text/plain") };
        nghttp2_data_provider prd = { .source.ptr = st, .read_callback = on_read_refusal };
        st->refusal = body;
        st->err = "refused";
        if (pn_ratelim_pass(&lim, pn_now_ms(), &held))
            log_warn("http/2: refused a stream: %s (answered %d; %llu more since the last note)",
                     status == 404 ? "a request on another path"
                     : status == 405 ? "a request that is not a POST" : "a request without body",
                     status, (unsigned long long)held);
        nghttp2_submit_response(m->s, st->sid, hdrs, 2, &prd);
        return;
    }
    nghttp2_nv hdrs[] = { NV(":status", "200"), NV("content-type", "application/octet-stream") };
    nghttp2_data_provider prd = { .source.ptr = st, .read_callback = pn_h2_on_read_data };
    if (nghttp2_submit_response(m->s, st->sid, hdrs, 2, &prd) != 0) {
        nghttp2_submit_rst_stream(m->s, NGHTTP2_FLAG_NONE, st->sid, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    pn_list_del(&st->node);
    pn_list_add(&m->fresh, &st->node);
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    pn_h2_mux_t *m = arg;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        m->goaway = 1;
        return 0;
    }
    if (f->hd.type == NGHTTP2_RST_STREAM) {
        static pn_ratelim_t lim = { .interval_ms = 1000 };
        uint64_t held;
        if (f->rst_stream.error_code != NGHTTP2_NO_ERROR && pn_h2_stream_of(m, f->hd.stream_id) != NULL &&
            pn_ratelim_pass(&lim, pn_now_ms(), &held))
            log_info("http/2: the peer reset stream %d (error %u): that exchange ends, the "
                     "connection goes on (%llu more since the last note)", f->hd.stream_id,
                     f->rst_stream.error_code, (unsigned long long)held);
        return 0;
    }
    if (f->hd.type == NGHTTP2_WINDOW_UPDATE || f->hd.type == NGHTTP2_SETTINGS) {
        pn_h2_wake_writers(m);     /* writers may go on */
        return 0;
    }
    pn_h2s_t *st = f->hd.stream_id != 0 ? pn_h2_stream_of(m, f->hd.stream_id) : NULL;
    if (st == NULL)
        return 0;
    int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 &&
              (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA);
    if (f->hd.type == NGHTTP2_HEADERS) {
        if (m->server && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
            judge_request(m, st, end);
            return 0;
        }
        if (!m->server && f->headers.cat == NGHTTP2_HCAT_RESPONSE && st->status != 200) {
            st->err = st->status == 404
                    ? "the server answered 404: no tunnel on that path (path=?)"
                    : "the server refused the tunnel's http/2 request";
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->sid, NGHTTP2_CANCEL);
        }
    }
    if (end)
        st->peer_eof = 1;
    pn_xprt_wake(&st->base);
    return 0;
}

static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len,
              void *arg)
{
    pn_h2_mux_t *m = arg;
    pn_h2s_t *st = pn_h2_stream_of(m, sid);
    if (st == NULL || st->err != NULL || st->refusal != NULL || st->orphan ||
        (!m->server && st->status != 200)) {
        nghttp2_session_consume(s, sid, len);   /* nobody reads it */
        if (st != NULL && st->orphan && !st->orphan_rst && len > 0) {
            /* Its owner is gone (h2_stream_free): the peer must stop now. */
            st->orphan_rst = 1;
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, sid, NGHTTP2_CANCEL);
        }
        return 0;
    }
    if (st->roff > 0 && st->roff == st->rlen)
        st->roff = st->rlen = 0;
    if (st->rlen + len > st->rcap) {
        if (st->roff > 0) {
            memmove(st->rbuf, st->rbuf + st->roff, st->rlen - st->roff);
            st->rlen -= st->roff;
            st->roff = 0;
        }
        if (st->rlen + len > st->rcap) {
            size_t cap = st->rcap != 0 ? st->rcap : 1024;
            while (cap < st->rlen + len)
                cap *= 2;
            st->rbuf = xrealloc(st->rbuf, cap);
            st->rcap = cap;
        }
    }
    memcpy(st->rbuf + st->rlen, data, len);
    st->rlen += len;
    pn_xprt_wake(&st->base);
    return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *arg)
{
    pn_h2_mux_t *m = arg;
    pn_h2s_t *st = pn_h2_stream_of(m, sid);
    if (st == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(s, sid, NULL);
    st->closed = 1;
    if (st->err == NULL && !(st->peer_eof && st->eof_sent))
        st->err = code == NGHTTP2_NO_ERROR ? "http/2 stream closed without END_STREAM"
                                           : "http/2 stream reset";
    pn_h2_stream_unlink(st);
    if (!st->owned) {           /* refused, or reset before it was handed out */
        stream_destroy(st);
        return 0;
    }
    pn_xprt_wake(&st->base);
    return 0;
}


/* --- the connection's pump ------------------------------------------------- */

static void
on_inner_ready(pn_xprt_t *x, int ready, void *arg)
{
    mux_pump(arg, 1);
}

/* Say on the inner transport what the mux waits for. */
static void
mux_watch(pn_h2_mux_t *m)
{
    if (m->inner == NULL)
        return;
    int mask = m->fault != NULL ? 0 : EV_RD;
    if (m->olen > m->ooff)
        mask |= m->inner->want != 0 ? m->inner->want : EV_WR;
    pn_xprt_watch(m->inner, m->loop, mask, on_inner_ready, m);
}

/* Room for <n> more bytes at the end of m->obuf. An empty obuf is made at
 * least MUX_OBUF large without a copy of the old (realloc would copy). */
static void
obuf_room(pn_h2_mux_t *m, size_t n)
{
    if (m->olen == 0 && n > m->ocap) {
        free(m->obuf);
        m->ocap = n > MUX_OBUF ? n : MUX_OBUF;
        m->obuf = xmalloc(m->ocap);
    } else if (m->olen + n > m->ocap) {
        size_t cap = m->ocap != 0 ? m->ocap : 16 * 1024;
        while (cap < m->olen + n)
            cap *= 2;
        m->obuf = xrealloc(m->obuf, cap);
        m->ocap = cap;
    }
}

/* nghttp2's send_data callback (NGHTTP2_DATA_FLAG_NO_COPY, h2_stream.c): a
 * DATA frame of a tunnel stream goes from the stream's wbuf straight into
 * obuf (pn_h2_data_put), without a copy into nghttp2's own buffer first.
 * Called from nghttp2_session_mem_send in mux_send, after the frames before
 * it were appended to obuf, so the order stays. */
static int
on_send_data(nghttp2_session *s, nghttp2_frame *f, const uint8_t *hd, size_t len,
             nghttp2_data_source *src, void *arg)
{
    pn_h2_mux_t *m = arg;
    pn_h2s_t *st = pn_h2_stream_of(m, f->hd.stream_id);
    if (st == NULL || st->wlen - st->woff < len)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;     /* that stream is reset */
    int rv = pn_h2_data_put(&m->obuf, &m->olen, &m->ocap, MUX_OBUF, f, hd,
                            st->wbuf + st->woff, len);
    if (rv == 0)
        pn_h2_stream_sent(st, len);
    return rv;
}

/* Put frames on the socket until it would block or nghttp2 has nothing. */
static void
mux_send(pn_h2_mux_t *m)
{
    size_t before = m->olen - m->ooff;
    for (;;) {
        while (m->ooff < m->olen) {
            ssize_t n = m->inner->ops->write(m->inner, m->obuf + m->ooff, m->olen - m->ooff);
            if (n == PN_AGAIN)
                return;
            if (n <= 0) {
                mux_fault(m, m->inner->err != NULL ? m->inner->err : "write failed");
                return;
            }
            m->ooff += (size_t)n;
        }
        m->ooff = m->olen = 0;
        /* Gather frames up to one large write. */
        while (m->olen < MUX_OUT_HIGH) {
            const uint8_t *p;
            ssize_t n = nghttp2_session_mem_send(m->s, &p);
            if (n < 0) {
                mux_fault(m, nghttp2_strerror((int)n));
                return;
            }
            if (n == 0)
                break;
            obuf_room(m, (size_t)n);
            memcpy(m->obuf + m->olen, p, (size_t)n);
            m->olen += (size_t)n;
        }
        if (m->olen == 0) {
            free(m->obuf);                  /* an idle connection holds no buffer */
            m->obuf = NULL;
            m->ocap = 0;
            if (before >= MUX_OUT_HIGH / 2)
                pn_h2_wake_writers(m);         /* writers stopped by a full queue */
            return;
        }
    }
}

/* Hand the streams accepted in this pump to the owner. */
static void
deliver(pn_h2_mux_t *m)
{
    while (!pn_list_empty(&m->fresh) && m->fault == NULL) {
        pn_h2s_t *st = pn_container_of(m->fresh.next, pn_h2s_t, node);
        pn_list_del(&st->node);
        pn_list_add(&m->streams, &st->node);
        st->owned = 1;
        m->cb(&st->base, m->ctx);
    }
}

/* The connection ended: every stream fails (its owner reads the error). */
static void
mux_end(pn_h2_mux_t *m)
{
    while (!pn_list_empty(&m->fresh)) {
        pn_h2s_t *st = pn_container_of(m->fresh.next, pn_h2s_t, node);
        nghttp2_session_set_stream_user_data(m->s, st->sid, NULL);
        pn_h2_stream_unlink(st);
        stream_destroy(st);
    }
    while (!pn_list_empty(&m->streams)) {
        pn_h2s_t *st = pn_container_of(m->streams.next, pn_h2s_t, node);
        nghttp2_session_set_stream_user_data(m->s, st->sid, NULL);
        st->closed = 1;
        if (st->err == NULL)
            st->err = m->fault != NULL ? m->fault : "http/2 connection closed";
        pn_h2_stream_unlink(st);
        if (st->owned)
            pn_xprt_wake(&st->base);
        else
            stream_destroy(st);     /* half-closed, let go by its owner */
    }
    pn_xprt_free(m->inner);
    if (m->idle != NULL)
        ev_timer_disarm(m->idle);
    pn_list_del(&m->set_node);
    pn_list_init(&m->set_node);
    if (m->self_ref) {
        m->self_ref = 0;
        pn_h2_mux_unref(m);     /* may free <m>: the caller holds a reference */
    }
}

/* Read what the socket has when <rd> (else only what the inner transport
 * holds already), feed nghttp2, send what it has. */
static void
mux_pump(pn_h2_mux_t *m, int rd)
{
    uint8_t stage[MUX_STAGE];
    if (m->busy || m->inner == NULL)
        return;
    m->busy = 1;
    m->refs++;                  /* <m> lives through the callbacks */
    if (!rd && m->rd_more)
        rd = 1;
    if (!rd && m->inner->ops->pending(m->inner) > 0)
        rd = 1;                 /* TLS read ahead: no readiness will tell */
    m->rd_more = 0;
    for (int i = 0; m->fault == NULL && rd; i++) {
        if (i == MUX_READS) {
            m->rd_more = 1;
            pn_h2_schedule(m);        /* more may wait (TLS read ahead): after the others */
            break;
        }
        ssize_t n = m->inner->ops->read(m->inner, stage, sizeof(stage));
        if (n == PN_AGAIN)
            break;
        if (n == 0) {
            mux_fault(m, "connection closed by the peer");
            break;
        }
        if (n < 0) {
            mux_fault(m, m->inner->err != NULL ? m->inner->err : "read failed");
            break;
        }
        ssize_t r = nghttp2_session_mem_recv(m->s, stage, (size_t)n);
        if (r == NGHTTP2_ERR_BAD_CLIENT_MAGIC && m->server) {
            static const char page[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                                       "Content-Length: 58\r\nConnection: close\r\n\r\n"
                                       "400 Bad Request: this port speaks HTTP/2 only (h2c or h2)\n";
            (void)m->inner->ops->write(m->inner, page, sizeof(page) - 1);
            mux_fault(m, "not an HTTP/2 connection preface (answered an HTTP/1.1 400)");
        } else if (r < 0) {
            snprintf(m->why, sizeof(m->why), "%s", nghttp2_strerror((int)r));
            mux_fault(m, m->why);
        }
        if (m->inner->drained)
            break;      /* the socket said all it had: no read for EAGAIN (level-triggered) */
    }
    if (m->fault == NULL)
        mux_send(m);
    if (m->fault == NULL && !nghttp2_session_want_read(m->s) &&
        !nghttp2_session_want_write(m->s) && m->olen == m->ooff)
        mux_fault(m, "http/2 connection finished (GOAWAY)");
    m->busy = 0;
    if (m->fault == NULL) {
        mux_watch(m);
        deliver(m);
    } else if (m->inner != NULL) {
        mux_end(m);
    }
    pn_h2_mux_unref(m);
}

static void
on_flush(void *arg)
{
    /* A stream's write or read asked for it: the socket is read only when
     * it said it has bytes (on_inner_ready), not by one more read that finds
     * none after each write. */
    mux_pump(arg, 0);
}

static long
on_idle(ev_timer_t *t, void *arg)
{
    pn_h2_mux_t *m = arg;
    if (m->nstreams == 0 && m->inner != NULL) {
        log_debug("http/2: closing a connection without streams for %d s", PN_H2_IDLE_MS / 1000);
        m->refs++;
        nghttp2_submit_goaway(m->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(m->s),
                              NGHTTP2_NO_ERROR, NULL, 0);
        mux_send(m);
        mux_fault(m, "idle");
        mux_end(m);
        pn_h2_mux_unref(m);
    }
    return EV_TIMER_STOP;
}


/* --- opening --------------------------------------------------------------- */

static pn_h2_mux_t *
mux_new(ev_loop_t *loop, pn_xprt_t *inner, int server)
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
        nghttp2_session_callbacks_set_send_data_callback(cbs, on_send_data);
        nghttp2_option_set_no_auto_window_update(opt, 1);
    }
    pn_h2_mux_t *m = xcalloc(sizeof(*m));
    m->loop = loop;
    m->inner = inner;
    m->server = server;
    m->refs = 1;
    pn_list_init(&m->streams);
    pn_list_init(&m->fresh);
    pn_list_init(&m->set_node);
    int rc = server ? nghttp2_session_server_new2(&m->s, cbs, m, opt)
                    : nghttp2_session_client_new2(&m->s, cbs, m, opt);
    if (rc != 0)
        abort();
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, PN_H2_WINDOW },
        { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, server ? PN_H2_MAX_STREAMS : 0 },
    };
    if (nghttp2_submit_settings(m->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
        nghttp2_session_set_local_window_size(m->s, NGHTTP2_FLAG_NONE, 0, PN_H2_CONN_WINDOW) != 0)
        abort();
    m->flush = ev_defer_new(loop, on_flush, m);
    m->rd_more = 1;                 /* the first pump reads: bytes TLS read ahead */
    ev_defer_schedule(m->flush);    /* the preface, and bytes TLS read ahead */
    return m;
}

/* Make a client connection over <inner> (see h2_mux.h); its preface leaves
 * with the first pump. The caller holds the one reference. */
pn_h2_mux_t *
pn_h2_mux_client(ev_loop_t *loop, pn_xprt_t *inner, const char *path, const char *authority,
                 int https)
{
    pn_h2_mux_t *m = mux_new(loop, inner, 0);
    m->path = xstrdup(path);
    m->authority = xstrdup(authority);
    m->https = https;
    return m;
}

/* End every server connection in <set>: streams failed, sockets closed; a
 * connection whose streams are still held lives on, ended, until they go. */
void
pn_h2_mux_close_all(pn_list_t *set)
{
    while (!pn_list_empty(set)) {
        pn_h2_mux_t *m = pn_container_of(set->next, pn_h2_mux_t, set_node);
        m->refs++;
        mux_fault(m, "shutting down");
        mux_end(m);             /* unlinks <m> */
        pn_h2_mux_unref(m);
    }
}

/* Make a server connection over <inner> that hands its accepted streams to
 * <cb>; it holds its own reference and ends after PN_H2_IDLE_MS without any
 * stream (see h2_mux.h). */
pn_h2_mux_t *
pn_h2_mux_server(ev_loop_t *loop, pn_xprt_t *inner, const char *path, pn_h2_stream_cb cb,
                 void *ctx, pn_list_t *set)
{
    pn_h2_mux_t *m = mux_new(loop, inner, 1);
    m->path = path;
    m->cb = cb;
    m->ctx = ctx;
    m->self_ref = 1;
    m->idle = ev_timer_new(loop, on_idle, m);
    ev_timer_arm(m->idle, PN_H2_IDLE_MS);
    pn_list_add(set, &m->set_node);
    return m;
}

/* Pump <m> now (see h2_mux.h). */
void
pn_h2_mux_pump(pn_h2_mux_t *m)
{
    mux_pump(m, 1);
}

/* Submit a new stream's request on <m> and return the stream (the caller
 * owns it), writable at once; NULL when <m> cannot open streams. */
pn_xprt_t *
pn_h2_mux_open(pn_h2_mux_t *m)
{
    if (!pn_h2_mux_alive(m))
        return NULL;
    nghttp2_nv hdrs[] = {
        NV(":method", "POST"), NV(":scheme", m->https ? "https" : "http"),
        NV(":authority", m->authority), NV(":path", m->path),
        NV("content-type", "application/octet-stream"), NV("user-agent", "postern"),
    };
    pn_h2s_t *st = stream_new(m);
    st->owned = 1;
    nghttp2_data_provider prd = { .source.ptr = st, .read_callback = pn_h2_on_read_data };
    st->sid = nghttp2_submit_request(m->s, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &prd, st);
    if (st->sid < 0) {
        m->goaway = 1;          /* out of stream ids: a new connection is needed */
        pn_h2_stream_unlink(st);
        stream_destroy(st);
        return NULL;
    }
    pn_h2_schedule(m);
    return &st->base;
}
#undef NV

/* The mux of the stream <x>, NULL for any other transport. */
pn_h2_mux_t *
pn_h2_mux_of(const pn_xprt_t *x)
{
    return x != NULL && x->ops == &stream_ops ? ((const pn_h2s_t *)x)->m : NULL;
}

/* 1 while <m> may open streams. */
int
pn_h2_mux_alive(const pn_h2_mux_t *m)
{
    return m != NULL && m->inner != NULL && m->fault == NULL && !m->goaway;
}


/* The socket of <m>'s connection, -1 once closed. */
int
pn_h2_mux_fd(const pn_h2_mux_t *m)
{
    return m->inner != NULL ? m->inner->fd : -1;
}

/* Streams <m> knows now. */
size_t
pn_h2_mux_streams(const pn_h2_mux_t *m)
{
    return m->nstreams;
}

/* One more reference on <m>. */
void
pn_h2_mux_ref(pn_h2_mux_t *m)
{
    m->refs++;
}

/* Drop a reference; the last sends GOAWAY (best effort), closes the socket
 * and frees <m>. NULL is a no-op. */
void
pn_h2_mux_unref(pn_h2_mux_t *m)
{
    if (m == NULL || --m->refs > 0)
        return;
    if (m->inner != NULL) {
        nghttp2_submit_goaway(m->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(m->s),
                              NGHTTP2_NO_ERROR, NULL, 0);
        if (m->fault == NULL)
            mux_send(m);        /* best effort: the socket closes next */
        pn_xprt_free(m->inner);
    }
    pn_list_del(&m->set_node);
    ev_defer_free(m->flush);
    ev_timer_free(m->idle);
    nghttp2_session_del(m->s);
    if (!m->server) {
        free((char *)m->path);
        free(m->authority);
    }
    free(m->obuf);
    free(m);
}

/* Offer ALPN h2 on the client <ssl>: PN_OK or PN_ERR. */
int
pn_h2_alpn_offer(SSL *ssl)
{
    static const unsigned char h2[] = { 2, 'h', '2' };
    return SSL_set_alpn_protos(ssl, h2, sizeof(h2)) == 0 ? PN_OK : PN_ERR;
}

/* 1 when the handshake on <ssl> chose ALPN h2. */
int
pn_h2_alpn_chosen(SSL *ssl)
{
    const unsigned char *p = NULL;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}
