/* tls/quic_stream.c: one bidirectional stream of a QUIC connection as a
 * pn_xprt_t (see quic.h). Written bytes stay in chunks until the peer
 * acknowledges them (ngtcp2 sends them again from there when a packet is
 * lost), so a chunk never moves; read bytes wait in chunks too, bounded by
 * the flow-control window that is given back as the owner reads. A chunk
 * done with goes back to the connection's few spares (no allocation per
 * chunk on a busy connection; a drained stream holds none). */
#include "core/mem.h"
#include "tls/quic_priv.h"

#include <stdlib.h>
#include <string.h>

qchunk_t *
pn_quic_chunk_new(pn_quic_conn_t *q)
{
    qchunk_t *c = q->spare;
    if (c != NULL) {
        q->spare = c->next;
        q->nspare--;
    } else {
        c = xmalloc(sizeof(*c));
    }
    c->next = NULL;
    c->len = 0;
    return c;
}

void
pn_quic_chunk_put(pn_quic_conn_t *q, qchunk_t *c)
{
    if (q->nspare >= QUIC_CHUNKS_KEEP) {
        free(c);
        return;
    }
    c->next = q->spare;
    q->spare = c;
    q->nspare++;
}

void
pn_quic_chunks_drain(pn_quic_conn_t *q)
{
    while (q->spare != NULL) {
        qchunk_t *c = q->spare;
        q->spare = c->next;
        free(c);
    }
    q->nspare = 0;
}

void
pn_quic_stream_rclear(pn_quics_t *st)
{
    while (st->rhead != NULL) {
        qchunk_t *c = st->rhead;
        st->rhead = c->next;
        pn_quic_chunk_put(st->q, c);
    }
    st->rtail = NULL;
    st->roff = st->rlen = 0;
}

void
pn_quic_stream_clear(pn_quics_t *st)
{
    pn_quic_stream_rclear(st);
    pn_quic_dgq_clear(&st->dgr);
    pn_quic_dgq_clear(&st->dgs);
    pn_list_del(&st->dsq);
    while (st->head != NULL) {
        qchunk_t *c = st->head;
        st->head = c->next;
        pn_quic_chunk_put(st->q, c);
    }
    st->tail = st->sc = NULL;
    st->held = st->unsent = st->ackoff = st->soff = 0;
}

/* Append <len> bytes of <data> to the chunks from <*head> to <*tail> (of a
 * stream of <q>), in new chunks where the tail is full. */
static void
chunks_append(pn_quic_conn_t *q, qchunk_t **head, qchunk_t **tail, const uint8_t *data,
              size_t len)
{
    while (len > 0) {
        if (*tail == NULL || (*tail)->len == QUIC_CHUNK) {
            qchunk_t *c = pn_quic_chunk_new(q);
            if (*tail != NULL)
                (*tail)->next = c;
            else
                *head = c;
            *tail = c;
        }
        qchunk_t *t = *tail;
        size_t k = QUIC_CHUNK - t->len < len ? QUIC_CHUNK - t->len : len;
        memcpy(t->b + t->len, data, k);
        t->len += k;
        data += k;
        len -= k;
    }
}

/* Take up to <len> bytes not read yet of <st> into <buf>: how many. Each
 * chunk read whole goes back to the connection's spares. */
static size_t
rq_take(pn_quics_t *st, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len && st->rhead != NULL) {
        qchunk_t *c = st->rhead;
        size_t k = c->len - st->roff < len - done ? c->len - st->roff : len - done;
        memcpy(buf + done, c->b + st->roff, k);
        st->roff += k;
        done += k;
        if (st->roff == c->len) {
            st->rhead = c->next;
            if (st->rtail == c)
                st->rtail = NULL;
            st->roff = 0;
            pn_quic_chunk_put(st->q, c);
        }
    }
    st->rlen -= done;
    return done;
}

void
pn_quic_sendq_add(pn_quics_t *st)
{
    if (pn_list_empty(&st->sq) && st->sid >= 0 && !st->blocked && !st->closed &&
        (st->unsent > 0 || (st->wr_eof && !st->fin_sent)))
        pn_list_add(&st->q->sendq, &st->sq);
}

void
pn_quic_sendq_del(pn_quics_t *st)
{
    pn_list_del(&st->sq);
}

size_t
pn_quic_stream_vec(pn_quics_t *st, ngtcp2_vec *v, size_t n, size_t enough)
{
    size_t k = 0, total = 0;
    qchunk_t *c = st->sc;
    size_t off = st->soff;
    while (c != NULL && k < n && total < enough) {
        if (c->len > off) {
            v[k].base = c->b + off;
            v[k].len = c->len - off;
            total += v[k].len;
            k++;
        }
        c = c->next;
        off = 0;
    }
    return k;
}

void
pn_quic_stream_sent(pn_quics_t *st, size_t n)
{
    st->unsent -= n;
    while (n > 0 && st->sc != NULL) {
        size_t room = st->sc->len - st->soff;
        size_t k = n < room ? n : room;
        st->soff += k;
        n -= k;
        if (st->soff == st->sc->len && st->sc->next != NULL) {
            st->sc = st->sc->next;
            st->soff = 0;
        }
    }
}

void
pn_quic_stream_acked(pn_quics_t *st, size_t n)
{
    st->held -= n < st->held ? n : st->held;
    if (n > 0)
        st->known = 1;          /* the peer has the stream: datagrams may name it */
    while (n > 0 && st->head != NULL) {
        qchunk_t *c = st->head;
        size_t k = c->len - st->ackoff < n ? c->len - st->ackoff : n;
        st->ackoff += k;
        n -= k;
        /* A full chunk acknowledged whole is sent whole: <sc> is past it. */
        if (st->ackoff == c->len && c->len == QUIC_CHUNK && st->sc != c) {
            st->head = c->next;
            if (st->tail == c)
                st->tail = NULL;
            st->ackoff = 0;
            pn_quic_chunk_put(st->q, c);
        } else if (k == 0) {
            break;
        }
    }
    if (st->owned)
        pn_xprt_wake(&st->base);
}

int
pn_quic_stream_recv(pn_quics_t *st, const uint8_t *data, size_t len, int fin)
{
    st->known = 1;
    if (fin)
        st->peer_eof = 1;
    if (len > 0 && st->owned) {
        if (st->rlen + len > PN_QUIC_STREAM_WINDOW_MAX)
            return -1;
        chunks_append(st->q, &st->rhead, &st->rtail, data, len);
        st->rlen += len;
    } else if (len > 0 && st->q->c != NULL) {
        /* Nobody reads (an orphan): the bytes are dropped, the window given
         * back, and the peer told to stop (once; ngtcp2 allows it here). */
        ngtcp2_conn_extend_max_stream_offset(st->q->c, st->sid, len);
        ngtcp2_conn_extend_max_offset(st->q->c, len);
        if (!st->orphan_rst) {
            st->orphan_rst = 1;
            ngtcp2_conn_shutdown_stream(st->q->c, st->sid, 0);
            pn_quic_sendq_del(st);
        }
    }
    if (st->owned)
        pn_xprt_wake(&st->base);
    return 0;
}

/* --- the transport's calls (the table is in quic_conn.c) -------------------- */

/* Why <st> can carry nothing more (reset, closed, its connection ended), or NULL. */
static const char *
stream_dead(const pn_quics_t *st)
{
    if (st->err != NULL)
        return st->err;
    if (st->q->fault != NULL)
        return st->q->fault;
    return st->closed ? "quic stream closed" : NULL;
}

ssize_t
pn_quic_stream_read(pn_xprt_t *x, void *buf, size_t len)
{
    pn_quics_t *st = (pn_quics_t *)x;
    if (st->rlen > 0) {
        size_t n = rq_take(st, buf, len);
        if (st->q->c != NULL && st->q->fault == NULL && st->sid >= 0) {
            ngtcp2_conn_extend_max_stream_offset(st->q->c, st->sid, n);
            ngtcp2_conn_extend_max_offset(st->q->c, n);
            pn_quic_schedule(st->q);
        }
        return (ssize_t)n;
    }
    if (st->peer_eof)
        return 0;
    if (stream_dead(st) != NULL) {
        x->err = stream_dead(st);
        return PN_ERR;
    }
    x->want = EV_RD;
    return PN_AGAIN;
}

ssize_t
pn_quic_stream_write(pn_xprt_t *x, const void *buf, size_t len)
{
    pn_quics_t *st = (pn_quics_t *)x;
    if (stream_dead(st) != NULL || st->wr_eof) {
        x->err = st->wr_eof ? "quic: write after shutdown" : stream_dead(st);
        return PN_ERR;
    }
    if (len == 0)
        return 0;
    if (st->sid < 0 || st->held >= PN_QUIC_SEND_MAX) {
        x->want = EV_WR;
        return PN_AGAIN;
    }
    size_t room = PN_QUIC_SEND_MAX - st->held;
    if (len > room)
        len = room;
    chunks_append(st->q, &st->head, &st->tail, buf, len);
    /* The next byte to send: in the first chunk, or past a chunk sent whole. */
    if (st->sc == NULL) {
        st->sc = st->head;
        st->soff = 0;
    } else if (st->soff == st->sc->len && st->sc->next != NULL) {
        st->sc = st->sc->next;
        st->soff = 0;
    }
    st->held += len;
    st->unsent += len;
    pn_quic_sendq_add(st);
    pn_quic_schedule(st->q);
    return (ssize_t)len;
}

int
pn_quic_stream_shutdown_wr(pn_xprt_t *x)
{
    pn_quics_t *st = (pn_quics_t *)x;
    if (st->wr_eof)
        return PN_OK;
    if (stream_dead(st) != NULL) {
        x->err = stream_dead(st);
        return PN_ERR;
    }
    st->wr_eof = 1;
    pn_quic_sendq_add(st);
    pn_quic_schedule(st->q);
    return PN_OK;       /* the FIN leaves with the next pump, after the bytes */
}

size_t
pn_quic_stream_pending(pn_xprt_t *x)
{
    return 0;           /* readiness is computed (qs_ready) */
}

int
pn_quic_stream_ready(pn_xprt_t *x)
{
    pn_quics_t *st = (pn_quics_t *)x;
    int dead = stream_dead(st) != NULL;
    int r = 0;
    if (st->rlen > 0 || st->peer_eof || dead || (st->dg_on && st->dgr.n > 0))
        r |= EV_RD;
    if (dead || st->wr_eof || (st->sid >= 0 && st->held < PN_QUIC_SEND_MAX))
        r |= EV_WR;
    return r;
}

int
pn_quic_stream_peek(pn_xprt_t *x)
{
    pn_quics_t *st = (pn_quics_t *)x;
    if (st->rlen > 0)
        return 1;
    if (st->peer_eof || stream_dead(st) != NULL)
        return 0;
    return PN_AGAIN;
}

