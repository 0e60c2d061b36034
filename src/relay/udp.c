/* relay/udp.c: UDP sessions over sockets and framed data connections. */
#include "relay/udp.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define UDP_BURST 64                /* datagrams read per readiness, for fairness */
#define STREAM_OUT_MAX (256 * 1024) /* framed bytes queued towards a data connection */
#define TABLE_BUCKETS 4096

enum end_kind {
    END_PEER = 0,               /* a user address on the table's socket */
    END_CONN,                   /* a connected UDP socket */
    END_STREAM,                 /* a framed data connection */
};

/* A framed data connection as one end of a session. */
struct ustream {
    pn_xprt_t *x;               /* owned */
    ev_io_t *io;                /* owned */
    pn_buf_t *in;               /* owned while a frame is partly read, else NULL */
    size_t skip;                /* bytes left of an oversized frame being discarded */
    uint8_t *out;               /* owned while the connection lags: framed datagrams */
    size_t out_len, out_cap;
    int wwant;                  /* readiness the pending write waits for, 0 if none */
};

struct udp_sess {
    pn_list_t node;             /* in group.live or group.dead */
    udp_sess_t *hnext;          /* table bucket chain */
    udp_group_t *g;             /* back pointer */
    udp_table_t *t;             /* the table of a PEER entry, else NULL */
    enum end_kind entry, exit;  /* PEER/STREAM -> CONN/STREAM */
    pn_addr_t peer;             /* PEER entry: the user */
    int pfd;                    /* PEER entry: owned socket connected to the user, or -1 */
    ev_io_t *pfd_io;            /* owned */
    int fd;                     /* CONN exit: owned, -1 otherwise */
    ev_io_t *fd_io;             /* owned */
    struct ustream st;          /* the STREAM end, if any */
    uint64_t last_ms;           /* last datagram either way */
    uint8_t hdr[64];            /* prepended to datagrams out of the CONN end */
    size_t hdr_len;
    ev_timer_t *idle;           /* owned */
    int dead;                   /* ended: waiting in group.dead to be freed */
};

struct udp_group {
    ev_loop_t *loop;            /* borrowed */
    uint64_t idle_ms;
    udp_counters_t c;           /* borrowed counters */
    pn_list_t live, dead;       /* udp_sess, owned */
    ev_defer_t *reap;           /* owned: frees the dead outside their callbacks */
};

struct udp_table {
    ev_loop_t *loop;            /* borrowed */
    int fd;                     /* owned: the listening socket */
    pn_addr_t local;            /* its address */
    ev_io_t *io;                /* owned */
    udp_group_t *g;             /* borrowed */
    udp_sess_t *buckets[TABLE_BUCKETS];
    udp_new_peer_cb cb;
    void *ctx;                  /* borrowed */
};

/* One loop per thread: one scratch buffer per thread for a received datagram,
 * with room in front for its frame header. */
static __thread uint8_t frame_scratch[2 + UDP_DGRAM_MAX + 1];
#define scratch (frame_scratch + 2)
#define SCRATCH_LEN (UDP_DGRAM_MAX + 1)

static void
count(uint64_t *c, uint64_t n)
{
    if (c != NULL)
        *c += n;
}

/* --- table ------------------------------------------------------------- */

static size_t
peer_hash(const pn_addr_t *a)
{
    const uint8_t *p = (const uint8_t *)&a->ss;
    uint32_t h = 2166136261u;
    for (socklen_t i = 0; i < a->len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % TABLE_BUCKETS;
}

static udp_sess_t *
table_find(udp_table_t *t, const pn_addr_t *peer)
{
    for (udp_sess_t *s = t->buckets[peer_hash(peer)]; s != NULL; s = s->hnext)
        if (pn_addr_equal(&s->peer, peer))
            return s;
    return NULL;
}

static void
table_unlink(udp_sess_t *s)
{
    if (s->t == NULL)
        return;
    udp_sess_t **pp = &s->t->buckets[peer_hash(&s->peer)];
    while (*pp != NULL && *pp != s)
        pp = &(*pp)->hnext;
    if (*pp == s)
        *pp = s->hnext;
    s->t = NULL;
}

/* --- sessions ---------------------------------------------------------- */

static void
sess_end(udp_sess_t *s, const char *why)
{
    char a[PN_ADDRSTRLEN];
    if (s->dead)
        return;
    s->dead = 1;
    if (s->entry == END_PEER)
        log_debug("udp: session %s ended: %s", pn_addr_str(&s->peer, a), why);
    else
        log_debug("udp: session ended: %s", why);
    table_unlink(s);
    if (s->fd_io != NULL)
        ev_io_set(s->fd_io, 0);
    if (s->pfd_io != NULL)
        ev_io_set(s->pfd_io, 0);
    if (s->st.io != NULL)
        ev_io_set(s->st.io, 0);
    ev_timer_disarm(s->idle);
    pn_list_del(&s->node);
    pn_list_add(&s->g->dead, &s->node);
    if (s->g->c.sessions != NULL)
        (*s->g->c.sessions)--;
    ev_defer_schedule(s->g->reap);
}

static void
sess_free(udp_sess_t *s)
{
    pn_list_del(&s->node);
    table_unlink(s);
    ev_io_free(s->fd_io);
    pn_close(s->fd);
    ev_io_free(s->pfd_io);
    pn_close(s->pfd);
    ev_io_free(s->st.io);
    pn_xprt_free(s->st.x);
    pn_buf_put(s->st.in);
    free(s->st.out);
    ev_timer_free(s->idle);
    free(s);
}

static void stream_update(udp_sess_t *s);
static void stream_flush(udp_sess_t *s);

/* Send one datagram down the data connection as a frame. The common case
 * writes it whole at once from the scratch buffer; what the connection does
 * not take is queued, and a datagram that would queue past the bound is
 * dropped (the connection is that far behind). */
static void
stream_push(udp_sess_t *s, const uint8_t *d, size_t len)
{
    struct ustream *st = &s->st;
    size_t flen = 2 + len, off = 0;
    uint8_t *f = frame_scratch;

    if (len > UDP_DGRAM_MAX || st->out_len + flen > STREAM_OUT_MAX) {
        count(s->g->c.drops, 1);
        return;
    }
    if (d != scratch)
        memmove(scratch, d, len);
    f[0] = (uint8_t)(len >> 8);
    f[1] = (uint8_t)len;
    if (st->out_len == 0) {
        ssize_t n = st->x->ops->write(st->x, f, flen);
        if (n == PN_ERR) {
            sess_end(s, st->x->err ? st->x->err : "write failed");
            return;
        }
        if (n == PN_AGAIN) {
            st->wwant = st->x->want;
        } else {
            off = (size_t)n;
            st->wwant = 0;
        }
        if (off == flen)
            return;
    }
    if (st->out_len + flen - off > st->out_cap) {
        size_t cap = st->out_cap ? st->out_cap : 4096;
        while (cap < st->out_len + flen - off)
            cap *= 2;
        st->out = xrealloc(st->out, cap);
        st->out_cap = cap;
    }
    memcpy(st->out + st->out_len, f + off, flen - off);
    st->out_len += flen - off;
    if (st->wwant == 0)
        stream_flush(s);
    stream_update(s);
}

/* Send one datagram out of the exit end (from the entry) or the entry end
 * (from the exit). */
static void
deliver(udp_sess_t *s, int to_exit, const uint8_t *d, size_t len)
{
    enum end_kind k = to_exit ? s->exit : s->entry;
    ssize_t n;

    s->last_ms = pn_now_ms();
    if (s->g->c.limit != NULL && !pn_bucket_take_all(s->g->c.limit, len, pn_now_us())) {
        count(s->g->c.drops, 1);            /* over the bandwidth: policed */
        return;
    }
    if (to_exit)
        count(s->g->c.rx, len);
    switch (k) {
    case END_STREAM:
        stream_push(s, d, len);
        break;
    case END_CONN:
        if (s->hdr_len > 0) {
            struct iovec iov[2] = { { s->hdr, s->hdr_len }, { (void *)d, len } };
            struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
            n = sendmsg(s->fd, &m, MSG_NOSIGNAL);
        } else {
            n = send(s->fd, d, len, MSG_NOSIGNAL);
        }
        if (n == -1) {
            if (errno == ECONNREFUSED) {
                sess_end(s, "target unreachable");
                return;
            }
            count(s->g->c.drops, 1);
        }
        break;
    case END_PEER:
        if (s->pfd != -1)
            n = send(s->pfd, d, len, MSG_NOSIGNAL);
        else
            n = sendto(s->t ? s->t->fd : -1, d, len, MSG_NOSIGNAL,
                       (const struct sockaddr *)&s->peer.ss, s->peer.len);
        if (n == -1)
            count(s->g->c.drops, 1);
        break;
    }
    if (!to_exit)
        count(s->g->c.tx, len);
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
            sess_end(s, st->x->err ? st->x->err : "write failed");
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

/* Write queued frames, then read whole frames and deliver each. */
static void
stream_io(int fd, int ready, void *arg)
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
            sess_end(s, n == 0 ? "closed by the tunnel" : (st->x->err ? st->x->err : "read failed"));
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
                count(s->g->c.drops, 1);
                b->start += 2;
                st->skip = len;
                continue;
            }
            if (avail < 2 + len)
                break;
            /* The stream end is the exit when the entry is a peer, else the entry. */
            deliver(s, s->entry == END_STREAM, (const uint8_t *)b->data + b->start + 2, len);
            b->start += (uint32_t)(2 + len);
        }
        if (b->start == b->end) {
            pn_buf_put(st->in);
        } else if (b->start > 0) {
            memmove(b->data, b->data + b->start, b->end - b->start);
            b->end -= b->start;
            b->start = 0;
        }
    }
    if (!s->dead)
        stream_update(s);
}

static void
stream_update(udp_sess_t *s)
{
    struct ustream *st = &s->st;
    if (s->dead)
        return;
    ev_io_set(st->io, EV_RD | st->wwant);
}

/* The connected socket towards the target is readable: replies. */
static void
conn_io(int fd, int ready, void *arg)
{
    udp_sess_t *s = arg;
    for (int i = 0; i < UDP_BURST && !s->dead; i++) {
        ssize_t n = recv(fd, scratch, SCRATCH_LEN, 0);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            sess_end(s, errno == ECONNREFUSED ? "target unreachable" : strerror(errno));
            return;
        }
        deliver(s, 0, scratch, (size_t)n);
    }
}

static void table_dispatch(udp_table_t *t, const pn_addr_t *peer, size_t n);

/* The user's own connected socket is readable: its datagrams. Between its
 * bind() and its connect() the socket was an unconnected member of the
 * listening address's SO_REUSEPORT group, so the kernel may have queued
 * another user's datagram on it then: check each source and hand strangers to
 * the table, as if they had arrived on the listening socket. */
static void
peer_io(int fd, int ready, void *arg)
{
    udp_sess_t *s = arg;
    for (int i = 0; i < UDP_BURST && !s->dead; i++) {
        pn_addr_t from;
        from.len = sizeof(from.ss);
        ssize_t n = recvfrom(fd, scratch, SCRATCH_LEN, 0, (struct sockaddr *)&from.ss, &from.len);
        if (n == -1)
            return;             /* EAGAIN, or an ICMP error for a reply: nothing to do */
        if (pn_addr_equal(&from, &s->peer))
            deliver(s, 1, scratch, (size_t)n);
        else if (s->t != NULL)
            table_dispatch(s->t, &from, (size_t)n);
    }
}

static long
on_idle(ev_timer_t *t, void *arg)
{
    udp_sess_t *s = arg;
    uint64_t idle = pn_now_ms() - s->last_ms;
    if (idle >= s->g->idle_ms) {
        sess_end(s, "idle");
        return EV_TIMER_STOP;
    }
    return (long)(s->g->idle_ms - idle);
}

static udp_sess_t *
sess_new(udp_group_t *g, int fd, pn_xprt_t *x)
{
    udp_sess_t *s = xcalloc(sizeof(*s));
    s->g = g;
    s->fd = fd;
    s->pfd = -1;
    s->last_ms = pn_now_ms();
    if (fd != -1) {
        s->fd_io = ev_io_new(g->loop, fd, conn_io, s);
        ev_io_set(s->fd_io, EV_RD);
    }
    if (x != NULL) {
        s->st.x = x;
        s->st.io = ev_io_new(g->loop, x->fd, stream_io, s);
        ev_io_set(s->st.io, EV_RD);
    }
    s->idle = ev_timer_new(g->loop, on_idle, s);
    ev_timer_arm(s->idle, g->idle_ms);
    pn_list_add(&g->live, &s->node);
    if (g->c.sessions != NULL)
        (*g->c.sessions)++;
    return s;
}

udp_sess_t *
udp_sess_new_peer(udp_table_t *t, const pn_addr_t *peer, int fd, pn_xprt_t *x)
{
    udp_sess_t *s = sess_new(t->g, fd, x);
    s->entry = END_PEER;
    s->exit = x != NULL ? END_STREAM : END_CONN;
    s->peer = *peer;
    s->t = t;
    s->pfd = pn_udp_peer_socket(t->fd, peer);
    if (s->pfd != -1) {
        s->pfd_io = ev_io_new(t->loop, s->pfd, peer_io, s);
        ev_io_set(s->pfd_io, EV_RD);
    }
    size_t b = peer_hash(peer);
    s->hnext = t->buckets[b];
    t->buckets[b] = s;
    return s;
}

udp_sess_t *
udp_sess_new_stream(udp_group_t *g, pn_xprt_t *x, int fd, const uint8_t *hdr, size_t hdr_len)
{
    udp_sess_t *s = sess_new(g, fd, x);
    s->entry = END_STREAM;
    s->exit = END_CONN;
    udp_sess_set_header(s, hdr, hdr_len);
    /* Bytes may already wait, read or decrypted, behind the data connection. */
    stream_io(x->fd, EV_RD, s);
    return s;
}

void
udp_sess_set_header(udp_sess_t *s, const uint8_t *hdr, size_t len)
{
    s->hdr_len = len <= sizeof(s->hdr) ? len : 0;
    memcpy(s->hdr, hdr, s->hdr_len);
}

const pn_addr_t *
udp_table_local(const udp_table_t *t)
{
    return &t->local;
}

void
udp_sess_from_entry(udp_sess_t *s, const uint8_t *d, size_t len)
{
    if (!s->dead)
        deliver(s, 1, d, len);
}

/* --- groups ------------------------------------------------------------ */

static void
on_reap(void *arg)
{
    udp_group_t *g = arg;
    while (!pn_list_empty(&g->dead))
        sess_free(pn_container_of(g->dead.next, udp_sess_t, node));
}

udp_group_t *
udp_group_new(ev_loop_t *loop, uint64_t idle_ms, const udp_counters_t *c)
{
    udp_group_t *g = xcalloc(sizeof(*g));
    g->loop = loop;
    g->idle_ms = idle_ms;
    if (c != NULL)
        g->c = *c;
    pn_list_init(&g->live);
    pn_list_init(&g->dead);
    g->reap = ev_defer_new(loop, on_reap, g);
    return g;
}

void
udp_group_close_all(udp_group_t *g)
{
    while (!pn_list_empty(&g->live))
        sess_end(pn_container_of(g->live.next, udp_sess_t, node), "closed");
}

void
udp_group_free_(udp_group_t *g)
{
    if (g == NULL)
        return;
    udp_group_close_all(g);
    on_reap(g);
    ev_defer_free(g->reap);
    free(g);
}

/* --- table ------------------------------------------------------------- */

static void
table_io(int fd, int ready, void *arg)
{
    udp_table_t *t = arg;
    for (int i = 0; i < UDP_BURST; i++) {
        pn_addr_t peer;
        peer.len = sizeof(peer.ss);
        ssize_t n = recvfrom(fd, scratch, SCRATCH_LEN, 0, (struct sockaddr *)&peer.ss,
                             &peer.len);
        if (n == -1)
            return;             /* EAGAIN, or an ICMP error for an earlier reply: nothing to do */
        table_dispatch(t, &peer, (size_t)n);
    }
}

/* A datagram of <n> bytes in the scratch buffer from <peer>: to its session,
 * or to the owner to start one. */
static void
table_dispatch(udp_table_t *t, const pn_addr_t *peer, size_t n)
{
    udp_sess_t *s = table_find(t, peer);
    if (s != NULL)
        deliver(s, 1, scratch, n);
    else
        t->cb(t, peer, scratch, n, t->ctx);
}

udp_table_t *
udp_table_new(ev_loop_t *loop, int fd, udp_group_t *g, udp_new_peer_cb cb, void *ctx)
{
    udp_table_t *t = xcalloc(sizeof(*t));
    t->loop = loop;
    t->fd = fd;
    t->g = g;
    t->cb = cb;
    t->ctx = ctx;
    t->local.len = sizeof(t->local.ss);
    if (getsockname(fd, (struct sockaddr *)&t->local.ss, &t->local.len) == -1)
        memset(&t->local, 0, sizeof(t->local));
    t->io = ev_io_new(loop, fd, table_io, t);
    ev_io_set(t->io, EV_RD);
    return t;
}

void
udp_table_free_(udp_table_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < TABLE_BUCKETS; i++)
        for (udp_sess_t *s = t->buckets[i]; s != NULL; s = s->hnext)
            s->t = NULL;
    ev_io_free(t->io);
    pn_close(t->fd);
    free(t);
}
