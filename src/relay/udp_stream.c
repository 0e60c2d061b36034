/* relay/udp_stream.c: the STREAM end of a UDP session, a data connection
 * carrying each datagram as a frame: a 2-byte big-endian length, then the
 * bytes. The connection is a transport watched for readiness
 * (pn_xprt_watch), so a stream without fd of its own serves as well as a
 * socket.
 *
 * A transport that carries datagrams beside its stream (ops->dgram_*, QUIC
 * DATAGRAM frames of type=1) takes each datagram that fits (dgram_max) as
 * one, unreliable and unordered as UDP; a larger one, or any while the
 * transport offers none, goes framed in the stream. Datagrams received beside
 * the stream are delivered as the stream's frames are.
 *
 * Frames towards it join the out batch while it keeps up (one write for a
 * read pass, udp.c); while it lags they wait in a queue bounded at
 * STREAM_OUT_MAX, past which datagrams are dropped and counted. Frames from
 * it are cut out of a pooled buffer read in bulk and delivered one by one.
 * It reaches its session (udp.c) only through the group's hooks (s->g->up). */
#include "relay/udp_priv.h"
#include "core/mem.h"

#include <string.h>

static void stream_update(udp_sess_t *s);
static void stream_flush(udp_sess_t *s);

/* Queue the frame <f> (<flen> bytes, or its unsent tail) behind what the
 * data connection has not taken yet. */
static void
stream_queue(struct ustream *st, const uint8_t *f, size_t flen)
{
    if (st->out_len + flen > st->out_cap) {
        size_t cap = st->out_cap ? st->out_cap : 4096;
        while (cap < st->out_len + flen)
            cap *= 2;
        st->out = xrealloc(st->out, cap);
        st->out_cap = cap;
    }
    memcpy(st->out + st->out_len, f, flen);
    st->out_len += flen;
}

/* Send one datagram down the data connection as a frame. While the connection
 * keeps up, the frame joins the out batch (one write for the read pass); while
 * it lags, the frame is queued, and a datagram that would queue past the bound
 * is dropped (the connection is that far behind). */
void
udp_stream_push(udp_sess_t *s, int to_exit, const uint8_t *d, size_t len)
{
    struct ustream *st = &s->st;
    size_t flen = 2 + len;

    if (len > UDP_DGRAM_MAX) {
        udp_count(s->g->c.drops, 1);
        return;
    }
    if (st->x->ops->dgram_send != NULL && len <= st->x->ops->dgram_max(st->x)) {
        int rc = st->x->ops->dgram_send(st->x, d, len);
        if (rc == PN_AGAIN)
            udp_count(s->g->c.drops, 1);
        else if (rc == PN_ERR)
            s->g->up->end(s, st->x->err ? st->x->err : "datagram refused");
        return;
    }
    if (udp_ob.s == s && udp_ob.to_exit == to_exit && udp_ob.stage_len + flen > STAGE_MAX)
        s->g->up->flush();            /* the batch is full: write it, then start another */
    if (udp_ob.s != s || udp_ob.to_exit != to_exit) {
        s->g->up->flush();
        if (s->dead)
            return;             /* the flush ended the session */
        if (st->out_len > 0) {
            /* Lagging: queue behind what waits, as far as the bound allows. */
            if (st->out_len + flen > STREAM_OUT_MAX) {
                udp_count(s->g->c.drops, 1);
                return;
            }
            uint8_t h[2] = { (uint8_t)(len >> 8), (uint8_t)len };
            stream_queue(st, h, 2);
            stream_queue(st, d, len);
            if (st->wwant == 0)
                stream_flush(s);
            stream_update(s);
            return;
        }
        udp_ob.s = s;
        udp_ob.to_exit = to_exit;
    }
    uint8_t *f = udp_scratch()->stage + udp_ob.stage_len;
    f[0] = (uint8_t)(len >> 8);
    f[1] = (uint8_t)len;
    memcpy(f + 2, d, len);
    udp_ob.stage_len += flen;
    if (udp_mmsg_on != 1)
        s->g->up->flush();            /* single-datagram path: one write per frame */
}

/* Write the frames of the out batch (<len> bytes at <f>) to <s>'s data
 * connection, which has nothing queued. What it does not take is queued as
 * the frame-by-frame path would have: the frame it cut, then each later frame
 * while the queue stays within its bound; the others are dropped. */
void
udp_stream_write_batch(udp_sess_t *s, const uint8_t *f, size_t len)
{
    struct ustream *st = &s->st;
    size_t off = 0;

    if (st->out_len == 0)
        st->wwant = 0;
    while (off < len && st->out_len == 0) {     /* never ahead of queued bytes */
        ssize_t n = st->x->ops->write(st->x, f + off, len - off);
        if (n == PN_ERR) {
            s->g->up->end(s, st->x->err ? st->x->err : "write failed");
            return;
        }
        if (n == PN_AGAIN) {
            st->wwant = st->x->want;
            break;
        }
        off += (size_t)n;
    }
    if (off == len)
        return;
    for (size_t p = 0; p < len; ) {
        size_t flen = 2 + ((size_t)f[p] << 8 | f[p + 1]);
        if (p + flen <= off) {
            ;                                       /* sent */
        } else if (p < off) {
            stream_queue(st, f + off, p + flen - off);  /* sent in part: the rest must follow */
        } else if (st->out_len + flen > STREAM_OUT_MAX) {
            udp_count(s->g->c.drops, 1);
        } else {
            stream_queue(st, f + p, flen);
        }
        p += flen;
    }
    stream_update(s);
}


/* Write what is queued, as far as the data connection takes it. */
static void
stream_flush(udp_sess_t *s)
{
    struct ustream *st = &s->st;
    st->wwant = 0;
    while (st->out_len > 0 && !s->dead) {
        ssize_t n = st->x->ops->write(st->x, st->out, st->out_len);
        if (n == PN_AGAIN) {
            st->wwant = st->x->want;
            return;
        }
        if (n < 0) {
            s->g->up->end(s, st->x->err ? st->x->err : "write failed");
            return;
        }
        memmove(st->out, st->out + n, st->out_len - (size_t)n);
        st->out_len -= (size_t)n;
    }
    if (st->out_len == 0) {
        /* Caught up: give the lag buffer back. */
        xfree(st->out);
        st->out_cap = 0;
    }
}

/* Deliver the datagrams the data connection received beside its stream. They
 * are copied into the scratch slots (nothing points there between read
 * passes), which the out batch may point into until it is flushed. */
static void
stream_dgrams(udp_sess_t *s)
{
    struct ustream *st = &s->st;
    uint8_t *area = &udp_scratch()->slot[0][0];
    size_t cap = sizeof(udp_sc->slot), off = 0;

    while (!s->dead) {
        if (cap - off < PN_XPRT_DGRAM_MAX) {
            s->g->up->flush();
            off = 0;
            continue;
        }
        ssize_t n = st->x->ops->dgram_recv(st->x, area + off, cap - off);
        if (n < 0)
            break;
        s->g->up->deliver(s, s->entry == END_STREAM, area + off, (size_t)n);
        off += (size_t)n;
    }
    s->g->up->flush();
}

/* Write queued frames, then read whole frames and deliver each; then the
 * datagrams received beside the stream. */
void
udp_stream_ready(pn_xprt_t *x, int ready, void *arg)
{
    udp_sess_t *s = arg;
    struct ustream *st = &s->st;

    stream_flush(s);
    /* Read in bulk and cut frames out of the buffer. Read until the connection
     * would block: TLS may hold decrypted bytes that no readiness of the socket
     * would announce again. */
    while (!s->dead) {
        if (st->in == NULL && (st->in = pn_buf_get()) == NULL)
            break;              /* buffers exhausted: the next readiness retries */
        pn_buf_t *b = st->in;
        ssize_t n = st->x->ops->read(st->x, b->data + b->end, PN_BUF_SIZE - b->end);
        if (n == PN_AGAIN)
            break;
        if (n <= 0) {
            s->g->up->end(s, n == 0 ? "closed by the tunnel" : (st->x->err ? st->x->err : "read failed"));
            return;
        }
        b->end += (uint32_t)n;
        while (!s->dead) {
            size_t avail = b->end - b->start;
            if (st->skip > 0) {
                size_t k = avail < st->skip ? avail : st->skip;
                b->start += (uint32_t)k;
                st->skip -= k;
                if (st->skip > 0)
                    break;
                continue;
            }
            if (avail < 2)
                break;
            size_t len = (size_t)(uint8_t)b->data[b->start] << 8 | (uint8_t)b->data[b->start + 1];
            if (2 + len > PN_BUF_SIZE) {
                /* Larger than any datagram a socket can carry: drop it. */
                udp_count(s->g->c.drops, 1);
                b->start += 2;
                st->skip = len;
                continue;
            }
            if (avail < 2 + len)
                break;
            /* The stream end is the exit when the entry is a peer, else the entry. */
            s->g->up->deliver(s, s->entry == END_STREAM, (const uint8_t *)b->data + b->start + 2, len);
            b->start += (uint32_t)(2 + len);
        }
        /* The batch points into <b>: send it before <b> moves or goes back. */
        s->g->up->flush();
        if (st->in == NULL)
            break;              /* freed under us: cannot happen while the session lives */
        if (b->start == b->end) {
            pn_buf_put(st->in);
        } else if (b->start > 0) {
            memmove(b->data, b->data + b->start, b->end - b->start);
            b->end -= b->start;
            b->start = 0;
        }
    }
    if (!s->dead && st->x->ops->dgram_recv != NULL)
        stream_dgrams(s);
    if (!s->dead)
        stream_update(s);
}

static void
stream_update(udp_sess_t *s)
{
    struct ustream *st = &s->st;
    if (s->dead)
        return;
    pn_xprt_watch(st->x, s->g->loop, EV_RD | st->wwant, udp_stream_ready, s);
}
