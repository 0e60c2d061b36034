/* tls/quic_dgram.c: QUIC DATAGRAM frames (RFC 9221) for the UDP sessions of
 * type=1 (see quic.h): each frame's payload is the stream id of the session
 * as a QUIC varint, then one UDP datagram. Unreliable and unordered, as UDP:
 * never sent again when lost, dropped (and counted) when the queue is full or
 * a frame waited QUIC_DGRAM_TTL_MS for the congestion window.
 *
 *   owner --dgram_send--> stream.dgs --pump (pn_quic_dgram_write, streams in turns)--> ngtcp2
 *                                                                               --> UDP
 *   owner <--dgram_recv-- stream.dgr <--recv_datagram (by id: conn.byid)-- ngtcp2
 *
 * A stream offers datagrams (dgram_max > 0) once the peer announced
 * max_datagram_frame_size and has the stream (it acknowledged some of its
 * bytes, sent some, or opened it): a frame naming a stream the peer does not
 * know yet would be dropped there. */
#include "core/bucket.h"
#include "core/log.h"
#include "core/mem.h"
#include "tls/quic_priv.h"

#include <stdlib.h>
#include <string.h>

static pn_quic_dgram_stats_t counts;    /* this process's, read by the metrics */

static void
count(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

void
pn_quic_dgram_stats(pn_quic_dgram_stats_t *out)
{
    out->sent = __atomic_load_n(&counts.sent, __ATOMIC_RELAXED);
    out->received = __atomic_load_n(&counts.received, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n(&counts.dropped, __ATOMIC_RELAXED);
}

int
pn_quic_dgram_parse(const uint8_t *p, size_t n, int64_t *sid)
{
    if (n == 0)
        return -1;
    size_t len = (size_t)1 << (p[0] >> 6);
    if (len > n)
        return -1;
    uint64_t v = p[0] & 0x3f;
    for (size_t i = 1; i < len; i++)
        v = v << 8 | p[i];
    if ((v & 2) != 0)
        return -1;              /* a unidirectional id: no session has one */
    *sid = (int64_t)v;
    return (int)len;
}

/* Write <v> (< 2^62) as a QUIC varint at <p>; its length. */
static size_t
varint_put(uint8_t *p, uint64_t v)
{
    size_t len = v < 64 ? 1 : v < 16384 ? 2 : v < (1u << 30) ? 4 : 8;
    for (size_t i = len; i-- > 0; v >>= 8)
        p[i] = (uint8_t)v;
    p[0] |= (uint8_t)((len == 1 ? 0 : len == 2 ? 1 : len == 4 ? 2 : 3) << 6);
    return len;
}

/* --- queues and the index of streams by id ----------------------------------- */

static void
dgq_push(qdq_t *dq, qdgram_t *d)
{
    d->next = NULL;
    if (dq->tail != NULL)
        dq->tail->next = d;
    else
        dq->head = d;
    dq->tail = d;
    dq->n++;
}

static void
dgq_pop(qdq_t *dq)
{
    qdgram_t *d = dq->head;
    dq->head = d->next;
    if (dq->head == NULL)
        dq->tail = NULL;
    dq->n--;
    free(d);
}

void
pn_quic_dgq_clear(qdq_t *dq)
{
    while (dq->head != NULL)
        dgq_pop(dq);
}

static size_t
sid_bucket(int64_t sid)
{
    return (size_t)(sid >> 2) % QUIC_SID_BUCKETS;
}

void
pn_quic_sid_add(pn_quics_t *st)
{
    pn_quics_t **b = &st->q->byid[sid_bucket(st->sid)];
    st->hnext = *b;
    *b = st;
}

void
pn_quic_sid_del(pn_quics_t *st)
{
    if (st->sid < 0)
        return;
    for (pn_quics_t **p = &st->q->byid[sid_bucket(st->sid)]; *p != NULL; p = &(*p)->hnext) {
        if (*p == st) {
            *p = st->hnext;
            return;
        }
    }
}

static pn_quics_t *
sid_find(pn_quic_conn_t *q, int64_t sid)
{
    for (pn_quics_t *st = q->byid[sid_bucket(sid)]; st != NULL; st = st->hnext)
        if (st->sid == sid)
            return st;
    return NULL;
}

/* --- receiving ------------------------------------------------------------------ */

void
pn_quic_dgram_input(pn_quic_conn_t *q, const uint8_t *data, size_t len)
{
    int64_t sid;
    int h = pn_quic_dgram_parse(data, len, &sid);
    if (h >= 0 && len - (size_t)h > PN_XPRT_DGRAM_MAX)
        h = -1;                 /* over what we announced (ngtcp2 refuses it first) */
    pn_quics_t *st = h < 0 ? NULL : sid_find(q, sid);
    if (st == NULL || !st->owned || st->closed || st->err != NULL ||
        st->dgr.n >= QUIC_DGRAM_RECVQ) {
        log_debug("quic: datagram dropped (%s)", h < 0 ? "malformed" : st == NULL ? "unknown stream"
                  : st->dgr.n >= QUIC_DGRAM_RECVQ ? "queue full" : "stream ended");
        count(&counts.dropped);
        return;
    }
    size_t n = len - (size_t)h;
    qdgram_t *d = xmalloc(sizeof(*d) + n);
    d->t = 0;
    d->len = n;
    memcpy(d->b, data + h, n);
    dgq_push(&st->dgr, d);
    count(&counts.received);
    if (st->dg_on)
        pn_xprt_wake(&st->base);
}

int
pn_quic_cb_recv_datagram(ngtcp2_conn *c, uint32_t flags, const uint8_t *data, size_t len, void *ud)
{
    pn_quic_dgram_input(ud, data, len);
    return 0;
}

/* --- the stream's calls (ops->dgram_*) ------------------------------------------ */

size_t
pn_quic_stream_dgram_max(pn_xprt_t *x)
{
    pn_quics_t *st = (pn_quics_t *)x;
    pn_quic_conn_t *q = st->q;
    if (!st->dg_on) {
        st->dg_on = 1;
        if (st->dgr.n > 0)
            pn_xprt_wake(x);
    }
    if (st->sid < 0 || !st->known || st->closed || st->err != NULL || q->fault != NULL ||
        q->c == NULL || !q->handshake_done)
        return 0;
    const ngtcp2_transport_params *rp = ngtcp2_conn_get_remote_transport_params(q->c);
    if (rp == NULL || rp->max_datagram_frame_size <= 3)
        return 0;               /* an older peer: no DATAGRAM frames */
    /* The frame (type, 2-byte length, payload) within what the peer takes, and
     * within one packet of the path's size. */
    size_t lim = rp->max_datagram_frame_size - 3;
    size_t path = ngtcp2_conn_get_path_max_tx_udp_payload_size(q->c);
    if (path > QUIC_PKT_MAX)
        path = QUIC_PKT_MAX;
    if (path < QUIC_DGRAM_OVERHEAD)
        return 0;
    if (lim > path - QUIC_DGRAM_OVERHEAD)
        lim = path - QUIC_DGRAM_OVERHEAD;
    uint8_t v[8];
    size_t hl = varint_put(v, (uint64_t)st->sid);
    return lim > hl ? lim - hl : 0;
}

int
pn_quic_stream_dgram_send(pn_xprt_t *x, const void *buf, size_t len)
{
    pn_quics_t *st = (pn_quics_t *)x;
    pn_quic_conn_t *q = st->q;
    if (pn_quic_stream_dgram_max(x) < len) {
        x->err = "quic: datagram too large or not possible";
        return PN_ERR;
    }
    if (st->dgs.n >= QUIC_DGRAM_SENDQ) {
        count(&counts.dropped);
        return PN_AGAIN;
    }
    qdgram_t *d = xmalloc(sizeof(*d) + 8 + len);
    d->t = pn_now_us();
    d->len = varint_put(d->b, (uint64_t)st->sid);
    memcpy(d->b + d->len, buf, len);
    d->len += len;
    dgq_push(&st->dgs, d);
    if (pn_list_empty(&st->dsq))
        pn_list_add(&q->dgsendq, &st->dsq);
    pn_quic_schedule(q);
    return PN_OK;
}

ssize_t
pn_quic_stream_dgram_recv(pn_xprt_t *x, void *buf, size_t cap)
{
    pn_quics_t *st = (pn_quics_t *)x;
    while (st->dgr.head != NULL) {
        qdgram_t *d = st->dgr.head;
        size_t n = d->len;
        if (n <= cap) {
            memcpy(buf, d->b, n);
            dgq_pop(&st->dgr);
            return (ssize_t)n;
        }
        count(&counts.dropped);     /* no room for it: the owner asked for less than PN_XPRT_DGRAM_MAX */
        dgq_pop(&st->dgr);
    }
    x->want = EV_RD;
    return PN_AGAIN;
}

/* --- sending (the pump) ------------------------------------------------------------ */

/* Take the head frame of <st> off; <st> leaves the turns when it has no more,
 * else (when <next>) it goes to the tail of them. */
static void
dgs_pop(pn_quics_t *st, int next)
{
    dgq_pop(&st->dgs);
    if (st->dgs.n == 0 || next) {
        pn_list_del(&st->dsq);
        if (st->dgs.n > 0)
            pn_list_add(&st->q->dgsendq, &st->dsq);
    }
}

ngtcp2_ssize
pn_quic_dgram_write(pn_quic_conn_t *q, ngtcp2_path *path, ngtcp2_pkt_info *pi, uint8_t *buf,
                    size_t max, ngtcp2_tstamp ts)
{
    uint64_t now = pn_now_us();
    while (!pn_list_empty(&q->dgsendq)) {
        pn_quics_t *st = pn_container_of(q->dgsendq.next, pn_quics_t, dsq);
        qdgram_t *d = st->dgs.head;
        if (now - d->t > QUIC_DGRAM_TTL_MS * 1000) {
            count(&counts.dropped);     /* waited too long for the congestion window */
            dgs_pop(st, 0);
            continue;
        }
        int acc = 0;
        ngtcp2_vec v = { d->b, d->len };
        ngtcp2_ssize n = ngtcp2_conn_writev_datagram(q->c, path, pi, buf, max, &acc,
                                                     NGTCP2_WRITE_DATAGRAM_FLAG_MORE, 0, &v, 1, ts);
        if (acc) {
            count(&counts.sent);
            dgs_pop(st, 1);             /* the streams take turns */
        } else if (n == NGTCP2_ERR_INVALID_ARGUMENT || n == NGTCP2_ERR_INVALID_STATE) {
            count(&counts.dropped);     /* over what the peer takes */
            dgs_pop(st, 0);
            continue;
        }
        return n;
    }
    return 0;
}
