/* tls/h2_stream.c: one stream of a multiplexed HTTP/2 connection as a
 * transport (see h2_mux.h): its bytes in and out of its own buffers, its
 * readiness computed from them and from the flow-control windows. */
#include "core/mem.h"
#include "tls/h2.h"
#include "tls/h2_priv.h"

#include <stdlib.h>
#include <string.h>

/* Wake every stream of <m> whose subscriber waits to write (a window or the
 * output queue opened). Calls no callback: the wakes are deferred. */
void
pn_h2_wake_writers(pn_h2_mux_t *m)
{
    pn_list_t *n;
    for (n = m->streams.next; n != &m->streams; n = n->next) {
        pn_xprt_t *x = &pn_container_of(n, pn_h2s_t, node)->base;
        if (x->sub.mask & EV_WR)
            pn_xprt_wake(x);
    }
}

/* Forget <st> on the mux side (its owner may still hold the transport). */
void
pn_h2_stream_unlink(pn_h2s_t *st)
{
    pn_list_del(&st->node);
    pn_list_init(&st->node);
    st->m->nstreams--;
    if (st->m->nstreams == 0 && st->m->idle != NULL && st->m->fault == NULL)
        ev_timer_arm(st->m->idle, PN_H2_IDLE_MS);
}

/* DATA of a stream: what its writer left in wbuf; deferred while empty. */
ssize_t
pn_h2_on_read_data(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                   nghttp2_data_source *src, void *arg)
{
    pn_h2s_t *st = pn_h2_stream_of(arg, sid);
    if (st == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t left = st->wlen - st->woff;
    if (left == 0) {
        if (st->wr_eof) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            st->eof_sent = 1;
            return 0;
        }
        st->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    size_t n = left < len ? left : len;
    /* The bytes go with the frame, by on_send_data (h2_mux.c, pn_h2_data_put)
     * from wbuf into the output: no copy into nghttp2's buffer. */
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == left && st->wr_eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        st->eof_sent = 1;
    }
    return (ssize_t)n;
}

/* <n> bytes of wbuf went out in a DATA frame (on_send_data). */
void
pn_h2_stream_sent(pn_h2s_t *st, size_t n)
{
    st->woff += n;
    if (st->woff == st->wlen) {
        st->woff = st->wlen = 0;
        free(st->wbuf);             /* an idle stream holds no buffer */
        st->wbuf = NULL;
        pn_xprt_wake(&st->base);    /* room again */
    }
}

/* --- the stream transport -------------------------------------------------- */

/* What the peer lets this stream send now, 0 while frames queue up. */
static int32_t
h2_send_room(pn_h2s_t *st)
{
    pn_h2_mux_t *m = st->m;
    if (m->olen - m->ooff >= MUX_OUT_HIGH)
        return 0;
    int32_t win = nghttp2_session_get_stream_remote_window_size(m->s, st->sid);
    if (win < 0)    /* HEADERS not sent yet: the stream starts with the peer's initial window */
        win = (int32_t)nghttp2_session_get_remote_settings(m->s,
                                                           NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE);
    int32_t cwin = nghttp2_session_get_remote_window_size(m->s);
    return cwin < win ? cwin : win;
}

/* ops->read: bytes of the stream's DATA in order, 0 after the peer's
 * END_STREAM, PN_ERR once reset or its connection ended; consuming gives the
 * window back (WINDOW_UPDATE from the next pump). */
ssize_t
pn_h2_stream_read(pn_xprt_t *x, void *buf, size_t len)
{
    pn_h2s_t *st = (pn_h2s_t *)x;
    if (st->rlen > st->roff) {
        size_t n = st->rlen - st->roff < len ? st->rlen - st->roff : len;
        memcpy(buf, st->rbuf + st->roff, n);
        st->roff += n;
        if (st->roff == st->rlen) {
            st->roff = st->rlen = 0;
            free(st->rbuf);         /* an idle stream holds no buffer */
            st->rbuf = NULL;
            st->rcap = 0;
        }
        if (!st->closed && st->m->inner != NULL) {
            nghttp2_session_consume(st->m->s, st->sid, n);     /* WINDOW_UPDATE in time */
            pn_h2_schedule(st->m);
        }
        return (ssize_t)n;
    }
    if (st->peer_eof) {
        st->end_told = 1;
        return 0;
    }
    if (st->err != NULL || st->closed) {
        st->end_told = 1;
        x->err = st->err != NULL ? st->err : "http/2 stream closed";
        return PN_ERR;
    }
    x->want = EV_RD;
    return PN_AGAIN;
}

/* ops->write: copy up to PN_H2_CHUNK bytes (and no more than the send
 * windows allow) for nghttp2 and ask for a pump; PN_AGAIN while the last
 * write is not taken yet, the windows are shut or the output queue is full. */
ssize_t
pn_h2_stream_write(pn_xprt_t *x, const void *buf, size_t len)
{
    pn_h2s_t *st = (pn_h2s_t *)x;
    if (st->err != NULL || st->closed || st->wr_eof) {
        x->err = st->wr_eof ? "http/2: write after shutdown"
                            : st->err != NULL ? st->err : "http/2 stream closed";
        return PN_ERR;
    }
    if (len == 0)
        return 0;
    int32_t room = st->wlen > st->woff ? 0 : h2_send_room(st);
    if (room <= 0) {
        x->want = EV_WR;
        return PN_AGAIN;
    }
    size_t k = len < (size_t)room ? len : (size_t)room;
    if (k > PN_H2_CHUNK)
        k = PN_H2_CHUNK;
    st->wbuf = xmalloc(k);          /* freed once nghttp2 took it all */
    memcpy(st->wbuf, buf, k);
    st->wlen = k;
    st->woff = 0;
    if (st->deferred) {
        st->deferred = 0;
        nghttp2_session_resume_data(st->m->s, st->sid);
    }
    pn_h2_schedule(st->m);
    return (ssize_t)k;
}

/* ops->shutdown_wr, a half-close: END_STREAM after what was written (it
 * leaves with the next pump); the stream stays open for the peer's rest. */
int
pn_h2_stream_shutdown_wr(pn_xprt_t *x)
{
    pn_h2s_t *st = (pn_h2s_t *)x;
    if (st->eof_sent)
        return PN_OK;
    if (st->err != NULL || st->closed) {
        x->err = st->err != NULL ? st->err : "http/2 stream closed";
        return PN_ERR;
    }
    if (!st->wr_eof) {
        st->wr_eof = 1;
        if (st->deferred) {
            st->deferred = 0;
            nghttp2_session_resume_data(st->m->s, st->sid);
        }
        pn_h2_schedule(st->m);
    }
    return PN_OK;       /* END_STREAM leaves with the next pump, after the bytes */
}

/* ops->pending: nothing a readiness would not tell. */
size_t
pn_h2_stream_pending(pn_xprt_t *x)
{
    return 0;           /* readiness is computed (stream_ready) */
}

/* ops->ready: EV_RD with bytes, an end or an error; EV_WR with room. */
int
pn_h2_stream_ready(pn_xprt_t *x)
{
    pn_h2s_t *st = (pn_h2s_t *)x;
    int r = 0;
    if (st->rlen > st->roff || st->peer_eof || st->err != NULL || st->closed)
        r |= EV_RD;
    if (st->err != NULL || st->closed || st->wr_eof ||
        (st->wlen == st->woff && h2_send_room(st) > 0))
        r |= EV_WR;
    return r;
}

/* ops->peek: 1 bytes wait, 0 ended or failed, PN_AGAIN neither. */
int
pn_h2_stream_peek(pn_xprt_t *x)
{
    pn_h2s_t *st = (pn_h2s_t *)x;
    if (st->rlen > st->roff)
        return 1;
    if (st->peer_eof || st->err != NULL || st->closed)
        return 0;
    return PN_AGAIN;
}

