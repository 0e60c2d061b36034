/* relay/udp.c: UDP sessions over sockets and framed data connections. */
#include "relay/udp.h"
#include "core/log.h"
#include "core/mem.h"
#include "net/sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

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
    uint8_t *in;                /* owned: the frame being read, grown to its size */
    size_t in_len, in_cap;
    uint8_t *out;               /* owned: framed datagrams waiting to be written */
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
    int fd;                     /* CONN exit: owned, -1 otherwise */
    ev_io_t *fd_io;             /* owned */
    struct ustream st;          /* the STREAM end, if any */
    uint64_t last_ms;           /* last datagram either way */
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
    ev_io_t *io;                /* owned */
    udp_group_t *g;             /* borrowed */
    udp_sess_t *buckets[TABLE_BUCKETS];
    udp_new_peer_cb cb;
    void *ctx;                  /* borrowed */
};

/* One loop per thread: one scratch buffer per thread for received datagrams. */
static __thread uint8_t scratch[UDP_DGRAM_MAX + 1];

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
    ev_io_free(s->st.io);
    pn_xprt_free(s->st.x);
    free(s->st.in);
    free(s->st.out);
    ev_timer_free(s->idle);
    free(s);
}

static void stream_update(udp_sess_t *s);
static void stream_flush(udp_sess_t *s);

/* Queue one framed datagram towards the data connection; drop it when the
 * connection is that far behind. */
static void
stream_push(udp_sess_t *s, const uint8_t *d, size_t len)
{
    struct ustream *st = &s->st;
    if (len > UDP_DGRAM_MAX || st->out_len + 2 + len > STREAM_OUT_MAX) {
        count(s->g->c.drops, 1);
        return;
    }
    if (st->out_len + 2 + len > st->out_cap) {
        size_t cap = st->out_cap ? st->out_cap : 4096;
        while (cap < st->out_len + 2 + len)
            cap *= 2;
        st->out = xrealloc(st->out, cap);
        st->out_cap = cap;
    }
    st->out[st->out_len] = (uint8_t)(len >> 8);
    st->out[st->out_len + 1] = (uint8_t)len;
    memcpy(st->out + st->out_len + 2, d, len);
    st->out_len += 2 + len;
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
    if (to_exit)
        count(s->g->c.rx, len);
    switch (k) {
    case END_STREAM:
        stream_push(s, d, len);
        break;
    case END_CONN:
        n = send(s->fd, d, len, MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == ECONNREFUSED) {
                sess_end(s, "target unreachable");
                return;
            }
            count(s->g->c.drops, 1);
        }
        break;
    case END_PEER:
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
}

/* Write queued frames, then read whole frames and deliver each. */
static void
stream_io(int fd, int ready, void *arg)
{
    udp_sess_t *s = arg;
    struct ustream *st = &s->st;

    stream_flush(s);
    /* Read until the connection would block: TLS may hold decrypted frames that
     * no readiness of the socket would announce again. */
    while (!s->dead) {
        size_t need = st->in_len < 2 ? 2 : 2 + ((size_t)st->in[0] << 8 | st->in[1]);
        if (need > st->in_cap) {
            st->in = xrealloc(st->in, need < 2048 ? 2048 : need);
            st->in_cap = need < 2048 ? 2048 : need;
        }
        ssize_t n = st->x->ops->read(st->x, st->in + st->in_len, need - st->in_len);
        if (n == PN_AGAIN)
            break;
        if (n <= 0) {
            sess_end(s, n == 0 ? "closed by the tunnel" : (st->x->err ? st->x->err : "read failed"));
            return;
        }
        st->in_len += (size_t)n;
        if (st->in_len < 2)
            continue;
        size_t len = (size_t)st->in[0] << 8 | st->in[1];
        if (st->in_len < 2 + len)
            continue;
        st->in_len = 0;
        /* The stream end is the exit when the entry is a peer, else the entry. */
        deliver(s, s->entry == END_STREAM, st->in + 2, len);
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
        ssize_t n = recv(fd, scratch, sizeof(scratch), 0);
        if (n == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            sess_end(s, errno == ECONNREFUSED ? "target unreachable" : strerror(errno));
            return;
        }
        deliver(s, 0, scratch, (size_t)n);
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
    size_t b = peer_hash(peer);
    s->hnext = t->buckets[b];
    t->buckets[b] = s;
    return s;
}

udp_sess_t *
udp_sess_new_stream(udp_group_t *g, pn_xprt_t *x, int fd)
{
    udp_sess_t *s = sess_new(g, fd, x);
    s->entry = END_STREAM;
    s->exit = END_CONN;
    /* Bytes may already wait, read or decrypted, behind the data connection. */
    stream_io(x->fd, EV_RD, s);
    return s;
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
        ssize_t n = recvfrom(fd, scratch, sizeof(scratch), 0, (struct sockaddr *)&peer.ss,
                             &peer.len);
        if (n == -1)
            return;             /* EAGAIN, or an ICMP error for an earlier reply: nothing to do */
        udp_sess_t *s = table_find(t, &peer);
        if (s != NULL)
            deliver(s, 1, scratch, (size_t)n);
        else
            t->cb(t, &peer, scratch, (size_t)n, t->ctx);
    }
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
